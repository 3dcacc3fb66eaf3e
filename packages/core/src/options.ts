import type { ErrorHandler, Logger } from './contracts.js';
import { TrackpipeError } from './errors.js';
import { consoleLogger } from './logger.js';
import type { EventQueue } from './queue.js';

/**
 * One numeric option: its bounds, default and meaning. The processor's validation, the config
 * schema (`@trackpipe/core/config`) and the README's option list are all derived from, or tested
 * against, these tables: one source of truth.
 */
export interface NumericOption {
  readonly kind: 'integer' | 'number';
  /** Smallest allowed value (inclusive). */
  readonly min: number;
  /** Largest allowed value (inclusive), when there is one besides the largest safe integer. */
  readonly max?: number;
  readonly default: number;
  /** One line: what the option means. */
  readonly doc: string;
}

/**
 * The longest delay a Node.js timer can wait, in ms (about 24.8 days). A longer one fires after 1 ms:
 * a timeout or backoff option above it would time every export out, or retry in a hot loop.
 */
export const MAX_TIMER_MS = 2_147_483_647;

const integer = (min: number, defaultValue: number, doc: string, max?: number): NumericOption =>
  max === undefined ? { kind: 'integer', min, default: defaultValue, doc } : { kind: 'integer', min, max, default: defaultValue, doc };
const number = (min: number, defaultValue: number, doc: string, max?: number): NumericOption =>
  max === undefined ? { kind: 'number', min, default: defaultValue, doc } : { kind: 'number', min, max, default: defaultValue, doc };

/** The queue and batching options of a processor (a pipeline's `batch` section in config). */
export const BATCH_OPTIONS = {
  maxQueueSize: integer(1, 10_000, 'Capacity in events of the queue and the batches waiting for a retry (per exporter).', 1_000_000_000),
  maxBatchSize: integer(1, 512, 'Events per batch at most; a full batch is exported at once (clamped to maxQueueSize).'),
  maxBatchBytes: integer(1, 1_048_576, 'Encoded bytes per batch at most; an event larger than this travels alone.'),
  flushIntervalMs: number(1, 5_000, 'A non-empty queue is exported at least this often, in ms.', MAX_TIMER_MS),
  maxConcurrentExports: integer(1, 2, 'Exports in flight at once.'),
  exportTimeoutMs: number(1, 10_000, 'An export still running after this many ms is aborted and retried.', MAX_TIMER_MS),
  closeTimeoutMs: number(0, 10_000, 'Default deadline of close(), in ms.', MAX_TIMER_MS),
  invalidWarningIntervalMs: number(0, 60_000, 'Invalid events are warned about at most once per this many ms.'),
} as const satisfies Record<string, NumericOption>;

/** The retry options of a processor (a pipeline's `retry` section in config). */
export const RETRY_OPTIONS = {
  initialBackoffMs: number(0, 1_000, 'First backoff ceiling in ms.', MAX_TIMER_MS),
  multiplier: number(1, 2, 'Growth of the ceiling per consecutive failure.'),
  maxBackoffMs: number(0, 5_000, 'Largest backoff ceiling in ms; Retry-After hints are clamped to it.', MAX_TIMER_MS),
  maxElapsedMs: number(0, 300_000, 'A batch still failing this many ms after its first attempt is dropped (retries_exhausted).'),
} as const satisfies Record<string, NumericOption>;

/** The overflow policies: what a full queue drops. */
export const OVERFLOW_POLICIES = ['drop-oldest', 'drop-newest'] as const;

type Numbers<T extends Record<string, NumericOption>> = { -readonly [K in keyof T]?: number };

/** Retry with exponential backoff and full jitter; see the README's "Retry" section. */
export type RetryOptions = Numbers<typeof RETRY_OPTIONS>;

/** Options of a {@link BatchProcessor}. Every field is optional; numeric defaults are in {@link BATCH_OPTIONS}. */
export interface BatchProcessorOptions extends Numbers<typeof BATCH_OPTIONS> {
  /** Pipeline name for logs and metric labels. Default `"default"`. */
  name?: string;
  /** What a full queue drops: the oldest queued event, or the one being recorded. Default `"drop-oldest"`. */
  overflow?: (typeof OVERFLOW_POLICIES)[number];
  /** Retry schedule and budget. Defaults in {@link RETRY_OPTIONS}. */
  retry?: RetryOptions;
  /** Where warnings and errors go. Default: the console. */
  logger?: Logger;
  /** Called with every error the processor reports (rejections, drops, timeouts). */
  onError?: ErrorHandler;
  /**
   * Attach the active OpenTelemetry span's `traceId` and `spanId` (read through `@opentelemetry/api`)
   * to each recorded event that has none. Costs a context lookup per record. Default false.
   */
  traceContext?: boolean;
  /**
   * The queue in front of the exporter. Default: a `MemoryQueue` of `maxQueueSize` events with the
   * `overflow` policy. Pass a spool (`@trackpipe/spool`) to keep events on disk; the processor owns it
   * from then on and closes it.
   */
  queue?: EventQueue<never>;
  /** Source of randomness for the jitter, in [0, 1). Default `Math.random`; tests pin it. */
  random?: () => number;
}

/** Options with every default applied. */
export type ResolvedOptions = { readonly [K in keyof typeof BATCH_OPTIONS]: number } & {
  readonly name: string;
  readonly overflow: (typeof OVERFLOW_POLICIES)[number];
  readonly retry: { readonly [K in keyof typeof RETRY_OPTIONS]: number };
  readonly logger: Logger;
  readonly onError: ErrorHandler | undefined;
  readonly traceContext: boolean;
  readonly random: () => number;
};

/** The problem with `value` for `option`, or undefined when it is valid. Words the rule, never the value. */
export function checkNumber(option: NumericOption, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    value >= option.min &&
    (option.max === undefined || value <= option.max) &&
    (option.kind === 'number' || Number.isSafeInteger(value));
  if (ok) return undefined;
  return `must be ${describeBounds(option)}`;
}

/** The bounds of an option in words: `an integer >= 1`, `a finite number from 1 to 2147483647`. */
function describeBounds(option: NumericOption): string {
  const kind = option.kind === 'integer' ? 'an integer' : 'a finite number';
  return option.max === undefined ? `${kind} >= ${option.min}` : `${kind} from ${option.min} to ${option.max}`;
}

/**
 * The `timeoutMs` given to flush() or close(), made safe for a timer: undefined when it is not a
 * number (NaN included: the caller's default applies), at least 0, and Infinity for anything longer
 * than a timer can wait (no deadline; `Infinity` is the way to ask for none).
 */
export function callerTimeout(value: unknown): number | undefined {
  if (typeof value !== 'number' || Number.isNaN(value)) return undefined;
  return value > MAX_TIMER_MS ? Number.POSITIVE_INFINITY : Math.max(0, value);
}

/**
 * {@link callerTimeout} of the options object given to flush() or close(). Never throws: options that
 * cannot be read (a revoked proxy, a `timeoutMs` getter that throws) count as none given, so that the
 * call still answers a promise and the caller's default applies.
 */
export function callerTimeoutOf(options: unknown): number | undefined {
  try {
    return callerTimeout((options as { timeoutMs?: unknown } | null | undefined)?.timeoutMs);
  } catch {
    return undefined;
  }
}

function resolveTable<T extends Record<string, NumericOption>>(
  table: T,
  given: Record<string, unknown>,
  prefix: string,
): { -readonly [K in keyof T]: number } {
  const out = {} as Record<string, number>;
  for (const [key, option] of Object.entries(table)) {
    const value = given[key];
    const problem = checkNumber(option, value);
    if (problem !== undefined) {
      throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', `${prefix}${key} ${problem}`, { details: { option: `${prefix}${key}` } });
    }
    out[key] = (value as number | undefined) ?? option.default;
  }
  return out as { -readonly [K in keyof T]: number };
}

function invalidOption(option: string, message: string): never {
  throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', `${option} ${message}`, { details: { option } });
}

/**
 * Copies the options named `names` (those that are not undefined) out of what the application gave,
 * each read once. A revoked proxy, or a getter that throws, fails like any bad option —
 * TRACKPIPE_ERR_OPTIONS_INVALID naming it (`path` + name) — never with what it threw. `undefined` is
 * no options; anything else that is not an object is refused.
 */
export function readOptions(options: unknown, names: readonly string[], path: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (options === undefined) return out;
  const where = path === '' ? 'options' : path.replace(/\.$/, '');
  if (options === null || typeof options !== 'object') invalidOption(where, 'must be an object');
  try {
    Reflect.getPrototypeOf(options);
  } catch {
    invalidOption(where, 'could not be read (a revoked proxy?)');
  }
  for (const name of names) {
    let value: unknown;
    try {
      value = (options as Record<string, unknown>)[name];
    } catch {
      invalidOption(`${path}${name}`, 'could not be read (its getter or a proxy threw)');
    }
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** The options of a {@link BatchProcessorOptions} object that {@link resolveOptions} reads (`queue` is the processor's). */
const PROCESSOR_OPTIONS = [...Object.keys(BATCH_OPTIONS), 'name', 'overflow', 'retry', 'logger', 'onError', 'traceContext', 'random'];

/** Applies defaults and checks every option; throws TRACKPIPE_ERR_OPTIONS_INVALID naming the bad one. */
export function resolveOptions(given: BatchProcessorOptions = {}): ResolvedOptions {
  const options = readOptions(given, PROCESSOR_OPTIONS, '') as BatchProcessorOptions;
  const logger = options.logger ?? consoleLogger;
  const batch = resolveTable(BATCH_OPTIONS, options as Record<string, unknown>, '');
  // null was taken as no retry options, as undefined.
  const retry = resolveTable(RETRY_OPTIONS, readOptions(options.retry ?? undefined, Object.keys(RETRY_OPTIONS), 'retry.'), 'retry.');
  if (batch.maxBatchSize > batch.maxQueueSize) {
    logger.warn(`maxBatchSize (${batch.maxBatchSize}) exceeds maxQueueSize; clamped to ${batch.maxQueueSize}`);
    batch.maxBatchSize = batch.maxQueueSize;
  }
  if (retry.maxBackoffMs < retry.initialBackoffMs) {
    logger.warn(`retry.maxBackoffMs (${retry.maxBackoffMs}) is below retry.initialBackoffMs; raised to ${retry.initialBackoffMs}`);
    retry.maxBackoffMs = retry.initialBackoffMs;
  }
  const overflow = options.overflow ?? 'drop-oldest';
  if (!OVERFLOW_POLICIES.includes(overflow)) {
    throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', `overflow must be "drop-oldest" or "drop-newest"`, { details: { option: 'overflow' } });
  }
  if (options.random !== undefined && typeof options.random !== 'function') {
    throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', 'random must be a function returning a number in [0, 1)', { details: { option: 'random' } });
  }
  if (options.name !== undefined && (typeof options.name !== 'string' || options.name === '')) {
    throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', 'name must be a non-empty string', { details: { option: 'name' } });
  }
  return {
    ...batch,
    name: options.name ?? 'default',
    overflow,
    retry,
    logger,
    onError: options.onError,
    traceContext: options.traceContext === true,
    random: options.random ?? Math.random,
  };
}
