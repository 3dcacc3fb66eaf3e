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
  readonly #logger: ServiceLogger;
  #draining = false;
  #pressured = false;
  #refusedWhilePressured = 0;
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
    this.#logger = options.logger ?? silentServiceLogger;
  }

  /** True once {@link startDraining} was called: every later request is refused. */
  get draining(): boolean {
    return this.#draining;
  }

  /** Events accepted (queued) so far. */
  get accepted(): number {
    return this.#accepted;
  }

  /** Refuses every later request (`draining`). Idempotent. */
  startDraining(): void {
    this.#draining = true;
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
      this.#refusedWhilePressured += n;
      if (!this.#pressured) {
        this.#pressured = true;
        this.#logger.warn('queue above its high-water mark: refusing events until it drains', {
          queued: fullest?.queued,
          capacity: fullest?.queueCapacity,
          highWaterMark: this.#highWaterMark,
        });
      }
      return this.#refuse('overloaded', 'the queue is full; retry later');
    }
    if (this.#pressured) {
      this.#pressured = false;
      this.#logger.info('queue below its high-water mark: accepting events again', { refused: this.#refusedWhilePressured });
      this.#refusedWhilePressured = 0;
    }
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
