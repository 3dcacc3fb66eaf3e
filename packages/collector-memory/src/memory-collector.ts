import {
  type Collector,
  type CollectorStats,
  type FlagEvaluationEvent,
  type FlushReport,
  type Recorded,
  type TelemetryEvent,
  TrackpipeError,
  describeError,
} from '@trackpipe/core';
import { Ledger, MAX_TIMER_MS, RingBuffer, admit } from '@trackpipe/core/internal';

/** Options of a {@link MemoryCollector}. */
export interface MemoryCollectorOptions {
  /** Events kept at most; when the ring is full the oldest event is discarded. Default 10 000. */
  maxSize?: number;
  /** Default `timeoutMs` of {@link MemoryCollector.waitFor}. Default 4 000 (below vitest's 5 s test timeout). */
  waitForTimeoutMs?: number;
}

/** Selects events. Every field given must match (they are ANDed); no field matches everything. */
export interface EventFilter<E extends TelemetryEvent> {
  /** Only events whose `flagKey` equals this (flag evaluation events). */
  flagKey?: string;
  /** Only events whose `name` equals this. */
  name?: string;
  /** Only events for which this returns true. */
  where?: (event: Recorded<E>) => boolean;
}

/** A query of {@link MemoryCollector.getEvents}. */
export interface EventQuery<E extends TelemetryEvent> extends EventFilter<E> {
  /** Keep only the most recent `limit` matching events (still returned oldest first). Default: all. */
  limit?: number;
}

/** Options of {@link MemoryCollector.waitFor}: a filter the awaited events must also match, and a deadline. */
export interface WaitForOptions<E extends TelemetryEvent> extends EventFilter<E> {
  /** Reject after this many ms. Default: the collector's `waitForTimeoutMs` (4 000). */
  timeoutMs?: number;
}

/** How many recent events a waitFor failure message lists. */
const SHOWN_ON_FAILURE = 5;

interface Waiter<E extends TelemetryEvent> {
  /** Matches the awaited events (the filter, and the predicate in the predicate form). */
  readonly matches: (event: Recorded<E>) => boolean;
  /** Count form: matching events that must be held. Undefined in the predicate form. */
  readonly count: number | undefined;
  /** Count form: matching events held now. */
  held: number;
  readonly describe: string;
  readonly resolve: (value: Recorded<E> | Recorded<E>[]) => void;
  readonly reject: (error: Error) => void;
  timer: NodeJS.Timeout | undefined;
  readonly timeoutMs: number;
  /** Its filter or predicate is running: a record() it makes is not checked against it (no recursion). */
  busy: boolean;
  /** Count form: a matching event may have come or gone while it was busy; `held` is counted again. */
  stale: boolean;
}

/** Largest ring, as core's maxQueueSize: past it the ring's array cannot be allocated (1e12 threw RangeError: Invalid array length). */
const MAX_SIZE = 1e9;

function positiveInteger(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_SIZE) {
    throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', `${option} must be an integer from 1 to ${MAX_SIZE} (got ${shown(value)})`, {
      details: { option },
    });
  }
  return value;
}

/** A count (`integer`), or else a timeout in ms, bounded by what a Node timer holds. */
function nonNegative(option: string, value: unknown, fallback: number, integer: boolean): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (integer && !Number.isInteger(value)) || (!integer && value > MAX_TIMER_MS)) {
    const rule = integer ? 'an integer >= 0' : `a number from 0 to ${MAX_TIMER_MS}`;
    throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', `${option} must be ${rule} (got ${shown(value)})`, { details: { option } });
  }
  return value;
}

/** A filter as one function, or undefined when it selects everything. */
function compile<E extends TelemetryEvent>(filter: EventFilter<E> | null | undefined): ((event: Recorded<E>) => boolean) | undefined {
  if (filter === undefined || filter === null) return undefined; // null from JavaScript callers: no filter, as undefined
  const { flagKey, name, where } = filter;
  if (flagKey === undefined && name === undefined && where === undefined) return undefined;
  return (event) =>
    (name === undefined || event.name === name) &&
    (flagKey === undefined || (event as { flagKey?: unknown }).flagKey === flagKey) &&
    (where === undefined || where(event));
}

function describeFilter<E extends TelemetryEvent>(filter: EventFilter<E>): string {
  const parts: string[] = [];
  if (filter.name !== undefined) parts.push(`name ${JSON.stringify(filter.name)}`);
  if (filter.flagKey !== undefined) parts.push(`flagKey ${JSON.stringify(filter.flagKey)}`);
  if (filter.where !== undefined) parts.push('where()');
  return parts.length === 0 ? '' : ` matching ${parts.join(', ')}`;
}

/**
 * `name` or `name[flagKey]`: how a failure message shows one event. Never throws: the name was a
 * string when record() read it, but a getter or proxy may throw or answer anything on a later read.
 */
function label(event: TelemetryEvent): string {
  try {
    const name: unknown = event.name;
    const flagKey: unknown = (event as { flagKey?: unknown }).flagKey;
    const shownName = typeof name === 'string' ? name : '(a name that is no string now)';
    return typeof flagKey === 'string' ? `${shownName}[${flagKey}]` : shownName;
  } catch {
    return '(an event that cannot be read)';
  }
}

const EMPTY_REPORT: FlushReport = Object.freeze({
  complete: true,
  exported: 0,
  dropped: 0,
  droppedByReason: Object.freeze({}),
  remaining: 0,
});

/**
 * An in-memory {@link Collector} for development and tests: a bounded ring of the most recent events
 * with a query API and {@link MemoryCollector.waitFor} for asynchronous code.
 *
 * `record()` is synchronous, O(1) and never throws: it assigns `id` and `timestamp` when absent (like
 * `BatchProcessor`) and stores the event; when the ring is full the oldest event is discarded.
 *
 * Accounting (`recorded = exported + dropped + queued + inFlight`, `queued` and `inFlight` always 0):
 * an event stored in the ring counts as `exported` (delivered into memory); invalid input is dropped
 * as `invalid`, records after `close()` as `closed`. An event the full ring discards to make room had
 * been delivered already: it is counted in {@link MemoryCollector.evicted}, not as a drop, so every
 * figure only grows. `clear()` and `close()` release events without changing the figures.
 *
 * The type parameter defaults to {@link FlagEvaluationEvent}; use `new MemoryCollector<TelemetryEvent>()`
 * (or your own event type) for other events.
 */
export class MemoryCollector<E extends TelemetryEvent = FlagEvaluationEvent> implements Collector<E> {
  /** Capacity of the ring. */
  readonly maxSize: number;
  readonly #waitForTimeoutMs: number;
  /** The events held, oldest first. */
  readonly #ring: RingBuffer<Recorded<E>>;
  /** The books, as a BatchProcessor keeps them: recorded, exported (stored), dropped by reason, lastError. */
  readonly #ledger = new Ledger();
  #evicted = 0;
  readonly #waiters: Waiter<E>[] = [];
  #closed = false;

  constructor(options: MemoryCollectorOptions = {}) {
    this.maxSize = positiveInteger('maxSize', options.maxSize, 10_000);
    this.#waitForTimeoutMs = nonNegative('waitForTimeoutMs', options.waitForTimeoutMs, 4_000, false);
    this.#ring = new RingBuffer(this.maxSize);
  }

  /** Events the full ring discarded to make room for newer ones (they had been stored, so not drops). */
  get evicted(): number {
    return this.#evicted;
  }

  /** Events held now (at most `maxSize`). */
  get size(): number {
    return this.#ring.size;
  }

  /** True once `close()` was called. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Records one event: O(1), never throws. Assigns `id` and `timestamp` when absent (in place). Invalid
   * input (null, not an object, no name) is dropped as `invalid`; after `close()` events are dropped as
   * `closed`. A full ring discards its oldest event (counted in `evicted`).
   */
  record(event: E): void {
    const ledger = this.#ledger;
    ledger.recorded++;
    if (this.#closed) {
      ledger.drop('closed', 1);
      return;
    }
    const recorded = admit(event);
    if (typeof recorded === 'string') {
      ledger.drop('invalid', 1);
      ledger.noteError('TRACKPIPE_ERR_EVENT_INVALID', `TRACKPIPE_ERR_EVENT_INVALID: dropped an invalid event: ${recorded}`);
      return;
    }
    // Admission ran the event's getters: one may have closed the collector, which released its events.
    if (this.#closed) {
      ledger.drop('closed', 1);
      return;
    }
    const ring = this.#ring;
    let evicted: Recorded<E> | undefined;
    if (ring.size === this.maxSize) {
      evicted = ring.shift();
      this.#evicted++;
    }
    ring.push(recorded);
    // Stored is delivered. lastExportAt is the stored event's time (delivered() would read the clock).
    ledger.exported++;
    // Read once more, so never trusted: admit() read it, but a getter may throw or answer anything now.
    let at: unknown;
    try {
      at = recorded.timestamp;
    } catch {
      // the time of the store instead
    }
    ledger.lastExportAt = typeof at === 'number' ? at : Date.now();
    if (this.#waiters.length !== 0) this.#notify(recorded, evicted);
  }

  /**
   * The events held that match `query`, oldest first, as a new array (later records do not change it).
   * With `limit`, only the most recent `limit` matching events. The event objects are the recorded ones:
   * do not mutate them.
   */
  getEvents(query: EventQuery<E> = {}): Recorded<E>[] {
    const limit = nonNegative('limit', query?.limit, Number.POSITIVE_INFINITY, true);
    const matches = compile(query);
    const size = this.#ring.size;
    if (limit >= size && matches === undefined) {
      const all = new Array<Recorded<E>>(size);
      for (let i = 0; i < size; i++) all[i] = this.#at(i);
      return all;
    }
    const picked: Recorded<E>[] = [];
    for (let i = size - 1; i >= 0 && picked.length < limit; i--) {
      const event = this.#at(i);
      if (matches === undefined || matches(event)) picked.push(event);
    }
    return picked.reverse();
  }

  /** How many events held match `filter` (all held events without one). */
  count(filter?: EventFilter<E>): number {
    const matches = compile(filter);
    const size = this.#ring.size;
    if (matches === undefined) return size;
    let n = 0;
    for (let i = 0; i < size; i++) if (matches(this.#at(i))) n++;
    return n;
  }

  /** The most recent event matching `filter`, or undefined. */
  last(filter?: EventFilter<E>): Recorded<E> | undefined {
    return this.getEvents({ ...filter, limit: 1 })[0];
  }

  /**
   * Discards every event held and returns how many there were. The figures in `stats()` do not change.
   * Pending `waitFor(count)` calls count again from zero.
   */
  clear(): number {
    for (const waiter of this.#waiters) waiter.held = 0;
    return this.#ring.clear();
  }

  /**
   * Waits until `count` events matching the filter in `options` are held, and resolves with the matching
   * events (oldest first). Resolves at once when they already are.
   */
  waitFor(count: number, options?: WaitForOptions<E>): Promise<Recorded<E>[]>;
  /**
   * Waits until an event for which `predicate` returns true (and which matches the filter in `options`)
   * is held or recorded, and resolves with it (the most recent such event held, when there is one already).
   */
  waitFor(predicate: (event: Recorded<E>) => boolean, options?: WaitForOptions<E>): Promise<Recorded<E>>;
  /**
   * Resolves as soon as a `record()` makes the condition true (no polling). Rejects after `timeoutMs`,
   * or when the collector is closed, with a message that says what it saw: events held and recorded,
   * and the last few names and flag keys.
   */
  waitFor(
    condition: number | ((event: Recorded<E>) => boolean),
    options: WaitForOptions<E> = {},
  ): Promise<Recorded<E>[] | Recorded<E>> {
    try {
      return this.#waitFor(condition, options);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(describeError(error)));
    }
  }

  /** Resolves at once: every event is settled when `record()` returns. The report is complete and empty. */
  flush(_options?: { timeoutMs?: number }): Promise<FlushReport> {
    return Promise.resolve(EMPTY_REPORT);
  }

  /**
   * Releases the events held; later records are ignored and counted as dropped (`closed`); pending
   * `waitFor` calls reject. Idempotent; resolves at once with a complete, empty report.
   */
  close(_options?: { timeoutMs?: number }): Promise<FlushReport> {
    if (!this.#closed) {
      this.#closed = true;
      for (const waiter of this.#waiters.splice(0)) {
        this.#fail(waiter, `the collector was closed while waiting for ${waiter.describe}`);
      }
      this.#ring.clear();
    }
    return Promise.resolve(EMPTY_REPORT);
  }

  /** Unbounded while open (a full ring evicts, it never drops); 0 once closed. */
  headroom(_fill?: number): number {
    return this.#closed ? 0 : Number.POSITIVE_INFINITY;
  }

  /** Resolves `false` at once: the ring is in memory. */
  persisted(): Promise<boolean> {
    return Promise.resolve(false);
  }

  /** The collector's figures; see the class comment for how ring evictions are counted. */
  stats(): CollectorStats {
    return this.#ledger.stats({ queued: 0, inFlight: 0, batchesInFlight: 0, queueCapacity: this.maxSize });
  }

  // ---- internals --------------------------------------------------------------------------------

  /** The i-th event held, oldest first; `i < size`. */
  #at(i: number): Recorded<E> {
    return this.#ring.at(i) as Recorded<E>;
  }

  #waitFor(condition: number | ((event: Recorded<E>) => boolean), options: WaitForOptions<E>): Promise<Recorded<E>[] | Recorded<E>> {
    const timeoutMs = nonNegative('timeoutMs', options.timeoutMs, this.#waitForTimeoutMs, false);
    const filter = compile(options);
    const where = describeFilter(options);
    let matches: (event: Recorded<E>) => boolean;
    let count: number | undefined;
    let describe: string;
    if (typeof condition === 'function') {
      const predicate = condition;
      matches = filter === undefined ? predicate : (event) => filter(event) && predicate(event);
      describe = `an event matching the predicate${where.replace(' matching', ',')}`;
    } else {
      count = positiveInteger('count', condition, 1);
      matches = filter ?? (() => true);
      describe = `${count} event${count === 1 ? '' : 's'}${where}`;
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter<E> = {
        matches,
        count,
        held: 0,
        describe,
        resolve,
        reject,
        timer: undefined,
        timeoutMs,
        busy: false,
        stale: false,
      };
      if (this.#closed) {
        this.#fail(waiter, `the collector is closed; it cannot record ${describe}`);
        return;
      }
      if (count !== undefined && count > this.maxSize) {
        this.#fail(waiter, `${describe} can never be held at once: maxSize is ${this.maxSize}`);
        return;
      }
      // Already satisfied? (A throwing predicate rejects here, through the Promise executor.)
      if (count === undefined) {
        for (let i = this.#ring.size - 1; i >= 0; i--) {
          const event = this.#at(i);
          if (matches(event)) {
            resolve(event);
            return;
          }
        }
      } else {
        waiter.held = filter === undefined ? this.#ring.size : this.count(options);
        if (waiter.held >= count) {
          resolve(this.getEvents(options));
          return;
        }
      }
      // Referenced on purpose (like a pending flush): the process stays alive until the wait ends.
      waiter.timer = setTimeout(() => {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        this.#fail(waiter, `timed out after ${timeoutMs} ms waiting for ${describe}`);
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /**
   * Called by record() when someone waits: settles the waiters the new event satisfies. A filter or
   * predicate may call back — record (this runs again, nested), close — so the waiters are visited
   * from a copy, each only while it still waits, and never while its own filter or predicate runs.
   */
  #notify(event: Recorded<E>, evicted: Recorded<E> | undefined): void {
    for (const waiter of [...this.#waiters]) {
      if (!this.#waiters.includes(waiter)) continue; // settled meanwhile, by a nested record or close()
      if (waiter.busy) {
        waiter.stale = true;
        continue;
      }
      let done = false;
      waiter.busy = true;
      try {
        if (waiter.count === undefined) {
          if (waiter.matches(event)) {
            done = true;
            waiter.resolve(event);
          }
        } else {
          if (evicted !== undefined && waiter.matches(evicted)) waiter.held--;
          if (waiter.matches(event)) waiter.held++;
          if (waiter.stale) {
            waiter.stale = false;
            waiter.held = this.count(this.#filterOf(waiter));
          }
          if (waiter.held >= waiter.count) {
            done = true;
            waiter.resolve(this.getEvents(this.#filterOf(waiter)));
          }
        }
      } catch (error) {
        done = true;
        waiter.reject(error instanceof Error ? error : new Error(describeError(error)));
      } finally {
        waiter.busy = false;
      }
      if (done) {
        const i = this.#waiters.indexOf(waiter);
        if (i >= 0) this.#waiters.splice(i, 1);
        if (waiter.timer !== undefined) clearTimeout(waiter.timer);
      }
    }
  }

  /** A count waiter's filter, as a query for getEvents. */
  #filterOf(waiter: Waiter<E>): EventQuery<E> {
    return { where: waiter.matches };
  }

  /** Rejects a waiter with what the collector saw. */
  #fail(waiter: Waiter<E>, why: string): void {
    if (waiter.timer !== undefined) clearTimeout(waiter.timer);
    const size = this.#ring.size;
    const shown = Math.min(SHOWN_ON_FAILURE, size);
    const last: string[] = [];
    for (let i = size - shown; i < size; i++) last.push(label(this.#at(i)));
    let matching = '';
    if (waiter.count !== undefined && waiter.held !== size) matching = `, ${waiter.held} matching`;
    const recent = shown === 0 ? '' : `; last ${shown}, oldest first: ${last.join(', ')}`;
    const saw = `saw ${size} event${size === 1 ? '' : 's'} held${matching} (${this.#ledger.recorded} recorded)${recent}`;
    waiter.reject(new Error(`MemoryCollector.waitFor: ${why}; ${saw}`));
  }
}

/** A bad option value for an error message: numbers and booleans as they are, anything else by its type. */
function shown(value: unknown): string {
  return typeof value === 'number' || typeof value === 'boolean' ? String(value) : typeof value;
}
