import { createSecureContext } from 'node:tls';
import * as z from 'zod';
import { parseExporterOptions } from '@trackpipe/core/config';
import { type AttributeValue, type Encoder, type Recorded, type TelemetryEvent } from '@trackpipe/core';
import { type HttpCompression, zstdAvailable } from './compression.js';
import type { HttpBodyFormat, HttpSerializer } from './formats.js';
import type { OtlpOptions } from './otlp.js';

/** Request headers: a static record, or a function (sync or async) called before every request, e.g. for rotating tokens. */
export type HeadersOption =
  | Readonly<Record<string, string>>
  | (() => Readonly<Record<string, string>> | Promise<Readonly<Record<string, string>>>);

/** TLS settings for `https:` URLs. */
export interface HttpTlsOptions {
  /** Trusted CA certificates (PEM). Default: Node's bundled roots. */
  ca?: string | Buffer | readonly (string | Buffer)[];
  /** Client certificate chain (PEM), for mutual TLS. Default none. */
  cert?: string | Buffer;
  /** Client private key (PEM), for mutual TLS. Default none. */
  key?: string | Buffer;
  /** Verify the server's certificate. Default `true`; turn off only for local testing. */
  rejectUnauthorized?: boolean;
}

/** Options of an {@link HttpExporter}. Only `url` is required. */
export interface HttpExporterOptions<E extends TelemetryEvent = Recorded<TelemetryEvent>> {
  /** Where batches are POSTed: an `http:` or `https:` URL. Required. Errors and logs show its origin only. */
  url: string | URL;
  /** Name in logs and metric labels. Default `"http"`. */
  name?: string;
  /** Extra request headers (auth, tenant). Values never appear in errors or logs. Default none. */
  headers?: HeadersOption;
  /**
   * Body format. Default `"json"`.
   * - `"json"`: a JSON array of events, or `{ <envelopeKey>: [...] }` when `envelopeKey` is set;
   * - `"ndjson"`: one JSON event per line;
   * - `"otlp"`: an OTLP/HTTP JSON ExportLogsServiceRequest (POST it to a collector's `/v1/logs`);
   * - an {@link HttpSerializer} for anything else.
   */
  format?: HttpBodyFormat | HttpSerializer<E>;
  /** With `format: "json"`, wraps the array as `{ <envelopeKey>: [...] }`, e.g. `"batch"`. Default: a bare array. */
  envelopeKey?: string;
  /** Per-event encoder for `json` and `ndjson` (a custom one turns off batch encoding for `json`). Default `JSON.stringify`. */
  encoder?: Encoder<E>;
  /** Resource and scope of the `otlp` format. */
  otlp?: OtlpOptions;
  /**
   * How bodies are compressed: `"gzip"`, `"zstd"` (Node.js 22.15 or later, and a receiver that takes
   * `content-encoding: zstd`) or `"none"`. Default `"gzip"`.
   */
  compression?: HttpCompression;
  /** Compression level: gzip 1–9, zstd 1–19. Default 1 for both (the README has the figures). */
  compressionLevel?: number;
  /** Bodies of at least this many bytes are compressed; `false` never compresses (as `compression: "none"`). Default 1 024. */
  gzipThresholdBytes?: number | false;
  /** Keep connections open between requests. Default `true`. */
  keepAlive?: boolean;
  /** Connections to the endpoint at most; further requests wait for a free one. Default 128 (the processor bounds its requests). */
  maxSockets?: number;
  /** TLS settings for `https:` URLs. */
  tls?: HttpTlsOptions;
  /**
   * 401 and 403 answers are retried within the processor's retry budget (an expired token should not
   * lose acknowledged events); `false` rejects them (the batch is dropped). Either way they are marked
   * `auth` and logged at error level, at most one line per 30 s. Default `true`.
   */
  retryAuthFailures?: boolean;
  /**
   * The header carrying each batch's idempotency key (derived from its first and last event ids and its
   * size, the same on every retry of the batch); `false` sends none. Default `"Idempotency-Key"`.
   */
  idempotencyKeyHeader?: string | false;
}

const FORMATS = ['json', 'ndjson', 'otlp'] as const satisfies readonly HttpBodyFormat[];
const COMPRESSIONS = ['gzip', 'zstd', 'none'] as const satisfies readonly HttpCompression[];
/** The highest zstd level offered: 20–22 ("ultra") need far more memory than a request body deserves. */
const MAX_ZSTD_LEVEL = 19;
/** An HTTP header name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function httpUrl(value: unknown): URL | undefined {
  try {
    const url = new URL(value as string | URL);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined;
  } catch {
    return undefined;
  }
}

/** Characters Node refuses in a header value (ERR_INVALID_CHAR): control characters but tab, DEL, and anything above U+00FF. */
const INVALID_HEADER_CHAR = /[^\t\x20-\x7e\x80-\xff]/;
const headerValue = z.string().superRefine((v, ctx) => {
  if (/[\r\n\0]/.test(v)) ctx.addIssue({ code: 'custom', message: 'must not contain line breaks or NUL' });
  else if (INVALID_HEADER_CHAR.test(v)) ctx.addIssue({ code: 'custom', message: 'must hold only tabs and characters U+0020 to U+00FF but DEL (Node refuses the rest in a header)' });
});
const headerName = z.string().regex(HEADER_NAME, { error: 'must be a valid HTTP header name' });
const headerRecord = z.record(z.string(), headerValue, { error: 'must be an object of header names to string values' }).superRefine((record, ctx) => {
  for (const name of Object.keys(record)) {
    if (!HEADER_NAME.test(name)) ctx.addIssue({ code: 'custom', path: [name], message: 'is not a valid HTTP header name' });
    // Bodies go with a content-length: a transfer-encoding beside it makes every request one receivers refuse.
    else if (name.toLowerCase() === 'transfer-encoding') ctx.addIssue({ code: 'custom', path: [name], message: 'is set by the exporter (bodies are sent with a content-length)' });
  }
});

const attributeValue: z.ZodType<AttributeValue> = z.lazy(() =>
  z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(attributeValue), z.record(z.string(), attributeValue)], {
    error: 'must be a string, finite number, boolean, null, list or object',
  }),
);

const otlpOptions = z.strictObject({
  serviceName: z.string().min(1).optional(),
  resourceAttributes: z.record(z.string(), attributeValue, { error: 'must be an object of attribute values' }).optional(),
  scope: z.strictObject({ name: z.string().min(1), version: z.string().min(1).optional() }).optional(),
});

const pem = z.string().min(1);

/**
 * The options that can be written in a config file (plain data), with their defaults. The `http`
 * exporter factory validates its config entry with this schema; {@link httpExporterOptionsSchema}
 * extends it with what only code can pass.
 */
const configShape = {
  url: z.string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a string') }).refine((v) => httpUrl(v) !== undefined, {
    error: 'must be a valid http: or https: URL',
  }),
  headers: headerRecord.optional(),
  format: z.enum(FORMATS).default('json'),
  envelopeKey: z.string().min(1).optional(),
  otlp: otlpOptions.optional(),
  compression: z.enum(COMPRESSIONS).default('gzip'),
  compressionLevel: z.int().min(1).max(MAX_ZSTD_LEVEL).optional(),
  gzipThresholdBytes: z.union([z.number().min(0), z.literal(false)], { error: 'must be a number >= 0, or false' }).default(1024),
  keepAlive: z.boolean().default(true),
  maxSockets: z.int().min(1).default(128),
  tls: z.strictObject({ ca: z.union([pem, z.array(pem)], { error: 'must be a PEM string or a list of them' }).optional(), cert: pem.optional(), key: pem.optional(), rejectUnauthorized: z.boolean().optional() }).optional(),
  retryAuthFailures: z.boolean().default(true),
  idempotencyKeyHeader: z.union([headerName, z.literal(false)], { error: 'must be a valid HTTP header name, or false' }).default('Idempotency-Key'),
};

/**
 * Headers the idempotency key may not go under: they frame, route or authorize the request (set by
 * the exporter, by Node, or by the `headers` option), and a key in their place would make every
 * request one the receiver refuses or misreads (a content type, a host, credentials of 32 hex digits).
 */
const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'connection',
  'content-encoding',
  'content-length',
  'content-type',
  'expect',
  'host',
  'keep-alive',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

interface CrossFields {
  readonly url: string | URL;
  readonly idempotencyKeyHeader?: unknown;
  readonly format: unknown;
  readonly envelopeKey?: string | undefined;
  readonly otlp?: unknown;
  readonly tls?: unknown;
  readonly compression: HttpCompression;
  readonly compressionLevel?: number | undefined;
}

/**
 * A client certificate and key Node can use: one that does not read, or a key that is not the
 * certificate's, would fail every request (each batch rejected, every event dropped). The problem
 * says OpenSSL's code, never the content.
 */
function usableCertificate(tls: unknown, problem: (path: string, message: string) => void): void {
  if (typeof tls !== 'object' || tls === null) return;
  const { cert, key } = tls as { cert?: string | Buffer; key?: string | Buffer };
  if (cert === undefined && key === undefined) return;
  try {
    createSecureContext({ cert, key });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    problem('tls', `Node cannot use this certificate and key (${typeof code === 'string' ? code : 'invalid'}): a certificate or key that does not read, or a key that is not the certificate's`);
  }
}

/** Rules between fields, the same for config and code. */
function crossFieldRules(options: CrossFields, ctx: z.RefinementCtx): void {
  const problem = (path: string, message: string): void => ctx.addIssue({ code: 'custom', path: [path], message });
  if (options.envelopeKey !== undefined && options.format !== 'json') problem('envelopeKey', 'is only valid with format "json"');
  if (options.otlp !== undefined && options.format !== 'otlp') problem('otlp', 'is only valid with format "otlp"');
  if (options.tls !== undefined && httpUrl(options.url)?.protocol !== 'https:') problem('tls', 'is only valid with an https: url');
  else usableCertificate(options.tls, problem);
  if (options.compression === 'zstd' && !zstdAvailable) problem('compression', `"zstd" needs Node.js 22.15 or later (this is ${process.version})`);
  if (options.compression === 'gzip' && options.compressionLevel !== undefined && options.compressionLevel > 9) {
    problem('compressionLevel', 'must be <= 9 with gzip');
  }
  if (options.compression === 'none' && options.compressionLevel !== undefined) problem('compressionLevel', 'is only valid with gzip or zstd compression');
  const idempotency = options.idempotencyKeyHeader;
  if (typeof idempotency === 'string' && RESERVED_HEADERS.has(idempotency.toLowerCase())) {
    problem('idempotencyKeyHeader', `must not be ${idempotency.toLowerCase()}: the key would replace a header that frames, routes or authorizes every request`);
  }
}

/** Validates an `http` exporter's config entry (plain data, `${env:…}` substituted): the factory's schema. */
export const httpExporterConfigSchema = z.strictObject(configShape).superRefine(crossFieldRules);

/** The config entry of an `http` exporter, as written. */
export type HttpExporterConfig = z.input<typeof httpExporterConfigSchema>;

const isFunction = (v: unknown): boolean => typeof v === 'function';
/** A custom serializer, kept as given (its methods may use `this`). */
function isSerializer(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const { contentType, body, encoder } = v as Partial<Record<keyof HttpSerializer<never>, unknown>>;
  return typeof contentType === 'string' && contentType !== '' && isFunction(body) && (encoder === undefined || isFunction(encoder));
}
const bytes = z.union([z.string(), z.instanceof(Buffer)]);

/**
 * Validates {@link HttpExporterOptions} as the constructor receives them: the config schema, plus
 * what only code can pass (a URL object, a headers function, a custom serializer or encoder, TLS
 * material as Buffers, a name and a logger).
 */
export const httpExporterOptionsSchema = z
  .strictObject({
    ...configShape,
    url: z.custom<string | URL>((v) => httpUrl(v) !== undefined, {
      error: (issue) => (issue.input === undefined ? 'is required' : 'must be a valid http: or https: URL'),
    }),
    name: z.string().min(1).default('http'),
    headers: z.union([headerRecord, z.custom<(...args: never[]) => unknown>(isFunction)], { error: 'must be a record of strings or a function returning one' }).optional(),
    format: z
      .union([z.enum(FORMATS), z.custom<HttpSerializer<never>>(isSerializer)], {
        error: 'must be "json", "ndjson", "otlp" or a serializer with contentType and body()',
      })
      .default('json'),
    encoder: z.custom<Encoder<never>>(isFunction, { error: 'must be a function' }).optional(),
    tls: z
      .strictObject({
        ca: z.union([bytes, z.array(bytes).readonly()], { error: 'must be PEM (a string or Buffer) or a list of them' }).optional(),
        cert: bytes.optional(),
        key: bytes.optional(),
        rejectUnauthorized: z.boolean().optional(),
      })
      .optional(),
  })
  .superRefine(crossFieldRules);

/** The options after validation, defaults applied. */
export type ResolvedHttpExporterOptions = z.output<typeof httpExporterOptionsSchema>;

// The hand-written HttpExporterOptions (documented, generic over the event type) and the schema must
// agree: every valid options object is valid input for the schema.
type AssertAssignable<T extends U, U> = T;
type _OptionsMatchSchema = AssertAssignable<HttpExporterOptions<Recorded<TelemetryEvent>>, z.input<typeof httpExporterOptionsSchema>>;

/**
 * Validates the plain-data config of an `http` exporter (as in a config file, `${env:…}` already
 * substituted) with {@link httpExporterConfigSchema}, without a container. Throws
 * TRACKPIPE_ERR_CONFIG_INVALID naming `<path>.<field>` and the problem, never the value.
 */
export function httpExporterOptionsFromConfig(options: unknown, path: string): HttpExporterConfigOutput {
  return parseExporterOptions(httpExporterConfigSchema, options, { path });
}

/** A validated config entry, defaults applied: valid {@link HttpExporterOptions}. */
export type HttpExporterConfigOutput = z.output<typeof httpExporterConfigSchema>;
