import { constants, isUtf8 } from 'node:buffer';
import { type IncomingMessage, STATUS_CODES, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { TrackpipeError, describeError } from '@trackpipe/core';
import { type ApiKeyAuth, bearerToken } from './auth.js';
import { type IdempotencyStore, fingerprintOf, isValidIdempotencyKey, scopedKey } from './idempotency.js';
import type { ByteBudget } from './budget.js';
import type { Admission, Ingestor } from './ingest.js';
import type { ServiceLogger } from './logger.js';
import { durationOption, integerOption } from './options.js';
import { HTTP_ROUTES, type ServiceMetrics } from './service-metrics.js';
import {
  type IngestEvent,
  type ResolvedValidationLimits,
  type Validation,
  type ValidationIssue,
  describeIssues,
  validateBatch,
  validateEvent,
  validateIdentify,
} from './validate.js';

type Decompress = (body: Buffer, options: { maxOutputLength: number }) => Promise<Buffer>;
/** zstd arrived in Node.js 22.15 and 23.8 (`zlib.zstdDecompress`); older versions (Node 20) have none. */
const zstdDecompress = (zlib as { zstdDecompress?: (body: Buffer, options: object, callback: (error: Error | null, result: Buffer) => void) => void }).zstdDecompress;
/** The content encodings a body may come in, by their `Content-Encoding` name. */
const DECOMPRESS: ReadonlyMap<string, Decompress> = new Map<string, Decompress>([
  ['gzip', promisify(zlib.gunzip)],
  ...(zstdDecompress === undefined ? [] : [['zstd', promisify(zstdDecompress)] as [string, Decompress]]),
]);
const ENCODINGS = zstdDecompress === undefined ? 'gzip or identity (zstd needs Node.js 22.15 or later)' : 'gzip, zstd or identity';

/** Options of the HTTP ingest server. Every field is optional; defaults follow each. */
export interface HttpServerOptions {
  /** Interface to listen on. Default `"127.0.0.1"` (not reachable from other hosts; use `"0.0.0.0"` in a container). */
  host?: string;
  /** Port to listen on; 0 picks a free one. Default 8080. */
  port?: number;
  /**
   * Largest request body, in bytes, both as sent and after decompression. A larger body is
   * answered 413 and no more of it is kept. At most {@link MAX_BODY_BYTES}. Default 4 194 304 (4 MiB).
   */
  maxBodyBytes?: number;
  /**
   * A request not fully received (headers and body) this many ms after it began is answered 408
   * and its connection closed. Default 30 000.
   */
  requestTimeoutMs?: number;
  /**
   * A request whose headers are not complete this many ms after its first byte — or a new
   * connection that sends nothing for as long — is answered 408 and closed (slow-header clients
   * cannot hold connections). At most `requestTimeoutMs`. Default 10 000.
   */
  headersTimeoutMs?: number;
  /**
   * An idle keep-alive connection is closed after this many ms. Keep it above the idle timeout of
   * any load balancer in front (60 s on the common ones), so that the balancer, not the service,
   * closes idle connections and never sends a request into one being closed. Default 65 000.
   */
  keepAliveTimeoutMs?: number;
}

/** How often Node checks the request and headers timeouts: a tenth of the shorter one, between 10 ms and 1 s. */
export function connectionsCheckingInterval(headersTimeoutMs: number): number {
  return Math.max(10, Math.min(1_000, Math.floor(headersTimeoutMs / 10)));
}

/**
 * The largest `maxBodyBytes`: the longest string Node.js can make (536 870 888 on 64-bit), since a
 * body is decoded into one to be parsed. A larger limit would only let bodies through that can never
 * be parsed (500), and past Buffer's own limit (4 GiB on Node.js 20) it makes zlib refuse every
 * compressed body.
 */
export const MAX_BODY_BYTES = constants.MAX_STRING_LENGTH;

/** The `maxBodyBytes` of HTTP options, default applied; TRACKPIPE_ERR_OPTIONS_INVALID naming `http.maxBodyBytes` when it is not an integer from 1 to {@link MAX_BODY_BYTES}. */
export function maxBodyBytesOf(options: HttpServerOptions): number {
  return integerOption('http.maxBodyBytes', options.maxBodyBytes, 4 * 1024 * 1024, 1, MAX_BODY_BYTES);
}

/** What the HTTP server needs from the service. */
export interface HttpServerParts {
  readonly ingestor: Ingestor;
  readonly auth: ApiKeyAuth;
  readonly limits: ResolvedValidationLimits;
  readonly logger: ServiceLogger;
  readonly metrics: ServiceMetrics | undefined;
  /** Where the answers to requests with an `Idempotency-Key` are remembered. */
  readonly idempotency: IdempotencyStore;
  /**
   * The service-wide bound on request bytes being read (`maxInFlightBytes`, shared with gRPC): a body
   * reserves its bytes before it is read, and a request that does not fit is answered 503 `overloaded`.
   */
  readonly budget: ByteBudget;
  /** Serves `GET /metrics`; absent: 404. */
  readonly metricsHandler: ((request: IncomingMessage, response: ServerResponse) => void) | undefined;
  /** True while the service accepts events (`/readyz`). */
  ready(): boolean;
}

type IngestRoute = '/v1/track' | '/v1/batch' | '/v1/identify';

const VALIDATORS: Record<IngestRoute, (body: unknown, limits: ResolvedValidationLimits) => Validation<IngestEvent | IngestEvent[]>> = {
  '/v1/track': (body, limits) => validateEvent(body, limits),
  '/v1/batch': validateBatch,
  '/v1/identify': validateIdentify,
};

/** Node's answers to the client errors it does not answer 400 (lib/_http_server.js, socketOnError). */
const CLIENT_ERROR_STATUS: Readonly<Record<string, number>> = {
  HPE_HEADER_OVERFLOW: 431,
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 413,
  ERR_HTTP_REQUEST_TIMEOUT: 408,
};

/** listen() after, or during, stop(). */
const NOT_STARTED = 'HTTP ingest did not start: the service is shutting down';
const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;

/** The HTTP error answer: `{ "error": { "code", "message", "issues"? } }`. */
interface ErrorBody {
  readonly code: string;
  readonly message: string;
  readonly issues?: readonly ValidationIssue[];
}

/**
 * The HTTP side of the service (node:http): `POST /v1/track`, `/v1/batch`, `/v1/identify`, and
 * `GET /healthz`, `/readyz`, `/metrics`. Handlers read and check the body, then hand the events to
 * the {@link Ingestor} and answer: 202 once queued and persisted (`Collector.persisted()`: at once
 * with in-memory queues, after the group commit with a spool), 503 (with `Retry-After`) when the queue
 * is full, the service is draining, or the bodies being read hold `maxInFlightBytes`. No exporter is
 * ever awaited in a request.
 */
export class HttpIngestServer {
  readonly #parts: HttpServerParts;
  readonly #host: string;
  readonly #port: number;
  readonly #maxBody: number;
  /** Bytes reserved by requests whose bodies are being read, decoded or parsed (shared with gRPC). */
  readonly #budget: ByteBudget;
  readonly #server: Server;
  #stopping: Promise<void> | undefined;
  /** The bind listen() started, until it settles or for good. */
  #binding: Promise<void> | undefined;

  constructor(parts: HttpServerParts, options: HttpServerOptions = {}) {
    this.#parts = parts;
    this.#host = options.host ?? '127.0.0.1';
    this.#port = options.port ?? 8080;
    this.#maxBody = maxBodyBytesOf(options);
    this.#budget = parts.budget;
    const requestTimeout = durationOption('http.requestTimeoutMs', options.requestTimeoutMs, 30_000);
    const headersTimeout = Math.min(requestTimeout, durationOption('http.headersTimeoutMs', options.headersTimeoutMs, 10_000));
    const keepAliveTimeout = durationOption('http.keepAliveTimeoutMs', options.keepAliveTimeoutMs, 65_000);
    const timeouts = {
      requestTimeout,
      headersTimeout,
      keepAliveTimeout,
      // Node checks the two request timeouts on this interval (30 s by default, so a 10 s timeout could take 40 s).
      connectionsCheckingInterval: connectionsCheckingInterval(headersTimeout),
    };
    this.#server = createServer(timeouts, (request, response) => {
      this.#handle(request, response).catch((error: unknown) => {
        parts.logger.error('request handler failed', { error: describeError(error) });
        if (!response.headersSent) sendError(response, 500, { code: 'internal', message: 'internal error' });
        else response.destroy();
      });
    });
    // Expect: 100-continue — refuse an announced oversized body, or one the budget of bodies in flight
    // has no room for, before the client sends it.
    this.#server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
      if (declaredLength(request) > this.#maxBody) {
        this.#count(request, response);
        response.setHeader('connection', 'close');
        sendError(response, 413, { code: 'payload_too_large', message: `the body exceeds ${this.#maxBody} bytes` });
        return;
      }
      if (this.#budget.used + this.#bodyBytes(request) > this.#budget.max) {
        this.#count(request, response);
        response.setHeader('connection', 'close');
        this.#overloaded(request, response);
        return;
      }
      response.writeContinue();
      this.#server.emit('request', request, response);
    });
    // Malformed requests and timeouts ('clientError') get Node's own answers (400, 408, 413, 431),
    // counted as route `other`: a listener replaces Node's default, so it gives them as Node does.
    this.#server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
      const inFlight = (socket as { _httpMessage?: ServerResponse | null })._httpMessage;
      // Only when no answer has begun on the socket (one that has was counted when it finished).
      if (socket.writable && (inFlight == null || !inFlight.headersSent)) {
        const status = CLIENT_ERROR_STATUS[error.code ?? ''] ?? 400;
        socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\n\r\n`);
        parts.metrics?.request('http', 'other', status);
      }
      socket.destroy(error);
    });
  }

  /** The underlying node:http server (for tests and advanced set-ups). */
  get server(): Server {
    return this.#server;
  }

  /**
   * Starts listening; resolves with the bound address. Rejects, leaving nothing bound, when stop()
   * came first or while the address was being bound (a shutdown during start).
   */
  async listen(): Promise<{ host: string; port: number; url: string }> {
    if (this.#stopping !== undefined) throw new Error(NOT_STARTED);
    this.#binding = new Promise<void>((resolve, reject) => {
      const onError = (error: Error): void => {
        reject(
          new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', `HTTP ingest could not listen on ${this.#host}:${this.#port}: ${describeError(error)}`, {
            cause: error,
          }),
        );
      };
      this.#server.once('error', onError);
      this.#server.listen(this.#port, this.#host, () => {
        this.#server.off('error', onError);
        resolve();
      });
    });
    await this.#binding;
    // stop() waited for the bind and closes the server.
    if (this.#stopping !== undefined) throw new Error(NOT_STARTED);
    this.#server.on('error', (error) => this.#parts.logger.error('HTTP server error', { error: describeError(error) }));
    const address = this.#server.address() as AddressInfo;
    const host = address.address.includes(':') ? `[${address.address}]` : address.address;
    return { host: address.address, port: address.port, url: `http://${host}:${address.port}` };
  }

  /**
   * Stops accepting connections and closes idle ones; requests on connections still open are
   * answered (ingest with 503, as the ingestor is draining) with `Connection: close`. Resolves when
   * every connection has closed, or after `timeoutMs`, when the rest are cut. Idempotent.
   */
  stop(timeoutMs: number): Promise<void> {
    // A bind under way (a host name being looked up) completes first: closed before it, the server would listen after.
    this.#stopping ??= (this.#binding?.catch(() => undefined) ?? Promise.resolve()).then(() => this.#close(timeoutMs));
    return this.#stopping;
  }

  #close(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.#server.closeAllConnections(), timeoutMs);
      // Connections that finish their request while closing become idle: close them as they do.
      const sweep = setInterval(() => this.#server.closeIdleConnections(), 50);
      timer.unref();
      sweep.unref();
      this.#server.close(() => {
        clearTimeout(timer);
        clearInterval(sweep);
        resolve();
      });
      this.#server.closeIdleConnections();
    });
  }

  async #handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const parts = this.#parts;
    const path = pathOf(request.url);
    this.#count(request, response);
    // Once stopping, answer and let the connection go so that the server can close.
    if (this.#stopping !== undefined) response.setHeader('connection', 'close');
    switch (path) {
      case '/v1/track':
      case '/v1/batch':
      case '/v1/identify':
        return this.#ingest(path, request, response);
      case '/healthz':
        if (!allow(request, response, 'GET, HEAD')) return;
        return sendJson(response, 200, { status: 'ok' });
      case '/readyz':
        if (!allow(request, response, 'GET, HEAD')) return;
        return parts.ready() ? sendJson(response, 200, { status: 'ready' }) : sendJson(response, 503, { status: 'not ready' });
      case '/metrics':
        if (parts.metricsHandler !== undefined) return parts.metricsHandler(request, response);
        return sendError(response, 404, { code: 'not_found', message: 'metrics are disabled' });
      default:
        await discard(request, this.#maxBody);
        return sendError(response, 404, { code: 'not_found', message: 'no such route' });
    }
  }

  async #ingest(route: IngestRoute, request: IncomingMessage, response: ServerResponse): Promise<void> {
    const { ingestor, auth, limits } = this.#parts;
    // Early answers read (and throw away) the body first, so that the client is not cut off mid-send.
    const refuse = async (status: number, error: ErrorBody, headers: Record<string, string> = {}): Promise<void> => {
      for (const [name, value] of Object.entries(headers)) response.setHeader(name, value);
      await discard(request, this.#maxBody);
      sendError(response, status, error);
    };
    if (request.method !== 'POST') {
      response.setHeader('allow', 'POST');
      return refuse(405, { code: 'method_not_allowed', message: `${route} accepts POST only` });
    }
    if (ingestor.draining) {
      response.setHeader('connection', 'close');
      return refuse(503, { code: 'draining', message: 'the service is shutting down; send to another instance' }, { 'retry-after': '1' });
    }
    if (!auth.verifyAuthorization(request.headers.authorization)) {
      return refuse(401, { code: 'unauthenticated', message: 'a valid API key is required (Authorization: Bearer <key>)' }, {
        'www-authenticate': 'Bearer',
      });
    }
    const type = request.headers['content-type'];
    if (type !== undefined && !JSON_TYPE.test(type)) {
      return refuse(415, { code: 'unsupported_media_type', message: 'the body must be JSON (Content-Type: application/json)' });
    }
    const encoding = (request.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    const decompress = DECOMPRESS.get(encoding);
    if (encoding !== 'identity' && decompress === undefined) {
      return refuse(415, { code: 'unsupported_media_type', message: `Content-Encoding must be ${ENCODINGS}` });
    }
    const keyHeader = request.headers['idempotency-key'];
    // Node joins repeated headers with ", " into one value ("a, b", itself a valid key): count them.
    const keyHeaders = request.headersDistinct['idempotency-key']?.length ?? 0;
    if (keyHeader !== undefined && (typeof keyHeader !== 'string' || keyHeaders !== 1 || !isValidIdempotencyKey(keyHeader))) {
      return refuse(400, { code: 'invalid_request', message: 'Idempotency-Key must be one value of 1 to 255 visible ASCII characters' });
    }
    const idempotencyKey = keyHeader;
    if (declaredLength(request) > this.#maxBody) return this.#tooLarge(request, response);

    // The body's bytes count against maxInFlightBytes from before it is read until it is parsed, and
    // a compressed body's decompressed copy from before it is decompressed: `release` runs before the
    // answer waits for persistence, and in `finally` on every other way out.
    const reading = this.#budget.reserve(this.#bodyBytes(request));
    if (reading === undefined) return this.#overloaded(request, response);
    let inflated: (() => void) | undefined;
    const release = (): void => {
      reading();
      inflated?.();
    };
    try {
      const read = await readBody(request, this.#maxBody);
      if (read === 'aborted') return;
      if (read === 'too_large') return this.#tooLarge(request, response);
      let raw = read;
      if (decompress !== undefined) {
        // Its size is unknown until decoded: room for the largest body. Reserved only now, so a slow
        // client holds no more than the bytes it sends.
        inflated = this.#budget.reserve(this.#maxBody);
        if (inflated === undefined) return this.#overloaded(request, response);
        try {
          raw = await decompress(read, { maxOutputLength: this.#maxBody });
        } catch (error) {
          if ((error as { code?: unknown }).code === 'ERR_BUFFER_TOO_LARGE') return this.#tooLarge(request, response);
          return sendError(response, 400, { code: 'invalid_body', message: `the body is not valid ${encoding}` });
        }
      }
      // Refused, not repaired: decoding would replace each invalid byte with U+FFFD and deliver altered data.
      if (!isUtf8(raw)) return sendError(response, 400, { code: 'invalid_body', message: 'the body is not valid UTF-8' });
      // From here to the admission nothing awaits: looking the key up, queueing the events and
      // remembering the answer are one synchronous step, so a concurrent repeat (still reading its
      // body) finds the answer and cannot be queued twice. Only the 202 then waits for persistence.
      let remember: { readonly key: string; readonly fingerprint: string } | undefined;
      if (idempotencyKey !== undefined) {
        remember = { key: scopedKey(route, bearerToken(request.headers.authorization), idempotencyKey), fingerprint: fingerprintOf(raw) };
        const seen = this.#parts.idempotency.get(remember.key);
        if (seen !== undefined) {
          release();
          return this.#replay(response, seen.fingerprint === remember.fingerprint ? seen.ids : undefined);
        }
      }
      this.#parts.metrics?.decoded('http', raw.length);
      let body: unknown;
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        // Never echo the parser's message: it quotes the body.
        return sendError(response, 400, { code: 'invalid_json', message: 'the body is not valid JSON' });
      }
      const validation = VALIDATORS[route](body, limits);
      if (!validation.ok) {
        return sendError(response, 400, { code: 'invalid_request', message: describeIssues(validation.issues), issues: validation.issues });
      }
      const events = Array.isArray(validation.value) ? validation.value : [validation.value];
      release();
      return this.#answer(response, ingestor.admit(events), events.length, remember);
    } finally {
      release();
    }
  }

  /** What a body reserves of `maxInFlightBytes` to be read: its `Content-Length`, or `maxBodyBytes` without one (chunked: it may grow that far). */
  #bodyBytes(request: IncomingMessage): number {
    return request.headers['content-length'] === undefined ? this.#maxBody : declaredLength(request);
  }

  /** Answers 503 `overloaded` at once without reading the body, then discards it as {@link #tooLarge} does. */
  #overloaded(request: IncomingMessage, response: ServerResponse): void {
    response.setHeader('retry-after', '1');
    sendError(response, 503, {
      code: 'overloaded',
      message: `the service is reading as many request bytes as maxInFlightBytes (${this.#budget.max}) allows; retry`,
    });
    void discard(request, this.#maxBody);
  }

  async #answer(response: ServerResponse, admission: Admission, events: number, remember?: { key: string; fingerprint: string }): Promise<void> {
    const metrics = this.#parts.metrics;
    if (admission.ok) {
      metrics?.accepted('http', events);
      if (remember !== undefined) {
        // Only an acceptance is remembered: a refused request (503, 413, 400) is worth sending again.
        this.#parts.idempotency.set(remember.key, { fingerprint: remember.fingerprint, ids: admission.ids });
        metrics?.idempotent('http', 'first');
      }
      // 202 only once the events are durable (a spool's group commit; at once in memory), and the key with them.
      if (!(await this.#parts.ingestor.persisted())) return this.#storageFailed(response, events);
      if (remember !== undefined) await this.#keyPersisted();
      return sendJson(response, 202, { accepted: admission.ids.length, ids: admission.ids });
    }
    metrics?.refused('http', admission.reason, events);
    switch (admission.reason) {
      case 'too_large':
        return sendError(response, 413, { code: 'payload_too_large', message: admission.message });
      case 'draining':
        response.setHeader('connection', 'close');
        response.setHeader('retry-after', String(admission.retryAfterSeconds));
        return sendError(response, 503, { code: 'draining', message: admission.message });
      case 'overloaded':
        response.setHeader('retry-after', String(admission.retryAfterSeconds));
        return sendError(response, 503, { code: 'overloaded', message: admission.message });
    }
  }

  /** Waits for a store on disk to commit the keys set so far; a failed write only weakens dedup after a restart: logged, not refused. */
  async #keyPersisted(): Promise<void> {
    let kept: boolean;
    try {
      kept = (await this.#parts.idempotency.persisted?.()) ?? true;
    } catch {
      kept = false;
    }
    if (!kept) this.#parts.logger.warn('could not keep an idempotency key on disk: a repeat of this request after a restart would be queued again');
  }

  /**
   * Answers a repeat of an accepted request: the original `202` and body (marked
   * `Idempotent-Replayed: true`), queueing nothing; or `422` when the key came with another body (`ids` undefined).
   */
  async #replay(response: ServerResponse, ids: readonly string[] | undefined): Promise<void> {
    if (ids === undefined) {
      this.#parts.metrics?.idempotent('http', 'conflict');
      return sendError(response, 422, {
        code: 'idempotency_key_reused',
        message: 'this Idempotency-Key was already used for a different body; use a new key for a new batch',
      });
    }
    this.#parts.metrics?.idempotent('http', 'replayed');
    // The original may still wait for its events to be persisted: never acknowledge before it would.
    if (!(await this.#parts.ingestor.persisted())) return this.#storageFailed(response, ids.length);
    response.setHeader('idempotent-replayed', 'true');
    return sendJson(response, 202, { accepted: ids.length, ids });
  }

  /** The spool could not commit: 503 with Retry-After; the events stay queued and are committed again. */
  #storageFailed(response: ServerResponse, events: number): void {
    this.#parts.metrics?.refused('http', 'storage', events);
    response.setHeader('retry-after', '1');
    sendError(response, 503, { code: 'storage_unavailable', message: 'the events could not be committed to disk yet; retry' });
  }

  /** Answers 413 at once, then reads and discards at most `maxBodyBytes` more so the client can read it; past that, cuts the connection. */
  #tooLarge(request: IncomingMessage, response: ServerResponse): void {
    sendError(response, 413, { code: 'payload_too_large', message: `the body exceeds ${this.#maxBody} bytes` });
    void discard(request, this.#maxBody);
  }

  /** Counts the request when its answer is sent (every answer, whatever path produced it). */
  #count(request: IncomingMessage, response: ServerResponse): void {
    const metrics = this.#parts.metrics;
    const logger = this.#parts.logger;
    const started = performance.now();
    const path = pathOf(request.url);
    const route = (HTTP_ROUTES as readonly string[]).includes(path) ? path : 'other';
    response.once('finish', () => {
      metrics?.request('http', route, response.statusCode);
      logger.debug('request', {
        transport: 'http',
        method: request.method,
        route,
        status: response.statusCode,
        ms: Math.round((performance.now() - started) * 10) / 10,
      });
    });
  }
}

function pathOf(url: string | undefined): string {
  const raw = url ?? '/';
  const q = raw.indexOf('?');
  return q < 0 ? raw : raw.slice(0, q);
}

function declaredLength(request: IncomingMessage): number {
  const header = request.headers['content-length'];
  if (header === undefined) return 0;
  const n = Number(header);
  return Number.isFinite(n) ? n : 0;
}

function allow(request: IncomingMessage, response: ServerResponse, methods: string): boolean {
  if (request.method === 'GET' || request.method === 'HEAD') return true;
  response.setHeader('allow', methods);
  sendError(response, 405, { code: 'method_not_allowed', message: `allowed: ${methods}` });
  return false;
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  response.end(text);
}

function sendError(response: ServerResponse, status: number, error: ErrorBody): void {
  sendJson(response, status, { error });
}

/**
 * Reads the body into one buffer. Past `max` bytes it stops keeping what arrives and answers
 * `too_large` (the caller answers 413 and discards the rest); `aborted` when the client went away.
 */
function readBody(request: IncomingMessage, max: number): Promise<Buffer | 'too_large' | 'aborted'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const done = (value: Buffer | 'too_large' | 'aborted'): void => {
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onAbort);
      request.off('close', onClose);
      resolve(value);
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > max) {
        chunks.length = 0;
        request.pause();
        done('too_large');
      } else {
        chunks.push(chunk);
      }
    };
    const onEnd = (): void => done(Buffer.concat(chunks, size));
    const onAbort = (): void => done('aborted');
    const onClose = (): void => {
      if (!request.complete) done('aborted');
    };
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onAbort);
    request.on('close', onClose);
  });
}

/**
 * Reads and throws away the rest of the body, so that the connection can carry the answer (and
 * the next request). Past `max` discarded bytes the connection is cut. Resolves when the body ended
 * or the connection closed.
 */
function discard(request: IncomingMessage, max: number): Promise<void> {
  if (request.complete || request.readableEnded || request.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let size = 0;
    const finish = (): void => {
      request.off('data', onData);
      resolve();
    };
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > max) {
        request.socket.destroy();
        finish();
      }
    };
    request.on('data', onData);
    request.once('end', finish);
    request.once('close', finish);
    request.once('error', finish);
    request.resume();
  });
}
