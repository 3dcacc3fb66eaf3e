import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import zlib, { gunzipSync } from 'node:zlib';

/** zstd decompression, on Node.js versions that have it (22.15+). */
const zstdDecompressSync = (zlib as unknown as { zstdDecompressSync?: (body: Buffer) => Buffer }).zstdDecompressSync;

/** One request as the server received it, body already decompressed (gzip, zstd) when it came compressed. */
export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: http.IncomingHttpHeaders;
  /** The decoded body. */
  readonly body: Buffer;
  /** Bytes on the wire (before decompression). */
  readonly wireBytes: number;
  /** Which connection carried it (1, 2, ... in accept order). */
  readonly connection: number;
  /** The body as text. */
  text(): string;
  /** The body parsed as JSON. */
  json(): unknown;
}

/** What the handler wants done with a request. */
export type Reply =
  | { status: number; headers?: Record<string, string>; body?: string }
  /** Close the connection without answering (the client sees a reset / "socket hang up"). */
  | { destroy: true }
  /** Never answer; the connection stays open until the client gives up or the server stops. */
  | { hang: true };

export type Handler = (request: ReceivedRequest) => Reply | Promise<Reply>;

/** Options of {@link TestServer.start}. */
export interface TestServerOptions {
  /** Answers every request. Default: 200 with an empty body. Replaceable later through `handler`. */
  handler?: Handler;
  /** Port to listen on (0: any free port). */
  port?: number;
  /** Serve HTTPS with these options instead of HTTP. */
  tls?: https.ServerOptions;
}

/**
 * A real `node:http` (or `node:https`) server on 127.0.0.1 for exporter tests: records every request,
 * counts connections, answers through a replaceable handler (status, reset, hang), and can be stopped
 * and restarted on the same port to simulate an outage.
 */
export class TestServer {
  /** Every request received, in order (including those answered with an error, reset or hang). */
  readonly requests: ReceivedRequest[] = [];
  /** Connections accepted since start (not reset by restart). */
  connections = 0;
  /** Requests whose connection the client closed before the server answered (aborted by the client). */
  clientAborts = 0;
  handler: Handler;
  readonly #options: TestServerOptions;
  readonly #sockets = new Set<Socket>();
  #server: http.Server | undefined;
  #port = 0;

  private constructor(options: TestServerOptions) {
    this.#options = options;
    this.handler = options.handler ?? (() => ({ status: 200 }));
  }

  /** Starts a server on 127.0.0.1. */
  static async start(options: TestServerOptions = {}): Promise<TestServer> {
    const server = new TestServer(options);
    await server.#listen(options.port ?? 0);
    return server;
  }

  get port(): number {
    return this.#port;
  }

  /** Base URL, e.g. `http://127.0.0.1:40123`. */
  get origin(): string {
    return `${this.#options.tls ? 'https' : 'http'}://127.0.0.1:${this.#port}`;
  }

  /** A URL on this server. */
  url(path = '/ingest'): string {
    return `${this.origin}${path}`;
  }

  /** Connections open right now. */
  get openConnections(): number {
    return this.#sockets.size;
  }

  get listening(): boolean {
    return this.#server !== undefined;
  }

  /** Stops listening and destroys every open connection (the port then refuses connections). */
  async stop(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
    await closed;
  }

  /** Listens again on the same port. */
  async restart(): Promise<void> {
    if (this.#server !== undefined) return;
    await this.#listen(this.#port);
  }

  async #listen(port: number): Promise<void> {
    const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => void this.#onRequest(req, res);
    const server = this.#options.tls ? https.createServer(this.#options.tls, onRequest) : http.createServer(onRequest);
    // Raw TCP sockets, tracked so that stop() can destroy them (TLS handshakes in progress included).
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    // Counted once the connection can carry requests (after the handshake for TLS).
    server.on(this.#options.tls ? 'secureConnection' : 'connection', (socket: Socket) => {
      this.connections++;
      (socket as Socket & { testId?: number }).testId = this.connections;
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  async #onRequest(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of req) chunks.push(chunk as Buffer);
    } catch {
      return; // the client went away mid-body
    }
    const raw = Buffer.concat(chunks);
    const encoding = req.headers['content-encoding'];
    let body: Buffer = raw;
    if (encoding === 'gzip') body = gunzipSync(raw);
    else if (encoding === 'zstd') {
      if (zstdDecompressSync === undefined) throw new Error('a zstd body on a Node.js without zstd');
      body = zstdDecompressSync(raw);
    }
    const request: ReceivedRequest = {
      method: req.method ?? '',
      path: req.url ?? '',
      headers: req.headers,
      body,
      wireBytes: raw.byteLength,
      connection: (req.socket as Socket & { testId?: number }).testId ?? 0,
      text: () => body.toString('utf8'),
      json: () => JSON.parse(body.toString('utf8')) as unknown,
    };
    this.requests.push(request);
    let answered = false;
    res.on('close', () => {
      if (!answered && !res.writableFinished) this.clientAborts++;
    });
    const reply = await this.handler(request);
    if ('destroy' in reply) {
      answered = true;
      req.socket.destroy();
      return;
    }
    if ('hang' in reply) return;
    answered = true;
    res.writeHead(reply.status, reply.headers);
    res.end(reply.body);
  }
}

/** A refused port: one a server just listened on and released. */
export async function refusedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A small seeded PRNG (mulberry32): reproducible failure schedules. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Waits until `condition()` holds, polling; fails after `timeoutMs`. */
export async function waitFor(condition: () => boolean, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
