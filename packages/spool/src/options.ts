import { type Logger, type OverflowPolicy, TrackpipeError, consoleLogger } from '@trackpipe/core';

/** When the spool writes its group commits. */
export interface SpoolSyncOptions {
  /** Milliseconds between the starts of two group commits (at most one commit runs at a time). Default 5. */
  intervalMs?: number;
  /**
   * A group is committed at once when it holds this many events; it is also the most events one
   * stored value holds (a commit of a backlog writes up to four). Default 4096.
   */
  maxEvents?: number;
}

/** Options of a {@link Spool}. */
export interface SpoolOptions {
  /** Directory of the spool; created when absent. One process and one spool per directory. Required. */
  path: string;
  /** Bound on the stored events, in bytes of their encoded (JSON) form. Default 1 GiB. */
  maxBytes?: number;
  /** Group commits. */
  sync?: SpoolSyncOptions;
  /**
   * What a full spool drops: `'drop-oldest'` (default: the oldest waiting event makes room) or
   * `'drop-newest'` (the event being pushed). Counted as `spool_full`.
   */
  overflow?: OverflowPolicy;
  /**
   * Events waiting for their group commit, at most. Reached only when the disk cannot keep up; new
   * events are then dropped (counted as `queue_full`) whatever the overflow policy. Default 100 000.
   */
  maxPendingEvents?: number;
  /**
   * Committed events the spool keeps in memory for the head of the queue, so that batches are taken
   * without reading the disk. During an outage the rest waits on disk only. At least `sync.maxEvents`.
   * Default 32 768.
   */
  memoryEvents?: number;
  /** Where the spool reports recovery, moved-aside files and failed commits. Default: the console. */
  logger?: Logger;
}

/** {@link SpoolOptions} with every default applied. */
export interface ResolvedSpoolOptions {
  readonly path: string;
  readonly maxBytes: number;
  readonly intervalMs: number;
  readonly maxEvents: number;
  readonly overflow: OverflowPolicy;
  readonly maxPendingEvents: number;
  readonly memoryEvents: number;
  readonly logger: Logger;
}

/** The defaults, one place. */
export const SPOOL_DEFAULTS = {
  maxBytes: 1024 * 1024 * 1024,
  intervalMs: 5,
  maxEvents: 4096,
  overflow: 'drop-oldest',
  maxPendingEvents: 100_000,
  memoryEvents: 32_768,
} as const;

function invalid(field: string, problem: string): TrackpipeError {
  return new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', `spool.${field} ${problem}`, { details: { field: `spool.${field}` } });
}

function integer(value: unknown, field: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(field, `must be an integer from ${min} to ${max}`);
  }
  return value;
}

function oneOf<T extends string>(value: unknown, field: string, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T)) throw invalid(field, `must be one of ${allowed.map((a) => `'${a}'`).join(', ')}`);
  return value as T;
}

/** Applies defaults and checks every option; a bad one throws a TrackpipeError naming its path (`spool.<field>`). */
export function resolveSpoolOptions(options: SpoolOptions): ResolvedSpoolOptions {
  if (typeof options !== 'object' || options === null) throw invalid('path', 'is required (options must be an object)');
  if (typeof options.path !== 'string' || options.path.length === 0) throw invalid('path', 'must be a non-empty string');
  const sync = options.sync ?? {};
  if (typeof sync !== 'object' || sync === null) throw invalid('sync', 'must be an object');
  const maxEvents = integer(sync.maxEvents, 'sync.maxEvents', SPOOL_DEFAULTS.maxEvents, 1, 1_000_000);
  const logger = options.logger ?? consoleLogger;
  let memoryEvents = integer(options.memoryEvents, 'memoryEvents', SPOOL_DEFAULTS.memoryEvents, 1, 100_000_000);
  if (memoryEvents < maxEvents) {
    logger.warn(`spool.memoryEvents (${memoryEvents}) is below spool.sync.maxEvents (${maxEvents}); using ${maxEvents}`, {
      path: options.path,
    });
    memoryEvents = maxEvents;
  }
  return {
    path: options.path,
    maxBytes: integer(options.maxBytes, 'maxBytes', SPOOL_DEFAULTS.maxBytes, 1024),
    intervalMs: integer(sync.intervalMs, 'sync.intervalMs', SPOOL_DEFAULTS.intervalMs, 0, 60_000),
    maxEvents,
    overflow: oneOf<OverflowPolicy>(options.overflow, 'overflow', ['drop-oldest', 'drop-newest'], SPOOL_DEFAULTS.overflow),
    maxPendingEvents: integer(options.maxPendingEvents, 'maxPendingEvents', SPOOL_DEFAULTS.maxPendingEvents, 1),
    memoryEvents,
    logger,
  };
}
