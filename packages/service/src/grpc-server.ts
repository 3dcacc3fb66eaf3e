import { fileURLToPath } from 'node:url';
import {
  Metadata,
  Server,
  ServerCredentials,
  ServerInterceptingCall,
  type ServerInterceptor,
  type ServerUnaryCall,
  type ServiceClientConstructor,
  type ServiceDefinition,
  type sendUnaryData,
  loadPackageDefinition,
  status,
} from '@grpc/grpc-js';
import { type PackageDefinition, loadSync } from '@grpc/proto-loader';
import { TrackpipeError, describeError } from '@trackpipe/core';
import { setOwn } from '@trackpipe/core/internal';
import type { Readable } from 'node:stream';
import type { ApiKeyAuth } from './auth.js';
import type { ByteBudget } from './budget.js';
import type { Ingestor } from './ingest.js';
import type { ServiceLogger } from './logger.js';
import { type GrpcServerOptions, grpcSettings } from './grpc-options.js';
import { hasInvalidUtf8, stringShape } from './protobuf-utf8.js';
import type { ServiceMetrics } from './service-metrics.js';
import {
  type IngestEvent,
  type ResolvedValidationLimits,
  type Validation,
  describeIssues,
  validateEvent,
  validateEvents,
  validateIdentify,
} from './validate.js';

export type { GrpcServerOptions } from './grpc-options.js';

/** Folder holding `analytics/v1/analytics.proto` (shipped with the package). */
export const PROTO_ROOT = fileURLToPath(new URL('../proto', import.meta.url));
/** The service's proto file, relative to {@link PROTO_ROOT}. */
export const PROTO_FILE = 'analytics/v1/analytics.proto';
/** Fully qualified name of the gRPC service. */
export const GRPC_SERVICE_NAME = 'analytics.v1.AnalyticsService';

/** proto-loader options the server uses; clients may use the same to get the same object shapes. */
export const PROTO_LOADER_OPTIONS = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: false,
  oneofs: true,
  includeDirs: [PROTO_ROOT],
} as const;

/** Loads the service's proto file (with google/protobuf/struct.proto) as proto-loader's package definition. */
function loadAnalyticsDefinition(): PackageDefinition {
  return loadSync(PROTO_FILE, { ...PROTO_LOADER_OPTIONS, includeDirs: [PROTO_ROOT] });
}

/** Loads the `analytics.v1.AnalyticsService` definition: its client constructor (`.service` is the server-side definition). */
export function loadAnalyticsService(definition: PackageDefinition = loadAnalyticsDefinition()): ServiceClientConstructor {
  const loaded = loadPackageDefinition(definition) as unknown as { analytics: { v1: { AnalyticsService: ServiceClientConstructor } } };
  return loaded.analytics.v1.AnalyticsService;
}

/** What the gRPC server needs from the service. */
export interface GrpcServerParts {
  readonly ingestor: Ingestor;
  readonly auth: ApiKeyAuth;
  readonly limits: ResolvedValidationLimits;
  readonly logger: ServiceLogger;
  readonly metrics: ServiceMetrics | undefined;
  /**
   * The service-wide bound on request bytes being read (`maxInFlightBytes`, shared with HTTP): a
   * message reserves its length when its 5-byte prefix arrives, and a call that does not fit is
   * answered RESOURCE_EXHAUSTED.
   */
  readonly budget: ByteBudget;
}

/** The gRPC methods, as metric labels. */
export const GRPC_METHODS = ['TrackEvent', 'IdentifyUser', 'TrackBatch'] as const;
type Method = (typeof GRPC_METHODS)[number];

/** The method of a call path (`/analytics.v1.AnalyticsService/TrackEvent`), or `other`: a bounded label. */
function methodOf(path: string): Method | 'other' {
  const name = path.slice(path.lastIndexOf('/') + 1);
  return (GRPC_METHODS as readonly string[]).includes(name) ? (name as Method) : 'other';
}

// Decoded message shapes (proto-loader with PROTO_LOADER_OPTIONS: camelCase, unset fields absent).
interface ProtoValue {
  kind?: string;
  nullValue?: unknown;
  numberValue?: number;
  stringValue?: string;
  boolValue?: boolean;
  structValue?: ProtoStruct;
  listValue?: { values?: ProtoValue[] };
}
interface ProtoStruct {
  fields?: Record<string, ProtoValue>;
}
interface ProtoEvent {
  id?: string;
  name?: string;
  timestampMs?: number;
  attributes?: ProtoStruct;
  traceId?: string;
  spanId?: string;
  flagKey?: string;
  value?: ProtoValue;
  variant?: string;
  reason?: string;
  errorCode?: string;
  targetingKey?: string;
  provider?: string;
  context?: ProtoStruct;
}
interface TrackEventRequest {
  event?: ProtoEvent;
}
interface TrackBatchRequest {
  events?: ProtoEvent[];
}
interface IdentifyUserRequest {
  userId?: string;
  traits?: ProtoStruct;
  id?: string;
  timestampMs?: number;
}

/** A Struct or Value nested deeper than the validator allows (checked while converting, before recursion gets deep). */
class TooDeep extends Error {
  constructor(readonly path: string) {
    super(path);
  }
}

function fromStruct(struct: ProtoStruct, path: string, depth: number, max: number): Record<string, unknown> {
  if (depth > max) throw new TooDeep(path);
  const out: Record<string, unknown> = {};
  const fields = struct.fields ?? {};
  for (const key of Object.keys(fields)) setOwn(out, key, fromValue(fields[key]!, `${path}.${key}`, depth + 1, max));
  return out;
}

function fromValue(value: ProtoValue, path: string, depth: number, max: number): unknown {
  switch (value.kind) {
    case 'numberValue':
      return value.numberValue ?? 0;
    case 'stringValue':
      return value.stringValue ?? '';
    case 'boolValue':
      return value.boolValue ?? false;
    case 'structValue':
      return fromStruct(value.structValue ?? {}, path, depth, max);
    case 'listValue': {
      if (depth > max) throw new TooDeep(path);
      return (value.listValue?.values ?? []).map((item, i) => fromValue(item, `${path}[${i}]`, depth + 1, max));
    }
    default:
      // nullValue, or a Value with nothing set.
      return null;
  }
}

const STRING_FIELDS = ['id', 'name', 'traceId', 'spanId', 'flagKey', 'variant', 'reason', 'errorCode', 'targetingKey', 'provider'] as const;

/** A decoded Event as the plain object the HTTP API takes (unset proto3 fields left out), for the shared validator. */
function eventFromProto(event: ProtoEvent, path: string, max: number): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of STRING_FIELDS) {
    const value = event[key];
    if (value !== undefined && value !== '') out[key] = value;
  }
  if (event.timestampMs !== undefined && event.timestampMs !== 0) out.timestamp = event.timestampMs;
  if (event.attributes !== undefined) out.attributes = fromStruct(event.attributes, `${path}.attributes`, 1, max);
  if (event.value !== undefined) out.value = fromValue(event.value, `${path}.value`, 0, max);
  if (event.context !== undefined) out.context = fromStruct(event.context, `${path}.context`, 1, max);
  return out;
}

/** What a request decoder answers for bytes that are no valid message: the handler answers INVALID_ARGUMENT. */
const MALFORMED: unique symbol = Symbol('malformed');
/**
 * What a request decoder answers for a message nested deeper than protobufjs decodes (100 messages,
 * protoc's default recursion limit; a Struct or list value spends two or three per level): valid
 * bytes, refused for their depth — named so, not as malformed.
 */
const TOO_DEEP_MESSAGE: unique symbol = Symbol('nested too deep');
/** protobufjs's message when a message nests past its recursion limit. */
const NESTING_ERROR = 'maximum nesting depth exceeded';
/** What a request decoder answers for a message with a string that is not UTF-8: the handler answers INVALID_ARGUMENT. */
const NOT_UTF8: unique symbol = Symbol('not UTF-8');

/**
 * The service definition with each request decoder counting the bytes it decodes
 * (`trackpipe_service_decoded_bytes_total`) and answering {@link MALFORMED} instead of throwing: a
 * decoder that throws makes grpc-js answer INTERNAL, a server fault, where the client sent bad bytes.
 * A message with a string that is not UTF-8 is answered {@link NOT_UTF8}.
 */
function decoding(definition: PackageDefinition, metrics: ServiceMetrics | undefined): ServiceDefinition {
  const service = loadAnalyticsService(definition).service;
  const out: Record<string, ServiceDefinition[string]> = {};
  for (const [name, method] of Object.entries(service)) {
    const decode = method.requestDeserialize as (bytes: Buffer) => unknown;
    const shape = stringShape(definition, `analytics.v1.${name}Request`);
    out[name] = {
      ...method,
      requestDeserialize: (bytes: Buffer): unknown => {
        metrics?.decoded('grpc', bytes.length);
        let message: unknown;
        try {
          message = decode(bytes);
        } catch (error) {
          return error instanceof Error && error.message === NESTING_ERROR ? TOO_DEEP_MESSAGE : MALFORMED;
        }
        // The decoder put U+FFFD where a string's bytes were not UTF-8: refuse rather than deliver changed text.
        return hasInvalidUtf8(bytes, shape) ? NOT_UTF8 : message;
      },
    };
  }
  return out;
}

/**
 * Reserves in `budget` the bytes of each message of a call as they are announced — a message's
 * length when its 5-byte gRPC prefix arrives (the `Content-Length` of a gRPC message), and
 * `maxMessageBytes` more for its decompressed copy when it is compressed — before grpc-js buffers any
 * of it. `stream` is the call's HTTP/2 stream: its chunks are seen here first (a listener put before
 * grpc-js's own). When a message does not fit, `refuse` is called at once: it ends the call, so
 * grpc-js drops the chunk and everything after it (a cancelled call keeps nothing). A message longer
 * than `maxMessageBytes` reserves nothing: grpc-js refuses it on the same chunk. Answers the function
 * that gives every reservation back and stops watching (only its first call counts).
 */
function meterMessages(stream: Readable, budget: ByteBudget, maxMessageBytes: number, refuse: () => void): () => void {
  const held: (() => void)[] = [];
  let prefix: Buffer = Buffer.alloc(0);
  /** Bytes of the current message still to come. */
  let remaining = 0;
  let done = false;
  const onData = (chunk: Buffer): void => {
    let at = 0;
    while (!done && at < chunk.length) {
      if (remaining > 0) {
        const take = Math.min(remaining, chunk.length - at);
        remaining -= take;
        at += take;
        continue;
      }
      const take = Math.min(5 - prefix.length, chunk.length - at);
      prefix = Buffer.concat([prefix, chunk.subarray(at, at + take)]);
      at += take;
      if (prefix.length < 5) return;
      const compressed = prefix[0] !== 0;
      remaining = prefix.readUInt32BE(1);
      prefix = Buffer.alloc(0);
      if (remaining > maxMessageBytes) {
        done = true;
        return;
      }
      const release = budget.reserve(remaining + (compressed ? maxMessageBytes : 0));
      if (release === undefined) {
        done = true;
        refuse();
        return;
      }
      held.push(release);
    }
  };
  stream.prependListener('data', onData);
  return () => {
    done = true;
    stream.off('data', onData);
    for (const release of held.splice(0)) release();
  };
}

/**
 * The HTTP/2 stream of a call, from the call grpc-js made for it (`BaseServerInterceptingCall`, the
 * `next` of the one interceptor the server has); undefined if grpc-js no longer keeps it there.
 */
function streamOf(call: unknown): Readable | undefined {
  const stream = (call as { stream?: { prependListener?: unknown } } | null)?.stream;
  return typeof stream?.prependListener === 'function' ? (stream as Readable) : undefined;
}

/** listen() after, or during, stop(). */
const NOT_STARTED = 'gRPC ingest did not start: the service is shutting down';

/** Longest status details sent, in UTF-16 code units: at most 9 bytes each once percent-encoded in the `grpc-message` trailer. */
const MAX_DETAILS = 1_000;

/**
 * `details` cut to {@link MAX_DETAILS} (never between the halves of a surrogate pair, which
 * `encodeURI` refuses): a path holds the client's Struct keys, and a trailer past the client's
 * header list size (16 KiB to 64 KiB) is never read, leaving the call without an answer.
 */
function boundedDetails(details: string): string {
  if (details.length <= MAX_DETAILS) return details;
  let cut = details.slice(0, MAX_DETAILS);
  if (/[\uD800-\uDBFF]$/.test(cut)) cut = cut.slice(0, -1);
  return `${cut}... (${details.length - cut.length} more characters)`;
}

/**
 * Calls `count` with the code of every status grpc-js's call for a request sends (`next` of the one
 * interceptor: `BaseServerInterceptingCall`, whose own answers bypass interceptors), by wrapping its
 * `sendStatus`; nothing if grpc-js no longer has it there (the interceptor still counts its own).
 */
function countStatuses(call: unknown, count: (code: status) => void): void {
  const target = call as { sendStatus?: unknown } | null;
  if (typeof target?.sendStatus !== 'function') return;
  const send = (target.sendStatus as (answer: { code: status }) => void).bind(target);
  target.sendStatus = (answer: { code: status }): void => {
    count(answer.code);
    send(answer);
  };
}

const STATUS_NAMES = new Map<number, string>(Object.entries(status).map(([name, code]) => [code as number, name]));

/**
 * The gRPC side of the service: `analytics.v1.AnalyticsService` (TrackEvent, IdentifyUser,
 * TrackBatch) with `@grpc/grpc-js`. Like the HTTP side it validates, queues and answers without
 * waiting for an exporter: OK (once the events are persisted, see `Ingestor.persisted`),
 * INVALID_ARGUMENT (naming the field), RESOURCE_EXHAUSTED when the queue is full (with a
 * `retry-after` trailer), UNAVAILABLE while draining, UNAUTHENTICATED without a valid key.
 */
export class GrpcIngestServer {
  readonly #parts: GrpcServerParts;
  readonly #host: string;
  readonly #port: number;
  readonly #server: Server;
  readonly #requestTimeoutMs: number;
  readonly #maxMessageBytes: number;
  #stopping: Promise<void> | undefined;
  /** The bind listen() started, until it settles or for good. */
  #binding: Promise<number> | undefined;

  constructor(parts: GrpcServerParts, options: GrpcServerOptions = {}) {
    this.#parts = parts;
    const { host, port, maxMessageBytes, requestTimeoutMs, maxConnectionAgeMs, maxConcurrentStreams } = grpcSettings(options);
    this.#host = host;
    this.#port = port;
    this.#maxMessageBytes = maxMessageBytes;
    this.#requestTimeoutMs = requestTimeoutMs;
    this.#server = new Server({
      'grpc.max_receive_message_length': maxMessageBytes,
      // A stalled call is answered by #intercept, but its stream stays open until the client ends it:
      // only closing the connection frees it, so every connection has an age (gRPC's MAX_CONNECTION_AGE).
      'grpc.max_connection_age_ms': maxConnectionAgeMs,
      'grpc.max_connection_age_grace_ms': requestTimeoutMs,
      // Node's http2 default is no limit: one connection could hold any number of stalled calls, each
      // until requestTimeoutMs (and its stream until the connection's age). grpc-js passes this to
      // http2's settings.maxConcurrentStreams.
      'grpc.max_concurrent_streams': maxConcurrentStreams,
      interceptors: [this.#intercept],
    });
    const service = decoding(loadAnalyticsDefinition(), parts.metrics);
    // The validator checks the exact depth; this bound only keeps the conversion from recursing without end.
    const max = parts.limits.maxDepth + 2;
    this.#server.addService(service, {
      TrackEvent: (call: ServerUnaryCall<TrackEventRequest, unknown>, callback: sendUnaryData<unknown>) =>
        this.#unary('TrackEvent', call, callback, (request) => {
          if (request.event === undefined) return { ok: false, issues: [{ path: 'event', message: 'required' }] };
          const checked = validateEvent(eventFromProto(request.event, 'event', max), parts.limits, 'event');
          return checked.ok ? { ok: true, value: [checked.value] } : checked;
        }, (ids) => ({ id: ids[0] })),
      IdentifyUser: (call: ServerUnaryCall<IdentifyUserRequest, unknown>, callback: sendUnaryData<unknown>) =>
        this.#unary('IdentifyUser', call, callback, (request) => {
          const body: Record<string, unknown> = {};
          if (request.userId !== undefined && request.userId !== '') body.userId = request.userId;
          if (request.id !== undefined && request.id !== '') body.id = request.id;
          if (request.timestampMs !== undefined && request.timestampMs !== 0) body.timestamp = request.timestampMs;
          if (request.traits !== undefined) body.traits = fromStruct(request.traits, 'traits', 1, max);
          const checked = validateIdentify(body, parts.limits);
          return checked.ok ? { ok: true, value: [checked.value] } : checked;
        }, (ids) => ({ id: ids[0] })),
      TrackBatch: (call: ServerUnaryCall<TrackBatchRequest, unknown>, callback: sendUnaryData<unknown>) =>
        this.#unary('TrackBatch', call, callback, (request) => {
          const events = (request.events ?? []).map((event, i) => eventFromProto(event, `events[${i}]`, max));
          return validateEvents(events, 'events', parts.limits);
        }, (ids) => ({ accepted: ids.length, ids })),
    });
  }

  /**
   * Starts listening; resolves with the bound address. Rejects, leaving nothing bound, when stop()
   * came first or while the address was being bound (a shutdown during start).
   */
  async listen(): Promise<{ host: string; port: number; address: string }> {
    if (this.#stopping !== undefined) throw new Error(NOT_STARTED);
    const binding = new Promise<number>((resolve, reject) => {
      const target = this.#host.includes(':') ? `[${this.#host}]:${this.#port}` : `${this.#host}:${this.#port}`;
      this.#server.bindAsync(target, ServerCredentials.createInsecure(), (error, bound) => {
        if (error) {
          reject(
            new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', `gRPC ingest could not listen on ${target}: ${describeError(error)}`, {
              cause: error,
            }),
          );
        } else {
          resolve(bound);
        }
      });
    });
    this.#binding = binding;
    const port = await binding;
    // stop() waited for the bind and shuts the server down.
    if (this.#stopping !== undefined) throw new Error(NOT_STARTED);
    const host = this.#host.includes(':') ? `[${this.#host}]` : this.#host;
    return { host: this.#host, port, address: `${host}:${port}` };
  }

  /**
   * Stops accepting calls and waits for running ones (they answer at once: no call waits for an
   * exporter); after `timeoutMs`, cuts what is left. Idempotent.
   */
  stop(timeoutMs: number): Promise<void> {
    // A bind under way (an address being resolved or bound) completes first: grpc-js's shutdown does
    // not cancel it, so a server shut down before it would listen after.
    this.#stopping ??= (this.#binding?.catch(() => undefined) ?? Promise.resolve()).then(() => this.#shutdown(timeoutMs));
    return this.#stopping;
  }

  #shutdown(timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, timeoutMs);
      timer.unref();
      this.#server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /**
   * Every call: bounds the time until its message is in, and checks the API key.
   *
   * - A call whose message has not fully arrived and been ended by the client (half-close) within
   *   `requestTimeoutMs` of its start is ended with DEADLINE_EXCEEDED: a client that opens a call and
   *   stalls (sends nothing, half a message, or never ends it) cannot hold it. (grpc-js waits for the
   *   message without end; the handler runs only after the half-close.)
   * - The API key is checked as soon as the call's metadata arrives, before any of the message is
   *   read: a call without a valid key ends with UNAUTHENTICATED, and its message (up to
   *   `maxMessageBytes`) is never received, let alone decoded.
   * - Each message reserves its bytes of the service's `maxInFlightBytes` as soon as its length is
   *   known, before grpc-js buffers it; one that does not fit ends the call with RESOURCE_EXHAUSTED
   *   (`retry-after: 1`) at once, and nothing more of it is kept.
   */
  readonly #intercept: ServerInterceptor = (descriptor, next) => {
    const { auth, metrics, logger, budget } = this.#parts;
    let timer: NodeJS.Timeout | undefined;
    const stopTimer = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    };
    const end = (code: status, details: string, metadata = new Metadata()): void => {
      stopTimer();
      const method = methodOf(descriptor.path);
      const name = STATUS_NAMES.get(code) ?? String(code);
      logger.debug('request', { transport: 'grpc', method, status: name });
      call.sendStatus({ code, details, metadata });
    };
    // Every status the call ends with is counted, once: the interceptor's and the handler's, and
    // those grpc-js sends itself without passing the interceptor (a message over maxMessageBytes, one
    // it cannot decompress, ...), seen by wrapping the sendStatus of grpc-js's call.
    let counted = false;
    const count = (code: status): void => {
      if (counted) return;
      counted = true;
      metrics?.request('grpc', methodOf(descriptor.path), STATUS_NAMES.get(code) ?? String(code));
    };
    countStatuses(next, count);
    const overloaded = (): void => {
      const trailer = new Metadata();
      trailer.set('retry-after', '1');
      end(status.RESOURCE_EXHAUSTED, `the service is reading as many request bytes as maxInFlightBytes (${budget.max}) allows; retry`, trailer);
    };
    // The message's bytes count against maxInFlightBytes from its prefix until the handler has parsed
    // and queued it (it runs within the half-close), or the call ends any other way.
    const stream = streamOf(next);
    let release: () => void = () => undefined;
    if (stream !== undefined) release = meterMessages(stream, budget, this.#maxMessageBytes, overloaded);
    const done = (): void => {
      stopTimer();
      release();
    };
    const call: ServerInterceptingCall = new ServerInterceptingCall(next, {
      start: (startNext) => {
        timer = setTimeout(() => {
          timer = undefined;
          end(status.DEADLINE_EXCEEDED, `the request message was not received within ${this.#requestTimeoutMs} ms`);
        }, this.#requestTimeoutMs);
        timer.unref();
        startNext({
          onReceiveMetadata: (metadata, metadataNext) => {
            if (auth.enabled) {
              const header = metadata.get('authorization')[0];
              if (typeof header !== 'string' || !auth.verifyAuthorization(header)) {
                return end(status.UNAUTHENTICATED, 'a valid API key is required (metadata authorization: Bearer <key>)');
              }
            }
            if (stream === undefined) {
              // Without the stream to watch (grpc-js changed), the call reserves the largest message up front.
              const reserved = budget.reserve(this.#maxMessageBytes);
              if (reserved === undefined) return overloaded();
              release = reserved;
            }
            metadataNext(metadata);
          },
          onReceiveHalfClose: (halfCloseNext) => {
            stopTimer(); // the message is in: from here the service answers without waiting for the client
            halfCloseNext(); // runs the handler: the message is parsed and queued (or refused) when it returns
            release();
          },
          onCancel: done,
        });
      },
      sendStatus: (answer, statusNext) => {
        done();
        count(answer.code);
        statusNext(answer);
      },
    });
    return call;
  };

  #unary<Req>(
    method: Method,
    call: ServerUnaryCall<Req, unknown>,
    callback: sendUnaryData<unknown>,
    parse: (request: Req) => Validation<IngestEvent[]>,
    respond: (ids: readonly string[]) => unknown,
  ): void {
    const { ingestor, limits, metrics, logger } = this.#parts;
    const started = performance.now();
    const finish = (code: status, details?: string, trailer?: Metadata, value?: unknown): void => {
      const name = STATUS_NAMES.get(code) ?? String(code);
      // Counted by #intercept as the status is sent.
      logger.debug('request', { transport: 'grpc', method, status: name, ms: Math.round((performance.now() - started) * 10) / 10 });
      if (code === status.OK) callback(null, value);
      else callback({ code, details: boundedDetails(details ?? name), metadata: trailer ?? new Metadata() });
    };
    try {
      // The API key was checked by #authenticate before the message was read.
      if (ingestor.draining) return finish(status.UNAVAILABLE, 'the service is shutting down; send to another instance');
      if ((call.request as unknown) === TOO_DEEP_MESSAGE) {
        return finish(status.INVALID_ARGUMENT, `the message nests more than 100 protobuf messages deep (values are limited to ${limits.maxDepth} levels)`);
      }
      if ((call.request as unknown) === MALFORMED) {
        return finish(status.INVALID_ARGUMENT, `the message is not a valid analytics.v1.${method}Request (protobuf)`);
      }
      if ((call.request as unknown) === NOT_UTF8) {
        return finish(status.INVALID_ARGUMENT, 'the message holds a string that is not valid UTF-8 (proto3 strings must be); it is refused, never repaired');
      }
      let validation: Validation<IngestEvent[]>;
      try {
        validation = parse(call.request);
      } catch (error) {
        if (error instanceof TooDeep) return finish(status.INVALID_ARGUMENT, `${error.path}: is nested more than ${limits.maxDepth} levels deep`);
        throw error;
      }
      if (!validation.ok) return finish(status.INVALID_ARGUMENT, describeIssues(validation.issues));
      const events = validation.value;
      const admission = ingestor.admit(events);
      if (admission.ok) {
        metrics?.accepted('grpc', events.length);
        // OK only once the events are durable (a spool's group commit; at once in memory).
        const answer = respond(admission.ids);
        void ingestor
          .persisted()
          .then((ok) => (ok ? finish(status.OK, undefined, undefined, answer) : finish(status.UNAVAILABLE, 'the events could not be committed to disk yet; retry')))
          .catch((error: unknown) => logger.error('gRPC answer failed', { method, error: describeError(error) }));
        return;
      }
      metrics?.refused('grpc', admission.reason, events.length);
      switch (admission.reason) {
        case 'draining':
          return finish(status.UNAVAILABLE, admission.message);
        case 'too_large':
          return finish(status.INVALID_ARGUMENT, admission.message);
        case 'overloaded': {
          const trailer = new Metadata();
          trailer.set('retry-after', String(admission.retryAfterSeconds));
          return finish(status.RESOURCE_EXHAUSTED, admission.message, trailer);
        }
      }
    } catch (error) {
      logger.error('gRPC handler failed', { method, error: describeError(error) });
      return finish(status.INTERNAL, 'internal error');
    }
  }
}
