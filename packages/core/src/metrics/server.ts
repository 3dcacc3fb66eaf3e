import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TrackpipeError, describeError } from '../errors.js';
import type { MetricsRegistry } from './instrument.js';

/** Options of {@link metricsHandler}. */
export interface MetricsHandlerOptions {
  /** Answer only this path (query strings ignored), 404 elsewhere. Default: answer every path. */
  path?: string;
}

/** A `node:http` request listener. */
export type RequestListener = (request: IncomingMessage, response: ServerResponse) => void;

/**
 * A `node:http` request handler that serves `registry` in its exposition format (the content type
 * comes from the registry). GET and HEAD only; other methods get 405.
 */
export function metricsHandler(registry: MetricsRegistry, options: MetricsHandlerOptions = {}): RequestListener {
  const { path } = options;
  return (request, response) => {
    if (path !== undefined) {
      const url = request.url ?? '/';
      const q = url.indexOf('?');
      if ((q < 0 ? url : url.slice(0, q)) !== path) {
        response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
        return;
      }
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('method not allowed\n');
      return;
    }
    registry.metrics().then(
      (text) => {
        response.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
        response.end(request.method === 'HEAD' ? undefined : text);
      },
      () => {
        response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics collection failed\n');
      },
    );
  };
}

/** Options of {@link startMetricsServer}. */
export interface MetricsServerOptions {
  /** The registry to serve. Required. */
  registry: MetricsRegistry;
  /** Interface to listen on. Default `"127.0.0.1"` (not reachable from other hosts). */
  host?: string;
  /** Port to listen on; 0 picks a free one. Default 9464 (the Prometheus exporter port OpenTelemetry uses). */
  port?: number;
  /** Path that serves the metrics; other paths get 404. Default `"/metrics"`. */
  path?: string;
}

/** A running metrics server. */
export interface MetricsServer {
  /** The address it listens on. */
  readonly host: string;
  /** The port it listens on (the real one when 0 was asked for). */
  readonly port: number;
  /** Full URL of the metrics path, e.g. `http://127.0.0.1:9464/metrics`. */
  readonly url: string;
  /** Stops listening and ends open connections. Idempotent. */
  close(): Promise<void>;
}

/** Starts a `node:http` server that serves `registry` at `path`. Resolves once it listens. */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 9464;
  const path = options.path ?? '/metrics';
  const server = createServer(metricsHandler(options.registry, { path }));
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void =>
      reject(
        new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', `metrics server could not listen on ${host}:${port}: ${describeError(error)}`, {
          cause: error,
        }),
      );
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  // A listening server reports socket trouble per connection; keep a stray 'error' from crashing the process.
  server.on('error', () => undefined);
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' || address.address.includes(':') ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    host: address.address,
    port: address.port,
    url: `http://${urlHost}:${address.port}${path}`,
    close: () => (closing ??= closeServer(server)),
  };
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
