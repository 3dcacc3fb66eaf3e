import { type Collector, TrackpipeError, describeError } from '@trackpipe/core';
import { type ServiceLogger, silentServiceLogger } from './logger.js';
import { durationOption, integerOption } from './options.js';
import type { IngestEvent } from './validate.js';

/** Options of an {@link Ingestor}. Every field is optional; defaults follow each. */
export interface IngestorOptions {
  /**
   * Share of each queue's capacity, in (0, 1], that may be filled by accepted events; past it,
   * requests are refused (503 / RESOURCE_EXHAUSTED). Below 1 it leaves headroom. Default 1.
   */
  highWaterMark?: number;
  /**
   * Seconds a refused client is told to wait (`Retry-After`), an integer from 0 to
   * {@link MAX_RETRY_AFTER_SECONDS} (3 600). Default 1.
   */
  retryAfterSeconds?: number;
  /** Where backpressure changes are logged. Default: nowhere. */
  logger?: ServiceLogger;
  /**
   * Backpressure changes are logged at most once per this many ms: the first change at once, later
   * ones in one line per interval with the counts since the last line (so a queue flapping around
   * its high-water mark writes one line every few seconds, not one per request). Default 5 000.
   */
  logIntervalMs?: number;
  /**
   * Every pipeline keeps its queues on disk (a spool): an acknowledgement means "on disk", so a
   * failed commit (`persisted()` answering false) must not be acknowledged. Default false: queues in
   * memory, whose `persisted()` answers false by nature.
   */
  durable?: boolean;
}

/**
 * The longest `Retry-After` the service tells a refused client, in seconds: an hour. Backpressure
 * lasts seconds; a larger value is a mistake (milliseconds written as seconds) that would keep every
 * well-behaved client away for hours.
 */
export const MAX_RETRY_AFTER_SECONDS = 3_600;

/** Why a request's events were not accepted (or acknowledged): they could never fit, the queue was full, the service was draining, or a spool could not commit them (`storage`). */
export type RefusedReason = 'overloaded' | 'draining' | 'too_large' | 'storage';

/** What {@link Ingestor.admit} answers. */
export type Admission =
  | { readonly ok: true; readonly ids: readonly string[] }
  | { readonly ok: false; readonly reason: RefusedReason; readonly message: string; readonly retryAfterSeconds: number };

/**
 * The transport-neutral heart of ingest: asks the collector for its headroom (`Collector.headroom`,
 * which a fan-out answers for its fullest queue) and records all the events of a request, or none.
 * Because the check and the records run in one synchronous step, "accepted" always means "queued":
 * the processor never drops an accepted event for lack of room (`queue_full`). Nothing here awaits
 * an exporter; {@link persisted} says when accepted events are durable.
 */
export class Ingestor {
  readonly #collector: Collector<IngestEvent>;
  readonly #highWaterMark: number;
  readonly #retryAfterSeconds: number;
  readonly #pressure: PressureLog;
  readonly #logger: ServiceLogger;
  readonly #durable: boolean;
  /** The most room the collector has had (at its high-water mark) since the start: a larger request can never fit. */
  #limit: number;
  #draining = false;
  #accepted = 0;

  constructor(collector: Collector<IngestEvent>, options: IngestorOptions = {}) {
    const highWaterMark = options.highWaterMark ?? 1;
    if (typeof highWaterMark !== 'number' || !(highWaterMark > 0 && highWaterMark <= 1)) {
      throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', `highWaterMark must be a number in (0, 1] (got ${String(highWaterMark)})`, {
        details: { option: 'highWaterMark' },
      });
    }
    const retryAfterSeconds = integerOption('retryAfterSeconds', options.retryAfterSeconds, 1, 0, MAX_RETRY_AFTER_SECONDS);
    this.#collector = collector;
    this.#highWaterMark = highWaterMark;
    this.#retryAfterSeconds = retryAfterSeconds;
    const logIntervalMs = durationOption('logIntervalMs', options.logIntervalMs, 5_000, 0);
    this.#logger = options.logger ?? silentServiceLogger;
    this.#durable = options.durable === true;
    this.#pressure = new PressureLog(this.#logger, logIntervalMs);
    // A collector starts with empty queues: its room now is its high-water limit.
    this.#limit = Math.max(1, collector.headroom(highWaterMark));
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

  /**
   * The most events one request could ever bring: the most room the collector has had at its
   * high-water mark (its limit, since queues start empty).
   */
  limit(): number {
    return this.#limit;
  }

  /** How many events would be accepted right now. */
  room(): number {
    return this.#collector.headroom(this.#highWaterMark);
  }

  /**
   * Accepts all of `events` (recording each: `record()` assigns `id` and `timestamp` where absent),
   * or none of them: when draining, when they could never fit (`too_large`), or when they do not fit
   * now (`overloaded`). Synchronous.
   */
  admit(events: readonly IngestEvent[]): Admission {
    const n = events.length;
    if (this.#draining) return this.#refuse('draining', 'the service is shutting down');
    const room = this.#collector.headroom(this.#highWaterMark);
    if (room > this.#limit) this.#limit = room;
    if (n > this.#limit) return this.#refuse('too_large', `${n} events can never fit: the queue accepts at most ${this.#limit} at once`);
    if (n > room) {
      this.#pressure.refused(n, { room, highWaterMark: this.#highWaterMark });
      return this.#refuse('overloaded', 'the queue is full; retry later');
    }
    this.#pressure.accepted();
    // The ids go back to the client (the 202 body, the gRPC answer) and into the idempotency store,
    // so they are read right after record(), which assigns them in place (the Collector contract).
    const ids: string[] = new Array<string>(n);
    for (let i = 0; i < n; i++) {
      const event = events[i]!;
      this.#collector.record(event);
      ids[i] = event.id as string;
    }
    this.#accepted += n;
    return { ok: true, ids };
  }

  /**
   * Waits until every event accepted so far may be acknowledged (`Collector.persisted()`): at once
   * with in-memory queues, after the group commit with a spool. Answer 202 / OK only after it, and
   * only when it says `true`: `false` means a durable service could not commit (answer 503, the client
   * retries; the events stay queued and the spool commits them again). Never rejects.
   */
  async persisted(): Promise<boolean> {
    let durable: boolean;
    try {
      durable = await this.#collector.persisted();
    } catch (error) {
      this.#logger.error('the collector could not say whether events are persisted', { error: describeError(error) });
      durable = false;
    }
    if (!durable && this.#durable) this.#logger.error('the spool could not commit accepted events; answering 503 until it can');
    return durable || !this.#durable;
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

  /** A request of `events` events was refused for lack of room; `queue` describes the room left. */
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
