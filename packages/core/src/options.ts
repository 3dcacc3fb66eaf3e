import type { ErrorHandler, Logger } from './contracts.js';
import { TrackpipeError } from './errors.js';
import { consoleLogger } from './logger.js';

/** Retry with exponential backoff and full jitter. The schedule belongs to the exporter, the budget to each batch. */
export interface RetryOptions {
  /** First backoff ceiling in ms. Default 1 000. */
  initialBackoffMs?: number;
  /** Growth of the ceiling per consecutive failure. Default 2. */
  multiplier?: number;
  /** Largest backoff ceiling in ms. Default 30 000. */
  maxBackoffMs?: number;
  /** A batch whose retries would go past this many ms after its first attempt is dropped (`retries_exhausted`). Default 300 000. */
  maxElapsedMs?: number;
}

/** Options of a {@link BatchProcessor}. Every field is optional; defaults follow each. */
export interface BatchProcessorOptions {
  /** Pipeline name for logs and metric labels. Default `"default"`. */
  name?: string;
  /** Queue capacity in events. Default 10 000. */
  maxQueueSize?: number;
  /** What a full queue drops: the oldest queued event, or the one being recorded. Default `"drop-oldest"`. */
  overflow?: 'drop-oldest' | 'drop-newest';
  /** Events per batch at most; a full batch is exported at once. Default 512 (clamped to `maxQueueSize`). */
  maxBatchSize?: number;
  /** Serialized bytes per batch at most (a single larger event travels alone). Default 1 048 576. */
  maxBatchBytes?: number;
  /** A non-empty queue is exported at least this often, in ms. Default 5 000. */
  flushIntervalMs?: number;
  /** Exports in flight at once. Default 2. */
  maxConcurrentExports?: number;
  /** An export still running after this many ms is aborted and retried. Default 30 000. */
  exportTimeoutMs?: number;
  /** Default deadline of `close()`, in ms. Default 10 000. */
  closeTimeoutMs?: number;
  /** Retry schedule and budget. */
  retry?: RetryOptions;
  /** Invalid events are warned about at most once per this many ms. Default 60 000. */
  invalidWarningIntervalMs?: number;
  /** Where warnings and errors go. Default: the console. */
  logger?: Logger;
  /** Called with every error the processor reports (rejections, drops, timeouts). */
  onError?: ErrorHandler;
  /**
   * Attach the active OpenTelemetry span's `traceId` and `spanId` (read through `@opentelemetry/api`)
   * to each recorded event that has none. Costs a context lookup per record. Default false.
   */
  traceContext?: boolean;
  /** Source of randomness for the jitter, in [0, 1). Default `Math.random`; tests pin it. */
  random?: () => number;
}

/** Options with every default applied. */
export interface ResolvedOptions {
  readonly name: string;
  readonly maxQueueSize: number;
  readonly overflow: 'drop-oldest' | 'drop-newest';
  readonly maxBatchSize: number;
  readonly maxBatchBytes: number;
  readonly flushIntervalMs: number;
  readonly maxConcurrentExports: number;
  readonly exportTimeoutMs: number;
  readonly closeTimeoutMs: number;
  readonly retry: Required<RetryOptions>;
  readonly invalidWarningIntervalMs: number;
  readonly logger: Logger;
  readonly onError: ErrorHandler | undefined;
  readonly traceContext: boolean;
  readonly random: () => number;
}

function invalid(path: string, rule: string, value: unknown): never {
  throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', `${path} must be ${rule} (got ${String(value)})`, {
    details: { option: path },
  });
}

function integer(path: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) invalid(path, `an integer >= ${min}`, value);
  return value;
}

function duration(path: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) invalid(path, `a finite number >= ${min}`, value);
  return value;
}

/** Applies defaults and checks every option; throws TRACKPIPE_ERR_OPTIONS_INVALID naming the bad one. */
export function resolveOptions(options: BatchProcessorOptions = {}): ResolvedOptions {
  const logger = options.logger ?? consoleLogger;
  const maxQueueSize = integer('maxQueueSize', options.maxQueueSize, 10_000, 1);
  let maxBatchSize = integer('maxBatchSize', options.maxBatchSize, 512, 1);
  if (maxBatchSize > maxQueueSize) {
    logger.warn(`maxBatchSize (${maxBatchSize}) exceeds maxQueueSize; clamped to ${maxQueueSize}`);
    maxBatchSize = maxQueueSize;
  }
  const overflow = options.overflow ?? 'drop-oldest';
  if (overflow !== 'drop-oldest' && overflow !== 'drop-newest') invalid('overflow', '"drop-oldest" or "drop-newest"', overflow);
  const retry = options.retry ?? {};
  const initialBackoffMs = duration('retry.initialBackoffMs', retry.initialBackoffMs, 1_000, 0);
  let maxBackoffMs = duration('retry.maxBackoffMs', retry.maxBackoffMs, 30_000, 0);
  if (maxBackoffMs < initialBackoffMs) {
    logger.warn(`retry.maxBackoffMs (${maxBackoffMs}) is below retry.initialBackoffMs; raised to ${initialBackoffMs}`);
    maxBackoffMs = initialBackoffMs;
  }
  if (options.name !== undefined && (typeof options.name !== 'string' || options.name === '')) {
    invalid('name', 'a non-empty string', options.name);
  }
  return {
    name: options.name ?? 'default',
    maxQueueSize,
    overflow,
    maxBatchSize,
    maxBatchBytes: integer('maxBatchBytes', options.maxBatchBytes, 1_048_576, 1),
    flushIntervalMs: duration('flushIntervalMs', options.flushIntervalMs, 5_000, 1),
    maxConcurrentExports: integer('maxConcurrentExports', options.maxConcurrentExports, 2, 1),
    exportTimeoutMs: duration('exportTimeoutMs', options.exportTimeoutMs, 30_000, 1),
    closeTimeoutMs: duration('closeTimeoutMs', options.closeTimeoutMs, 10_000, 0),
    retry: {
      initialBackoffMs,
      multiplier: duration('retry.multiplier', retry.multiplier, 2, 1),
      maxBackoffMs,
      maxElapsedMs: duration('retry.maxElapsedMs', retry.maxElapsedMs, 300_000, 0),
    },
    invalidWarningIntervalMs: duration('invalidWarningIntervalMs', options.invalidWarningIntervalMs, 60_000, 0),
    logger,
    onError: options.onError,
    traceContext: options.traceContext === true,
    random: options.random ?? Math.random,
  };
}

/**
 * Full-jitter backoff: a uniform delay in [0, min(maxBackoffMs, initialBackoffMs × multiplier^attempt)).
 * `attempt` counts consecutive failures before this one, from 0.
 */
export function backoffDelay(retry: Required<RetryOptions>, attempt: number, random: () => number): number {
  const ceiling = Math.min(retry.maxBackoffMs, retry.initialBackoffMs * retry.multiplier ** attempt);
  return Math.floor(random() * ceiling);
}
