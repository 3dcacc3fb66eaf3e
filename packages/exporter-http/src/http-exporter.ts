import {
  type BatchEncoder,
  type Encoder,
  type ExportBatch,
  type ExportResult,
  ExportResults,
  type Exporter,
  type Recorded,
  type TelemetryEvent,
  TrackpipeError,
  describeError,
  excerpt,
  isRetriable,
  jsonEncoder,
  redactUrl,
  secretsOf,
} from '@trackpipe/core';
import { issuesFromZod, safeErrorMap } from '@trackpipe/core/config';
import { compressor } from './compression.js';
import { type BodyFormat, type HttpBodyFormat, type HttpSerializer, bodyFormat } from './formats.js';
import { batchIdempotencyKey } from './idempotency.js';
import { type HeadersOption, type HttpExporterOptions, type ResolvedHttpExporterOptions, httpExporterOptionsSchema } from './options.js';
import { networkErrorResult, responseResult } from './results.js';
import { HttpTransport, type TransportOutcome } from './transport.js';

const USER_AGENT = 'trackpipe-exporter-http/0.1.0';
const ABORTED: unique symbol = Symbol('aborted');

/** The options the constructor reads. */
const OPTION_NAMES = Object.keys(httpExporterOptionsSchema.shape);

/**
 * Validates constructor options with the one schema; throws TRACKPIPE_ERR_OPTIONS_INVALID naming each
 * bad option, never its value. Options that cannot be read (a getter or a proxy that throws, a cycle
 * or nesting the validation cannot walk) are refused naming the option, never with what was thrown.
 */
function parseOptions(options: unknown): ResolvedHttpExporterOptions {
  let result: ReturnType<typeof httpExporterOptionsSchema.safeParse>;
  try {
    result = httpExporterOptionsSchema.safeParse(options, { error: safeErrorMap });
  } catch {
    throw unreadableOption(unreadable(options));
  }
  if (result.success) return result.data;
  const issues = issuesFromZod(result.error);
  const problems = issues.map((issue) => `${issue.path === '' ? 'options' : issue.path} ${issue.message}`).join('; ');
  throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', `HttpExporter: ${problems}`, { details: { issues } });
}

/** The option whose validation threw: the first one whose own validation throws, else `options`. */
function unreadable(options: unknown): string {
  const shape = httpExporterOptionsSchema.shape as Record<string, { safeParse(value: unknown): unknown }>;
  let option = 'options';
  try {
    Reflect.ownKeys(options as object); // a revoked proxy: the options themselves
    for (const name of OPTION_NAMES) {
      try {
        shape[name]?.safeParse((options as Record<string, unknown>)[name]);
      } catch {
        option = name;
        break;
      }
    }
  } catch {
    option = 'options';
  }
  return option;
}

/** Options that cannot be read or written (a getter or a proxy that throws, a cycle, nesting too deep): named, never with what was thrown. */
function unreadableOption(option: string): TrackpipeError {
  return new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', `HttpExporter: ${option} could not be read (a getter or a proxy threw, a cycle, or nesting too deep)`, {
    details: { issues: [{ path: option === 'options' ? '' : option, message: 'could not be read' }] },
  });
}

function decoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * What of the URL must never be shown: user info (also as the `Basic` credential Node sends for it),
 * the query and its values (a name without a value, `?<token>`, counts as one), and the path (webhook
 * URLs carry tokens there) — whole, and each segment that is not a plain lowercase word (`v1`, `logs`
 * and `ingest` stay readable in excerpts; `T0001/B0002/XyZ…` do not).
 */
function urlSecrets(url: URL): string[] {
  const out: string[] = [];
  const add = (text: string): void => {
    if (text !== '') out.push(text, decoded(text));
  };
  add(url.username);
  add(url.password);
  if (url.username !== '' || url.password !== '') add(Buffer.from(`${decoded(url.username)}:${decoded(url.password)}`).toString('base64'));
  // A query's values, and a bare one (`?<token>`, a name without a value): the name is then the token.
  add(url.search.slice(1));
  for (const [name, value] of url.searchParams) add(value === '' ? name : value);
  if (url.pathname !== '/') add(url.pathname);
  for (const segment of url.pathname.split('/')) {
    if (!/^[a-z]+$/.test(segment) || segment.length >= 16) add(segment);
  }
  add(url.hash.slice(1));
  return out;
}

/** Waits for `promise`, or answers {@link ABORTED} as soon as `signal` aborts (a late rejection is then ignored). */
function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | typeof ABORTED> {
  if (signal.aborted) return Promise.resolve(ABORTED);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => resolve(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error instanceof Error ? error : new Error(describeError(error)));
      },
    );
  });
}

/**
 * Delivers batches over HTTP(S) with one POST per batch. It classifies every outcome into an
 * ExportResult and never retries by itself (the BatchProcessor does):
 * 2xx → ok (an OTLP partial success → reject with `count`); 408, 429, 5xx and network failures →
 * retry (honouring `Retry-After`); 401/403 → retry marked `auth` (or reject, with
 * `retryAuthFailures: false`); 413 → too_large; other statuses → reject.
 *
 * Its parts: the body format (`formats.ts`, `otlp.ts`), the transport (`transport.ts`: pool, TLS,
 * compression, cancellation, bounded reads), the result mapping (`results.ts`, `classify.ts`: pure),
 * the options (`options.ts`: one zod schema for code and config).
 */
export class HttpExporter<E extends TelemetryEvent = Recorded<TelemetryEvent>> implements Exporter<E> {
  readonly name: string;
  /** Per-event encoder: the processor's path for batches it encodes event by event. */
  readonly encoder: Encoder<E>;
  /** Whole-batch encoder of the `json` (default encoder) and `otlp` formats; `undefined` for the others. */
  readonly encodeBatch: BatchEncoder<E> | undefined;
  readonly #format: BodyFormat<E>;
  readonly #otlp: boolean;
  readonly #headers: HeadersOption | undefined;
  readonly #transport: HttpTransport;
  readonly #where: string;
  readonly #retryAuth: boolean;
  readonly #idempotencyHeader: string | undefined;
  /** Strings that must never appear in errors: configured header values, URL credentials, query values and path. */
  readonly #staticSecrets: readonly string[];
  #closed = false;

  constructor(options: HttpExporterOptions<E>) {
    const resolved = parseOptions(options);
    const url = new URL(resolved.url);
    this.name = resolved.name;
    this.#where = `POST ${redactUrl(url)}`;
    try {
      this.#format = bodyFormat<E>({
        format: resolved.format as HttpBodyFormat | HttpSerializer<E>,
        envelopeKey: resolved.envelopeKey,
        encoder: resolved.encoder as Encoder<E> | undefined,
        otlp: resolved.otlp,
      });
    } catch {
      // The OTLP resource attributes are written here, once: a cycle passes the schema and overflows the stack.
      throw unreadableOption(resolved.format === 'otlp' ? 'otlp' : 'format');
    }
    this.encoder = this.#format.encoder;
    this.encodeBatch = this.#format.encodeBatch;
    this.#otlp = resolved.format === 'otlp';
    this.#headers = resolved.headers as HeadersOption | undefined;
    this.#retryAuth = resolved.retryAuthFailures;
    this.#idempotencyHeader = resolved.idempotencyKeyHeader === false ? undefined : resolved.idempotencyKeyHeader.toLowerCase();
    const threshold = resolved.gzipThresholdBytes;
    this.#transport = new HttpTransport({
      url,
      keepAlive: resolved.keepAlive,
      maxSockets: resolved.maxSockets,
      tls: resolved.tls,
      compress: compressor(threshold === false ? 'none' : resolved.compression, resolved.compressionLevel, threshold === false ? 0 : threshold),
    });
    const headers = this.#headers;
    this.#staticSecrets = secretsOf([...urlSecrets(url), ...(headers !== undefined && typeof headers !== 'function' ? Object.values(headers) : [])]);
  }

  async export(batch: ExportBatch<E>, signal: AbortSignal): Promise<ExportResult> {
    try {
      return await this.#export(batch, signal);
    } catch (error) {
      // A safety net: an exporter answers, it never throws.
      return ExportResults.reject({
        error: new TrackpipeError('TRACKPIPE_ERR_EXPORT_FAILED', `exporter ${this.name} failed: ${excerpt(describeError(error), this.#staticSecrets)}`),
      });
    }
  }

  /** Closes every pooled connection. Later exports answer a failure. Idempotent. */
  async shutdown(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#transport.close();
  }

  async #export(batch: ExportBatch<E>, signal: AbortSignal): Promise<ExportResult> {
    if (this.#closed) return this.#shutDown();
    if (signal.aborted) return ExportResults.retry({ error: signal.reason });

    let extra: Readonly<Record<string, string>> | undefined | typeof ABORTED;
    try {
      extra = typeof this.#headers === 'function' ? await unlessAborted(Promise.resolve(this.#headers()), signal) : this.#headers;
    } catch (error) {
      const retriable = isRetriable(error);
      const failure = new TrackpipeError(
        'TRACKPIPE_ERR_EXPORT_FAILED',
        `exporter ${this.name}: the headers function failed: ${excerpt(describeError(error), this.#staticSecrets)}`,
        { retriable },
      );
      return retriable ? ExportResults.retry({ error: failure }) : ExportResults.reject({ error: failure });
    }
    if (extra === ABORTED) return ExportResults.retry({ error: signal.reason });
    if (extra !== undefined && (typeof extra !== 'object' || extra === null)) {
      return this.#failed('the headers function returned no record of headers');
    }

    let body: Uint8Array;
    try {
      body = this.#format.body(batch);
    } catch (error) {
      return this.#failed(`could not build the body: ${excerpt(describeError(error), this.#staticSecrets)}`);
    }

    const headers: Record<string, string> = { 'user-agent': USER_AGENT, 'content-type': this.#format.contentType };
    const secretValues: unknown[] = [];
    if (extra !== undefined) {
      for (const key of Object.keys(extra)) {
        const value = extra[key];
        if (typeof value !== 'string') return this.#failed(`header ${JSON.stringify(key)} is not a string`);
        headers[key.toLowerCase()] = value;
        secretValues.push(value);
      }
    }
    if (this.#idempotencyHeader !== undefined) headers[this.#idempotencyHeader] = batchIdempotencyKey(batch, body, this.encoder === jsonEncoder);

    if (this.#closed) return this.#shutDown();
    const outcome = await this.#transport.send(body, headers, signal);
    const secrets = secretValues.length === 0 ? this.#staticSecrets : secretsOf([...this.#staticSecrets, ...secretValues]);
    return this.#result(outcome, secrets, batch.size);
  }

  #result(outcome: TransportOutcome, secrets: readonly string[], events: number): ExportResult {
    const context = { where: this.#where, secrets, otlp: this.#otlp, retryAuthFailures: this.#retryAuth, now: Date.now(), events };
    switch (outcome.kind) {
      case 'response':
        return responseResult(outcome.status, outcome.headers, outcome.body, context);
      case 'network':
        return networkErrorResult(outcome.error, context);
      case 'invalid':
        return this.#failed(`invalid request (${outcome.code})`);
      case 'aborted':
        return ExportResults.retry({ error: outcome.reason });
    }
  }

  #failed(problem: string): ExportResult {
    return ExportResults.reject({ error: new TrackpipeError('TRACKPIPE_ERR_EXPORT_FAILED', `exporter ${this.name}: ${problem}`) });
  }

  #shutDown(): ExportResult {
    return ExportResults.reject({ error: new TrackpipeError('TRACKPIPE_ERR_EXPORT_FAILED', `exporter ${this.name} is shut down`) });
  }
}
