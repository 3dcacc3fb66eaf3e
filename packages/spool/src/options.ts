import { type Logger, type OverflowPolicy, TrackpipeError, consoleLogger } from '@trackpipe/core';
import { issuesFromZod, safeErrorMap } from '@trackpipe/core/config';
import * as z from 'zod';
import { guardLogger } from './safe-logger.js';

const int = (min: number, max: number = Number.MAX_SAFE_INTEGER) => z.number().int().min(min).max(max);

/**
 * The options of a spool as data: the one source of their bounds and defaults, used by `new Spool()`
 * and, as a pipeline's `spool` section, by the configuration (`@trackpipe/spool/di`).
 */
export const spoolOptionsSchema = z.strictObject({
  /** Directory of the spool; created when absent. One process and one spool per directory. Required. */
  path: z.string().min(1),
  /** Bound on the stored events, in bytes of their encoded (JSON) form. Default 1 GiB. */
  maxBytes: int(1024).default(1024 * 1024 * 1024),
  /** Group commits. */
  sync: z
    .strictObject({
      /** Milliseconds between the starts of two group commits (at most one commit runs at a time). Default 5. */
      intervalMs: int(0, 60_000).default(5),
      /** A group is committed at once when it holds this many events; also the most events one stored value holds. Default 512. */
      maxEvents: int(1, 1_000_000).default(512),
    })
    .prefault({}),
  /** What a full spool drops: the oldest waiting event, or the one being pushed. Counted as `spool_full`. Default `"drop-oldest"`. */
  overflow: z.enum(['drop-oldest', 'drop-newest']).default('drop-oldest'),
  /**
   * Events waiting for their group commit, at most (1 to 1e9, as core's `maxQueueSize`). Reached only
   * when the disk cannot keep up; new events are then dropped (counted as `queue_full`) whatever the
   * overflow policy. Default 100 000.
   */
  maxPendingEvents: int(1, 1_000_000_000).default(100_000),
  /**
   * Committed events kept in memory for the head of the queue, so that batches are taken without
   * reading the disk; during an outage the rest waits on disk only. At least `sync.maxEvents`. Default 4096
   * (eight batches of 512): memory does not grow with the backlog.
   */
  memoryEvents: int(1, 100_000_000).default(4096),
});

/** When the spool writes its group commits. */
export type SpoolSyncOptions = z.input<typeof spoolOptionsSchema>['sync'];

/** Options of a {@link Spool}: the data options (see {@link spoolOptionsSchema}) plus code-only ones. */
export type SpoolOptions = z.input<typeof spoolOptionsSchema> & {
  /** Where the spool reports moved-aside files and failed commits. Default: the console. */
  logger?: Logger;
  /** Called with the duration of every successful group commit, in seconds (metrics use it). */
  onCommit?: (seconds: number) => void;
};

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
  readonly onCommit: ((seconds: number) => void) | undefined;
}

/** Applies defaults and checks every option; a bad one throws TRACKPIPE_ERR_OPTIONS_INVALID naming its path (`spool.<field>`), never its value. */
export function resolveSpoolOptions(options: SpoolOptions): ResolvedSpoolOptions {
  const { logger = consoleLogger, onCommit, ...data } = (typeof options === 'object' && options !== null ? options : {}) as SpoolOptions;
  const parsed = spoolOptionsSchema.safeParse(data, { error: safeErrorMap });
  if (!parsed.success) {
    const issues = issuesFromZod(parsed.error, 'spool');
    throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', issues.map((i) => `${i.path} ${i.message}`).join('; '), {
      details: { field: issues[0]?.path ?? 'spool', issues },
    });
  }
  // Checked here, not when first used: a logger that cannot log would fail inside a commit's error path.
  if (logger === null || typeof logger !== 'object' || typeof logger.warn !== 'function' || typeof logger.error !== 'function') {
    throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', 'spool.logger must be an object with warn() and error() methods', {
      details: { field: 'spool.logger' },
    });
  }
  if (onCommit !== undefined && typeof onCommit !== 'function') {
    throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', `spool.onCommit must be a function (got ${typeof onCommit})`, {
      details: { field: 'spool.onCommit' },
    });
  }
  const o = parsed.data;
  const safe = guardLogger(logger);
  let memoryEvents = o.memoryEvents;
  if (memoryEvents < o.sync.maxEvents) {
    safe.warn(`spool.memoryEvents (${memoryEvents}) is below spool.sync.maxEvents (${o.sync.maxEvents}); using ${o.sync.maxEvents}`, { path: o.path });
    memoryEvents = o.sync.maxEvents;
  }
  return {
    path: o.path,
    maxBytes: o.maxBytes,
    intervalMs: o.sync.intervalMs,
    maxEvents: o.sync.maxEvents,
    overflow: o.overflow,
    maxPendingEvents: o.maxPendingEvents,
    memoryEvents,
    logger: safe,
    onCommit,
  };
}
