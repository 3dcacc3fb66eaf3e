import type { FlushReport } from '../contracts.js';

interface Waiter<S> {
  /** Everything with a sequence number below this must be settled. */
  readonly mark: number;
  readonly before: S;
  readonly resolve: (report: FlushReport) => void;
  timer: NodeJS.Timeout | undefined;
}

/** What a {@link FlushTracker} asks of its owner. */
export interface FlushSource<S> {
  /** True when every event with a sequence number below `mark` is settled (exported or dropped). */
  settledBelow(mark: number): boolean;
  /** A snapshot of the books, taken when a wait begins. */
  snapshot(): S;
  /** The report of what happened since `before`. */
  reportSince(before: S, complete: boolean): FlushReport;
  /** Called when the first waiter arrives (`true`) and when the last one leaves (`false`): timers the owner unrefs while nobody waits must keep the process alive while somebody does. */
  waiting(waiting: boolean): void;
}

/**
 * The flush bookkeeping: callers wait for a mark (a queue sequence number); `check()` releases every
 * waiter whose mark is settled; a waiter's own timeout releases it as incomplete. A pending wait keeps
 * the process alive (its timer is referenced, and the owner is told to reference its own).
 */
export class FlushTracker<S> {
  readonly #source: FlushSource<S>;
  readonly #waiters: Waiter<S>[] = [];

  constructor(source: FlushSource<S>) {
    this.#source = source;
  }

  /** True while somebody waits. */
  get waiting(): boolean {
    return this.#waiters.length > 0;
  }

  /** Resolves once everything below `mark` is settled, or (incomplete) after `timeoutMs` (undefined or Infinity: no limit). */
  wait(mark: number, timeoutMs: number | undefined): Promise<FlushReport> {
    const before = this.#source.snapshot();
    if (this.#source.settledBelow(mark)) return Promise.resolve(this.#source.reportSince(before, true));
    return new Promise((resolve) => {
      const waiter: Waiter<S> = { mark, before, resolve, timer: undefined };
      if (timeoutMs !== undefined && timeoutMs !== Number.POSITIVE_INFINITY) waiter.timer = setTimeout(() => this.#release(waiter, false), timeoutMs);
      this.#waiters.push(waiter);
      if (this.#waiters.length === 1) this.#source.waiting(true);
    });
  }

  /** Releases every waiter whose mark is settled now. */
  check(): void {
    for (let i = this.#waiters.length - 1; i >= 0; i--) {
      const waiter = this.#waiters[i];
      if (waiter !== undefined && this.#source.settledBelow(waiter.mark)) this.#release(waiter, true);
    }
  }

  /** Releases every waiter now, complete when its mark is settled: nothing more will settle (the owner closed). */
  finish(): void {
    for (const waiter of [...this.#waiters]) this.#release(waiter, this.#source.settledBelow(waiter.mark));
  }

  #release(waiter: Waiter<S>, complete: boolean): void {
    const i = this.#waiters.indexOf(waiter);
    if (i < 0) return;
    this.#waiters.splice(i, 1);
    if (waiter.timer !== undefined) clearTimeout(waiter.timer);
    waiter.resolve(this.#source.reportSince(waiter.before, complete));
    if (this.#waiters.length === 0) this.#source.waiting(false);
  }
}
