/** The resolved retry numbers (see `RETRY_OPTIONS` in options.ts). */
export interface RetrySchedule {
  readonly initialBackoffMs: number;
  readonly multiplier: number;
  readonly maxBackoffMs: number;
  readonly maxElapsedMs: number;
}

/**
 * Full-jitter backoff: a uniform delay in [0, min(maxBackoffMs, initialBackoffMs × multiplier^attempt)).
 * `attempt` counts failures before this one, from 0.
 */
export function backoffDelay(retry: RetrySchedule, attempt: number, random: () => number): number {
  const ceiling = Math.min(retry.maxBackoffMs, retry.initialBackoffMs * retry.multiplier ** attempt);
  return Math.floor(draw(random) * ceiling);
}

/**
 * A draw of the application's `random`, in [0, 1). One that throws or answers anything else (NaN, 1,
 * -1, a string) is replaced by `Math.random()`'s: a NaN delay would leave its batch waiting forever,
 * a throw would lose it between the books, a draw above 1 would pass `maxBackoffMs`.
 */
function draw(random: () => number): number {
  try {
    const r: unknown = random();
    if (typeof r === 'number' && r >= 0 && r < 1) return r;
  } catch {
    // Fall back below.
  }
  return Math.random();
}

/** What the policy needs to know of the batch that failed. */
export interface RetryState {
  /** Failed attempts of this batch so far (before this one). */
  attempts: number;
  /** When the batch's first attempt started (ms on the processor's clock): its retry budget runs from here. */
  readonly firstAttemptAt: number;
}

/** Failed rounds in a row after which the exporter counts as down. */
const DOWN_AFTER_ROUNDS = 3;

/**
 * When to try again, per batch and per exporter.
 *
 * - An **isolated failure** delays only its batch: it may be tried again after a full-jitter backoff
 *   drawn from its own attempt count; fresh batches keep flowing.
 * - The exporter **looks down** after {@link DOWN_AFTER_ROUNDS} failed rounds in a row, or when the
 *   destination asked to wait (Retry-After). Then the whole exporter pauses — full jitter from the first
 *   ceiling, one step higher per further failed round (or the batch's own attempt count, if higher) —
 *   and afterwards probes with one export at a time until one succeeds.
 * - A **round** is the set of exports in flight together: when two concurrent exports fail, the
 *   second one started before the first failure was known, so it does not count again. This keeps the
 *   backoff from growing with the concurrency, and recovery from taking longer than the outage.
 * - Retry-After hints are clamped to `maxBackoffMs`. A batch is dropped (`retries_exhausted`) only
 *   when a failure comes after its budget (`maxElapsedMs` from its first attempt) ran out; a delay that
 *   would pass the budget is cut to the budget's end, so the last attempt still happens.
 */
export class RetryPolicy {
  readonly #schedule: RetrySchedule;
  readonly #random: () => number;
  /** Failed rounds since the last success. */
  #streak = 0;
  /** Bumped at every success and every counted failure; an export started in an older epoch belongs to a round already counted. */
  #epoch = 0;
  #pausedUntil = 0;
  #probing = false;

  constructor(schedule: RetrySchedule, random: () => number) {
    this.#schedule = schedule;
    this.#random = random;
  }

  /** The epoch an export starts in; hand it back to {@link failed}. */
  get epoch(): number {
    return this.#epoch;
  }

  /** Ms on the processor's clock before which the exporter must not be called (0: not paused). */
  get pausedUntil(): number {
    return this.#pausedUntil;
  }

  /** True after a pause, until an export succeeds: one export at a time. */
  get probing(): boolean {
    return this.#probing;
  }

  /**
   * An export started in `epoch` succeeded (or the destination answered at all): the failure streak
   * ends. A pause ends too, unless the export started before the failure that caused it (a request
   * already in flight says nothing about a Retry-After the destination asked for since).
   */
  succeeded(epoch: number): void {
    this.#streak = 0;
    if (epoch === this.#epoch) {
      this.#pausedUntil = 0;
      this.#probing = false;
    }
    this.#epoch++;
  }

  /**
   * An attempt of `batch` (started in `epoch`) failed at `now`; `hintMs` is the destination's
   * Retry-After, if any. Returns the time (on the clock of `now`) before which the batch must not be tried again, or
   * undefined when its budget is spent (drop it). Updates `batch.attempts`.
   */
  failed(batch: RetryState, epoch: number, hintMs: number | undefined, now: number): number | undefined {
    if (epoch === this.#epoch) {
      this.#streak++;
      this.#epoch++;
    }
    const deadline = batch.firstAttemptAt + this.#schedule.maxElapsedMs;
    const attempt = batch.attempts++;
    if (now >= deadline) return undefined;
    const hinted = hintMs !== undefined && hintMs >= 0; // Infinity too: it is clamped
    let notBefore: number;
    if (hinted || this.#probing || this.#streak >= DOWN_AFTER_ROUNDS) {
      const pause = hinted ? Math.min(Math.ceil(hintMs), this.#schedule.maxBackoffMs) : backoffDelay(this.#schedule, Math.max(attempt, this.#streak - DOWN_AFTER_ROUNDS), this.#random);
      this.#pausedUntil = Math.max(this.#pausedUntil, now + pause);
      this.#probing = true;
      notBefore = this.#pausedUntil;
    } else {
      notBefore = now + backoffDelay(this.#schedule, attempt, this.#random);
    }
    return Math.min(notBefore, deadline);
  }
}
