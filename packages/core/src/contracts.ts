import { types } from 'node:util';
import type { TrackpipeError } from './errors.js';
import type { TelemetryEvent } from './events.js';

/** Why an event was dropped. Every drop is counted under one of these. */
export type DropReason =
  /** `record()` got something that is not an event. */
  | 'invalid'
  /** The queue was full (the overflow policy chose this event). */
  | 'queue_full'
  /** The spool (the durable queue on disk) was full (the overflow policy chose this event). */
  | 'spool_full'
  /** Recorded after `close()` was called. */
  | 'closed'
  /** The destination refused it permanently (bad request, auth). */
  | 'rejected'
  /** Alone, it was too large for the destination. */
  | 'too_large'
  /** It could not be serialized (cycle, BigInt). */
  | 'unserializable'
  /** Its batch was still failing when the retry budget ran out. */
  | 'retries_exhausted'
  /** `close()` reached its deadline before it was delivered. */
  | 'shutdown_timeout';

/** All drop reasons, in a stable order. */
export const DROP_REASONS: readonly DropReason[] = [
  'invalid',
  'queue_full',
  'spool_full',
  'closed',
  'rejected',
  'too_large',
  'unserializable',
  'retries_exhausted',
  'shutdown_timeout',
];

/** What `flush()` and `close()` answer: what happened between the call and its end. */
export interface FlushReport {
  /** True when everything recorded before the call was settled (exported or dropped). */
  readonly complete: boolean;
  /** Events exported while the call ran. */
  readonly exported: number;
  /** Events dropped while the call ran, all reasons. */
  readonly dropped: number;
  /** Events dropped while the call ran, by reason (reasons with no drops are absent). */
  readonly droppedByReason: Readonly<Partial<Record<DropReason, number>>>;
  /** Events still queued or in flight when the call ended (0 after a complete close). */
  readonly remaining: number;
}

/** Counts of failed exports by kind. */
export interface FailureCounts {
  /** The exporter answered `retry`. */
  readonly retryable: number;
  /** The exporter answered `reject`, threw, or answered nonsense. */
  readonly permanent: number;
  /** The export did not finish within `exportTimeoutMs`. */
  readonly timeout: number;
  /** The destination refused the credentials (HTTP 401/403, SASL, topic authorization); also counted as retryable or permanent. */
  readonly auth: number;
}

/**
 * A collector's figures. At every moment
 * `recorded = exported + dropped + queued + inFlight`.
 */
export interface CollectorStats {
  /** Calls to `record()`, valid or not, plus events recovered from a spool at start (see `recovered`). */
  readonly recorded: number;
  /** Of `recorded`: events a spool still held from an earlier run, recovered at start. */
  readonly recovered: number;
  /** Events the destination accepted. */
  readonly exported: number;
  /** Events dropped, all reasons. */
  readonly dropped: number;
  /** Events dropped, by reason. */
  readonly droppedByReason: Readonly<Record<DropReason, number>>;
  /** Events waiting: in the queue, or in a batch waiting to be retried. */
  readonly queued: number;
  /** Events in batches being exported now. */
  readonly inFlight: number;
  /** Batches being exported now. */
  readonly batchesInFlight: number;
  /** The queue's capacity in events. */
  readonly queueCapacity: number;
  /** Retries scheduled. */
  readonly retries: number;
  /** Failed exports by kind. */
  readonly failedExports: FailureCounts;
  /** The most recent error, if any. */
  readonly lastError: { readonly code: string; readonly message: string; readonly at: number } | undefined;
  /** Epoch ms of the last successful export, if any. */
  readonly lastExportAt: number | undefined;
}

/** The application-facing side: record events, flush them, close. */
export interface Collector<E extends TelemetryEvent = TelemetryEvent> {
  /**
   * Records one event. Synchronous and O(1): never awaits, never throws. Assigns `id` and `timestamp`
   * when absent (the event object is updated in place and must not be mutated afterwards).
   */
  record(event: E): void;
  /** Delivers (or drops, and says so) everything recorded before the call. */
  flush(options?: { timeoutMs?: number }): Promise<FlushReport>;
  /** Flushes, then releases resources (within the same deadline). Later records count as dropped (`closed`). Idempotent. */
  close(options?: { timeoutMs?: number }): Promise<FlushReport>;
  /** The collector's figures; see {@link CollectorStats}. */
  stats(): CollectorStats;
  /**
   * How many more events `record()` takes now before a queue fills past `fill` (a share of its
   * capacity, default 1) and the overflow policy starts dropping. A fan-out answers for its fullest
   * member; a closed collector answers 0. Admission control (a service answering 503, a Kafka
   * receiver pausing partitions) asks this instead of looking inside.
   */
  headroom(fill?: number): number;
  /**
   * Resolves once every event recorded before the call is durable: `true` when it is on disk (a
   * spool's group commit), `false` at once when the queue is in memory (nothing to wait for — and
   * nothing survives a crash).
   */
  persisted(): Promise<boolean>;
}

/** Serializes one event to its wire form (a JSON document by default). Throwing marks it unserializable. */
export type Encoder<E> = (event: E) => string;

/**
 * The default encoder: one JSON object per event, with its name. Throws on cycles and BigInts, when a
 * `toJSON` makes the event something other than an object (undefined, a string, a list), and when the
 * event has a name its JSON would not carry: `JSON.stringify` writes only own enumerable properties, so an `Error`'s
 * name, a class's `get name()` or a non-enumerable name are lost, and a `toJSON` may leave it out.
 * An own name that is a getter, or an event that is a proxy, may answer differently on every read:
 * the JSON is then read back, and without a non-empty string name the event is refused too.
 * Such an event is dropped as unserializable instead of reaching the destination as `null`, `"text"`
 * or a nameless object that would have its whole batch refused.
 */
export const jsonEncoder: Encoder<unknown> = (event) => {
  const json = JSON.stringify(event);
  if (typeof json !== 'string') throw new TypeError('JSON.stringify returned no text (a toJSON returned undefined?)');
  // The usual event, `{ name: '…', … }`: its first member is a non-empty string name, nothing to check.
  if (json.startsWith(NAMED_FIRST) && json.charCodeAt(NAMED_FIRST.length) !== 0x22) return json;
  const custom = hasToJSON(event);
  if (json.charCodeAt(0) !== 0x7b) {
    throw new TypeError(`the event's JSON is not an object (${custom ? 'its toJSON returned' : 'the event is'} ${kindOfJson(json)})`);
  }
  if (custom) {
    if (!namedJson(json) && hasName(event)) throw new TypeError("the event's JSON has no name: its toJSON returned an object without a non-empty string name");
  } else if (!ownsName(event)) {
    if (hasName(event)) {
      throw new TypeError("the event's JSON has no name: name is not an own enumerable property of the event (a class getter? an Error's name?), and JSON.stringify writes only those");
    }
  } else if (!dataName(event) && !namedJson(json)) {
    throw new TypeError("the event's JSON has no non-empty string name: its name is a getter or the event a proxy, and it answered differently than when the event was recorded");
  }
  return json;
};

/** How a JSON object whose first member is a string name starts. */
const NAMED_FIRST = '{"name":"';

/** True when `name` is an own enumerable property of `event`: the only kind `JSON.stringify` writes. */
function ownsName(event: unknown): boolean {
  return Object.prototype.propertyIsEnumerable.call(event, 'name');
}

/**
 * True when `name` is an own enumerable data property of an object that is not a proxy:
 * `JSON.stringify` writes the value it holds. A getter or a proxy may answer differently on every
 * read — the one `record()` checked, the one `JSON.stringify` writes (the JSON must then be read to know).
 */
function dataName(event: unknown): boolean {
  if (types.isProxy(event)) return false;
  const property = Object.getOwnPropertyDescriptor(event, 'name');
  return property !== undefined && property.enumerable === true && 'value' in property;
}

/** True when the event has a name, own or not (events the processor admitted always have one). */
function hasName(event: unknown): boolean {
  return (event as { name?: unknown }).name !== undefined;
}

function hasToJSON(event: unknown): boolean {
  return typeof (event as { toJSON?: unknown }).toJSON === 'function';
}

function namedJson(json: string): boolean {
  const name = (JSON.parse(json) as { name?: unknown }).name;
  return typeof name === 'string' && name !== '';
}

/**
 * True when every event is a plain object without `toJSON` whose name is its own enumerable data
 * property (not a getter, not on a proxy):
 * then one `JSON.stringify(events)` writes exactly what {@link jsonEncoder} writes for each, framed as a
 * list. A batch encoder checks this first and encodes event by event (`jsonEncoder`) otherwise, so that
 * class instances, lists, boxed values and `toJSON` results are checked one by one.
 */
export function plainJsonEvents(events: readonly unknown[]): boolean {
  for (const event of events) {
    if (Object.getPrototypeOf(event) !== Object.prototype || hasToJSON(event) || !dataName(event)) return false;
  }
  return true;
}

/** What a JSON text that is not an object is (never its content: events may hold personal data). */
function kindOfJson(json: string): string {
  switch (json[0]) {
    case '"':
      return 'a string';
    case '[':
      return 'a list';
    case 'n':
      return 'null';
    case 't':
    case 'f':
      return 'a boolean';
    default:
      return 'a number';
  }
}

/** Encodes a whole batch in one call (e.g. one `JSON.stringify` of the array). Throwing makes the processor find the poison event. */
export type BatchEncoder<E> = (events: readonly E[]) => Uint8Array;

/**
 * One batch as the exporter receives it: the events, and either their encoded forms index for index
 * (exporters without `encodeBatch`) or the whole batch encoded once (`payload`, exporters with one).
 */
export interface ExportBatch<E> {
  /** How many events the batch holds: `events.length`, without reading `events`. */
  readonly size: number;
  /**
   * The events. Events a spool read back from disk are held as their JSON (`encoded`) until this is
   * first read, which parses them: an exporter that sends only `encoded` or `payload` should read
   * `size` instead, and pays no parse.
   */
  readonly events: readonly E[];
  /** `encoded[i]` is `events[i]` serialized by the exporter's `encoder`; empty when `payload` is set. */
  readonly encoded: readonly string[];
  /** The batch as the exporter's `encodeBatch` encoded it; set exactly when the exporter has one. */
  readonly payload?: Uint8Array;
  /** Bytes of the encoded batch: `payload.length`, or the sum of the UTF-8 byte lengths of `encoded`. */
  readonly bytes: number;
}

/**
 * What an export came to. Exporters classify; the processor acts (retries, splits, drops, counts).
 * - `ok`: delivered.
 * - `retry`: transient failure; try again after the backoff, or after `retryAfterMs` when given.
 * - `reject`: permanent failure: all events, or only those at `indexes` (the rest were delivered), or
 *   `count` unidentified events (partial success: the rest were delivered).
 * - `too_large`: the batch is too large for the destination; the processor halves it.
 */
export type ExportResult =
  | { readonly code: 'ok' }
  | {
      readonly code: 'retry';
      /** A hint (e.g. Retry-After); the processor clamps it to `retry.maxBackoffMs`. */
      readonly retryAfterMs?: number;
      /** The destination refused the credentials: counted and logged as an auth failure. */
      readonly auth?: boolean;
      readonly error?: unknown;
    }
  | {
      readonly code: 'reject';
      readonly indexes?: readonly number[];
      readonly count?: number;
      /** The destination refused the credentials: counted and logged as an auth failure. */
      readonly auth?: boolean;
      readonly error?: unknown;
    }
  | { readonly code: 'too_large'; readonly error?: unknown };

const OK: ExportResult = Object.freeze({ code: 'ok' });

/** Constructors for {@link ExportResult}. */
export const ExportResults = {
  ok: (): ExportResult => OK,
  retry: (options: { retryAfterMs?: number; auth?: boolean; error?: unknown } = {}): ExportResult => ({ code: 'retry', ...options }),
  reject: (options: { indexes?: readonly number[]; count?: number; auth?: boolean; error?: unknown } = {}): ExportResult => ({
    code: 'reject',
    ...options,
  }),
  tooLarge: (options: { error?: unknown } = {}): ExportResult => ({ code: 'too_large', ...options }),
} as const;

/** Delivers batches somewhere. Never throws, never retries, never buffers: it classifies. */
export interface Exporter<E> {
  /** Names the exporter in logs and metric labels (bounded: not per event). */
  readonly name: string;
  /** How the processor serializes each event for this exporter. Default: `JSON.stringify`. */
  readonly encoder?: Encoder<E>;
  /**
   * Encodes a whole batch at once (faster than event by event). When present, batches carry
   * `payload` instead of `encoded`; the processor still isolates a poison event (when this throws)
   * and splits batches above `maxBatchBytes`, by encoding smaller batches.
   */
  readonly encodeBatch?: BatchEncoder<E>;
  /**
   * True when the exporter delivers batches in the order it is given them and relies on that order
   * (Kafka: order per key). The processor then never sends a batch while an earlier one waits for a
   * retry, and retries in the original order. Default false: after an isolated failure only the failed
   * batch waits, and fresh batches keep flowing.
   */
  readonly ordered?: boolean;
  /**
   * Sends one batch. Must resolve, not reject; must stop work when `signal` aborts (the processor
   * has then already counted the export as timed out or abandoned).
   */
  export(batch: ExportBatch<E>, signal: AbortSignal): Promise<ExportResult>;
  /** Releases connections, files, clients. Called once, by `close()`. */
  shutdown?(): Promise<void>;
}

/** Where the processor writes what it has to say. Keep secrets out: Trackpipe never logs events. */
export interface Logger {
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** What a processor tells observers (e.g. metrics) after each export attempt. Off the record() path. */
export interface ExportObservation {
  readonly pipeline: string;
  readonly exporter: string;
  readonly outcome: 'ok' | 'retry' | 'reject' | 'too_large' | 'timeout' | 'error';
  readonly events: number;
  readonly bytes: number;
  readonly durationMs: number;
}

/** Receives per-export observations. Must not throw (throws are swallowed). */
export type ExportObserver = (observation: ExportObservation) => void;

/** Receives every error the processor reports. */
export type ErrorHandler = (error: TrackpipeError) => void;
