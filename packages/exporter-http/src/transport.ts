import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import type { Compressor } from './compression.js';
import type { HttpTlsOptions } from './options.js';

/** Bytes of a response body kept for parsing and excerpts. */
export const MAX_RESPONSE_BYTES = 64 * 1024;
/**
 * Bytes of a response body read at most. Past them the connection is closed (and not reused): the
 * status already says what happened to the batch, and a server streaming an endless body must not hold
 * the export until its timeout.
 */
export const MAX_RESPONSE_READ_BYTES = 1024 * 1024;
/**
 * How long an exchange may go on once the answer's status and headers are in: the rest of the answer's
 * body, and the rest of the request's body when the server answered before reading it. Past it the
 * connection is closed and the status decides with what was read: a body that never ends (a
 * `Content-Length` that lies, a trickle) must not hold the export until its timeout, which would send
 * an accepted batch again, and a request body the server never reads must not hold a pooled connection.
 */
export const MAX_EXCHANGE_AFTER_ANSWER_MS = 2_000;

/** What one POST came to, as seen on the wire. */
export type TransportOutcome =
  /** The server answered: its status, headers and the first {@link MAX_RESPONSE_BYTES} of its body. */
  | { readonly kind: 'response'; readonly status: number; readonly headers: http.IncomingHttpHeaders; readonly body: string }
  /** The request failed on the network (refused, reset, TLS, DNS, …). */
  | { readonly kind: 'network'; readonly error: Error }
  /** Node refused to build the request (an invalid header name or value); `code` is Node's error code. */
  | { readonly kind: 'invalid'; readonly code: string }
  /** The signal aborted first; the request was destroyed. */
  | { readonly kind: 'aborted'; readonly reason: unknown };

/** What a transport is built from. */
export interface TransportOptions {
  readonly url: URL;
  readonly keepAlive: boolean;
  readonly maxSockets: number;
  readonly tls?: HttpTlsOptions | undefined;
  readonly compress: Compressor;
}

/**
 * Sends bodies to one endpoint: compression, a keep-alive pool of at most `maxSockets` connections,
 * TLS, cancellation through an AbortSignal (the processor's export timeout and close deadline), and
 * a bounded read of the answer. Knows nothing of batches or results.
 */
export class HttpTransport {
  readonly #url: URL;
  readonly #agent: http.Agent;
  readonly #request: typeof http.request;
  readonly #compress: Compressor;

  constructor(options: TransportOptions) {
    const { url, keepAlive, maxSockets } = options;
    this.#url = url;
    this.#compress = options.compress;
    if (url.protocol === 'https:') {
      const tls = options.tls ?? {};
      this.#agent = new https.Agent({
        keepAlive,
        maxSockets,
        ca: tls.ca as string | Buffer | (string | Buffer)[] | undefined,
        cert: tls.cert,
        key: tls.key,
        rejectUnauthorized: tls.rejectUnauthorized ?? true,
      });
      this.#request = https.request;
    } else {
      this.#agent = new http.Agent({ keepAlive, maxSockets });
      this.#request = http.request;
    }
  }

  /**
   * Compresses `body` (when it is large enough) and POSTs it with `headers` (names in lower case;
   * `content-length` and `content-encoding` are set here). Never rejects.
   */
  async send(body: Uint8Array, headers: Record<string, string>, signal: AbortSignal): Promise<TransportOutcome> {
    const { body: wire, encoding } = await this.#compress(body);
    if (signal.aborted) return { kind: 'aborted', reason: signal.reason };
    const all: Record<string, string> = { ...headers, 'content-length': String(wire.byteLength) };
    if (encoding === undefined) delete all['content-encoding'];
    else all['content-encoding'] = encoding;
    return this.#post(wire, all, signal);
  }

  /** Closes every pooled connection and any request in flight. */
  close(): void {
    this.#agent.destroy();
  }

  #post(body: Uint8Array, headers: Record<string, string>, signal: AbortSignal): Promise<TransportOutcome> {
    return new Promise<TransportOutcome>((resolve) => {
      let settled = false;
      let request: http.ClientRequest;
      const finish = (outcome: TransportOutcome): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        resolve(outcome);
      };
      const onAbort = (): void => {
        finish({ kind: 'aborted', reason: signal.reason });
        request.destroy();
      };
      try {
        request = this.#request(this.#url, { method: 'POST', agent: this.#agent, headers });
      } catch (error) {
        // Node validates header names and values synchronously. Its message names the header, not the value.
        const code = (error as { code?: unknown }).code;
        finish({ kind: 'invalid', code: typeof code === 'string' ? code : 'unknown error' });
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      // Set once the status and headers are in: what goes wrong after them (a body cut short, bytes
      // the parser refuses after the body) cannot change what the status said happened to the batch.
      let answered: (() => void) | undefined;
      request.on('error', (error) => {
        // The parser's errors keep the bytes it refused (`rawPacket`): the server's, which may echo the request's credentials.
        delete (error as { rawPacket?: unknown }).rawPacket;
        if (answered === undefined) finish({ kind: 'network', error });
        else answered();
      });
      // 101 Switching Protocols is the one final answer Node hands to 'upgrade' instead of 'response'
      // (without a listener it closes the socket and the request never settles).
      request.on('upgrade', (response: http.IncomingMessage, socket: Duplex) => {
        socket.destroy();
        finish({ kind: 'response', status: response.statusCode ?? 101, headers: response.headers, body: '' });
      });
      request.on('response', (response) => {
        const status = response.statusCode ?? 0;
        const chunks: Buffer[] = [];
        let kept = 0;
        let read = 0;
        const done = (): void => finish({ kind: 'response', status, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') });
        answered = done;
        // Settles by the status with what was read, and closes the connection (the pool opens another).
        const stop = (): void => {
          done();
          request.destroy();
        };
        // 'close' comes once the exchange is over: the connection back in the pool, or closed.
        const timer = setTimeout(() => {
          if (!response.complete || !request.writableFinished) stop();
        }, MAX_EXCHANGE_AFTER_ANSWER_MS).unref();
        request.once('close', () => clearTimeout(timer));
        response.on('data', (chunk: Buffer) => {
          read += chunk.byteLength;
          if (kept < MAX_RESPONSE_BYTES) {
            const part = chunk.byteLength + kept > MAX_RESPONSE_BYTES ? chunk.subarray(0, MAX_RESPONSE_BYTES - kept) : chunk;
            chunks.push(part);
            kept += part.byteLength;
          }
          if (read > MAX_RESPONSE_READ_BYTES) stop();
        });
        response.on('end', done);
        // The body was cut short: the status still says what happened to the batch.
        response.on('error', done);
        response.on('close', done);
      });
      request.end(body);
    });
  }
}
