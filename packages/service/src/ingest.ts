import { type Collector, type CollectorStats, TrackpipeError, nextEventId } from '@trackpipe/core';
import { type ServiceLogger, silentServiceLogger } from './logger.js';
import type { IngestEvent } from './validate.js';

/** Something whose queue can be watched: a processor, a collector. */
export interface QueueSource {
  stats(): CollectorStats;
}

/** Options of an {@link Ingestor}. Every field is optional; defaults follow each. */
export interface IngestorOptions {
  /**
   * The queues that must have room for an event to be accepted: one per exporter, since each
   * exporter of a fan-out has its own. Default `[collector]` (right for a single `BatchProcessor`).
   */
  queues?: readonly QueueSource[];
  /**
   * Share of each queue's capacity, in (0, 1], that may be filled by accepted events; past it,
   * requests are refused (503 / RESOURCE_EXHAUSTED). Below 1 it leaves headroom. Default 1.
   */
  highWaterMark?: number;
  /** Seconds a refused client is told to wait (`Retry-After`). Default 1. */
  retryAfterSeconds?: number;
  /** Where backpressure changes are logged. Default: nowhere. */
  logger?: ServiceLogger;
  /**
   * Backpressure changes are logged at most once per this many ms: the first change at once, later
   * ones in one line per interval with the counts since the last line (so a queue flapping around
   * its high-water mark writes one line every few seconds, not one per request). Default 5 000.
   */
  logIntervalMs?: number;
}

/** Why a request's events were not accepted. */
export type RefusedReason = 'overloaded' | 'draining' | 'too_large';

/** What {@link Ingestor.admit} answers. */
export type Admission =
  | { readonly ok: true; readonly ids: readonly string[] }
  | { readonly ok: false; readonly reason: RefusedReason; readonly message: string; readonly retryAfterSeconds: number };

/**
 * The transport-neutral heart of ingest: checks that every queue has room for all the events of a
 * request, then records them all, or none. Because the check and the records run in one synchronous
 * step, "accepted" always means "queued": the processor never drops an accepted event for lack of
 * room (`queue_full`). Nothing here awaits an exporter.
 */
export class Ingestor {
  readonly #collector: Collector<IngestEvent>;
  readonly #queues: readonly QueueSource[];
  readonly #highWaterMark: number;
  readonly #retryAfterSeconds: number;
  readonly #pressure: PressureLog;
  #draining = false;
  #accepted = 0;

  constructor(collector: Collector<IngestEvent>, options: IngestorOptions = {}) {
    const highWaterMark = options.highWaterMark ?? 1;
    if (typeof highWaterMark !== 'number' || !(highWaterMark > 0 && highWaterMark <= 1)) {
      throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', `highWaterMark must be a number in (0, 1] (got ${String(highWaterMark)})`, {
        details: { option: 'highWaterMark' },
      });
    }
    const retryAfterSeconds = options.retryAfterSeconds ?? 1;
    if (!Number.isInteger(retryAfterSeconds) || retryAfterSeconds < 0) {
      throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', `retryAfterSeconds must be an integer >= 0 (got ${String(retryAfterSeconds)})`, {
        details: { option: 'retryAfterSeconds' },
      });
    }
    this.#collector = collector;
    this.#queues = options.queues !== undefined && options.queues.length > 0 ? [...options.queues] : [collector];
    this.#highWaterMark = highWaterMark;
    this.#retryAfterSeconds = retryAfterSeconds;
    const logIntervalMs = options.logIntervalMs ?? 5_000;
    if (!Number.isInteger(logIntervalMs) || logIntervalMs < 0) {
      throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', `logIntervalMs must be an integer >= 0 (got ${String(logIntervalMs)})`, {
        details: { option: 'logIntervalMs' },
      });
    }
    this.#pressure = new PressureLog(options.logger ?? silentServiceLogger, logIntervalMs);
  }

  /** True once {@link startDraining} was called: every later request is refused. */
  get draining(): boolean {
    return this.#draining;
  }

  /** Events accepted (queued) so far. */
  get accepted(): number {
    return this.#accepted;
  }

  /** Refuses every later request (`draining`), and logs a pending backpressure line now. Idempotent. */
  startDraining(): void {
    this.#draining = true;
    this.#pressure.flush();
  }

  /** The most events one request could ever bring: the smallest queue's high-water limit. */
  limit(): number {
    let limit = Number.POSITIVE_INFINITY;
    for (const queue of this.#queues) limit = Math.min(limit, this.#limitOf(queue.stats()));
    return limit;
  }

  /** How many events would be accepted right now. */
  room(): number {
    let room = Number.POSITIVE_INFINITY;
    for (const queue of this.#queues) {
      const s = queue.stats();
      room = Math.min(room, this.#limitOf(s) - s.queued);
    }
    return Math.max(0, room);
  }

  /**
   * Accepts all of `events` (assigning `id` and `timestamp` where absent, and recording each), or
   * none of them: when draining, when they could never fit (`too_large`), or when they do not fit
   * now (`overloaded`). Synchronous.
   */
  admit(events: readonly IngestEvent[]): Admission {
    const n = events.length;
    if (this.#draining) return this.#refuse('draining', 'the service is shutting down');
    let room = Number.POSITIVE_INFINITY;
    let limit = Number.POSITIVE_INFINITY;
    let fullest: CollectorStats | undefined;
    for (const queue of this.#queues) {
      const s = queue.stats();
      const queueLimit = this.#limitOf(s);
      limit = Math.min(limit, queueLimit);
      if (queueLimit - s.queued < room) {
        room = queueLimit - s.queued;
        fullest = s;
      }
    }
    if (n > limit) return this.#refuse('too_large', `${n} events can never fit: the queue accepts at most ${limit} at once`);
    if (n > room) {
      this.#pressure.refused(n, { queued: fullest?.queued, capacity: fullest?.queueCapacity, highWaterMark: this.#highWaterMark });
      return this.#refuse('overloaded', 'the queue is full; retry later');
    }
    this.#pressure.accepted();
    const ids: string[] = new Array<string>(n);
    const now = Date.now();
    for (let i = 0; i < n; i++) {
      const event = events[i]!;
      event.timestamp ??= now;
      event.id ??= nextEventId(now);
      ids[i] = event.id;
      this.#collector.record(event);
    }
    this.#accepted += n;
    return { ok: true, ids };
  }

  #limitOf(s: CollectorStats): number {
    return Math.max(1, Math.floor(s.queueCapacity * this.#highWaterMark));
  }

  #refuse(reason: RefusedReason, message: string): Admission {
    return { ok: false, reason, message, retryAfterSeconds: this.#retryAfterSeconds };
  }
}

/**
 * The log of backpressure state changes, rate-limited: a change is logged at once when no line was
 * written in the last `intervalMs`; otherwise one line at the end of the interval tells the state
 * then, how often it changed and what was refused since the last line. Under a queue flapping
 * around its high-water mark that is one line per interval instead of one per request.
 */
class PressureLog {
  readonly #logger: ServiceLogger;
  readonly #intervalMs: number;
  #pressured = false;
  #lastLineAt = Number.NEGATIVE_INFINITY;
  #changes = 0;
  #refusedRequests = 0;
  #refusedEvents = 0;
  #queue: Record<string, unknown> = {};
  #timer: NodeJS.Timeout | undefined;

  constructor(logger: ServiceLogger, intervalMs: number) {
    this.#logger = logger;
    this.#intervalMs = intervalMs;
  }

  /** A request of `events` events was refused for lack of room; `queue` describes the fullest queue. */
  refused(events: number, queue: Record<string, unknown>): void {
    this.#refusedRequests++;
    this.#refusedEvents += events;
    this.#queue = queue;
    this.#set(true);
  }

  /** A request was accepted. */
  accepted(): void {
    this.#set(false);
  }

  /** Writes the pending line, if any, now. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#line();
  }

  #set(pressured: boolean): void {
    if (pressured === this.#pressured) return;
    this.#pressured = pressured;
    this.#changes++;
    const wait = this.#lastLineAt + this.#intervalMs - Date.now();
    if (wait <= 0) {
      this.flush();
    } else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#line();
      }, wait);
      this.#timer.unref();
    }
  }

  #line(): void {
    if (this.#changes === 0) return;
    const counts = { changes: this.#changes, refused: this.#refusedEvents, refusedRequests: this.#refusedRequests };
    if (this.#pressured) this.#logger.warn('queue above its high-water mark: refusing events until it drains', { ...this.#queue, ...counts });
    else this.#logger.info('queue below its high-water mark: accepting events again', counts);
    this.#lastLineAt = Date.now();
    this.#changes = 0;
    this.#refusedRequests = 0;
    this.#refusedEvents = 0;
  }
}
