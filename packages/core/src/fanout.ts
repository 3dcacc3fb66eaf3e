import { admit } from './admission.js';
import { type Collector, type CollectorStats, DROP_REASONS, type DropReason, type FlushReport, type Logger } from './contracts.js';
import { describeError } from './errors.js';
import type { TelemetryEvent } from './events.js';
import { consoleLogger } from './logger.js';
import { mergeReports, sumStats } from './processor/ledger.js';
import { excerpt } from './redact.js';

/** Options of a {@link FanoutCollector}. */
export interface FanoutOptions {
  /** Where a member that breaks the Collector contract (throws, rejects) is reported, once per member and call. Default: the console. */
  logger?: Logger;
}

/**
 * Records every event into several collectors (one per exporter), so that a slow or dead exporter
 * stalls only its own queue. `stats()` sums the members: each member counts the event once.
 *
 * With several members, the event is completed (`id`, `timestamp`) once, before the members see it,
 * so every member delivers it with the same id, also when it is frozen and a member would otherwise
 * complete a copy of its own. A member that throws (a collector of the caller's that breaks the
 * contract) does not keep the event from the others, nor make `record()`, `flush()` or `close()`
 * throw: it is reported to the logger, and its `flush()`/`close()` counts as incomplete. So does a
 * member whose `flush()`/`close()` answers something that is no FlushReport.
 */
export class FanoutCollector<E extends TelemetryEvent = TelemetryEvent> implements Collector<E> {
  readonly members: readonly Collector<E>[];
  readonly #logger: Logger;
  /** `<method>:<member index>` of the contract breaches already reported. */
  readonly #reported = new Set<string>();

  constructor(members: readonly Collector<E>[], options: FanoutOptions = {}) {
    this.members = [...members];
    this.#logger = options.logger ?? consoleLogger;
  }

  record(event: E): void {
    const members = this.members;
    if (members.length > 1) {
      // An event that is refused goes to every member as given, so that each counts it as invalid.
      const admitted = admit(event);
      if (typeof admitted !== 'string') event = admitted;
    }
    for (let i = 0; i < members.length; i++) {
      try {
        members[i]!.record(event);
      } catch (error) {
        this.#breach(i, 'record', error);
      }
    }
  }

  async flush(options?: { timeoutMs?: number }): Promise<FlushReport> {
    return mergeReports(await Promise.all(this.members.map((m, i) => this.#settle(i, 'flush', async () => readReport(await m.flush(options))))));
  }

  async close(options?: { timeoutMs?: number }): Promise<FlushReport> {
    return mergeReports(await Promise.all(this.members.map((m, i) => this.#settle(i, 'close', async () => readReport(await m.close(options))))));
  }

  /** The members' figures, added up. A member whose `stats()` throws or answers no figures is left out (and reported once). */
  stats(): CollectorStats {
    const all: CollectorStats[] = [];
    for (let i = 0; i < this.members.length; i++) {
      try {
        all.push(readStats(this.members[i]!.stats()));
      } catch (error) {
        this.#breach(i, 'stats', error);
      }
    }
    return sumStats(all);
  }

  /** The fullest member's headroom: an event recorded here goes into every member. A member whose `headroom()` throws or answers no number is left out (and reported once). */
  headroom(fill?: number): number {
    let room = Number.POSITIVE_INFINITY;
    for (let i = 0; i < this.members.length; i++) {
      try {
        const r: unknown = this.members[i]!.headroom(fill);
        if (typeof r !== 'number' || Number.isNaN(r)) throw new NoReport(`it answered ${typeof r === 'number' ? 'NaN' : typeof r}, not a number`);
        room = Math.min(room, r);
      } catch (error) {
        this.#breach(i, 'headroom', error);
      }
    }
    return room;
  }

  /** True when every member's queue is durable and committed. */
  async persisted(): Promise<boolean> {
    const all = await Promise.all(this.members.map((m, i) => this.#settle(i, 'persisted', () => m.persisted(), false)));
    // `true` only: a member that answers anything else (a string, 1) has not said its events are on disk.
    return all.length > 0 && all.every((durable) => durable === true);
  }

  async #settle<T>(index: number, method: string, call: () => Promise<T>, failed: T = INCOMPLETE as T): Promise<T> {
    try {
      return await call();
    } catch (error) {
      this.#breach(index, method, error);
      return failed;
    }
  }

  #breach(index: number, method: string, error: unknown): void {
    const key = `${method}:${index}`;
    if (this.#reported.has(key)) return;
    this.#reported.add(key);
    try {
      this.#logger.error(`fan-out member ${index}: ${method}() ${error instanceof NoReport ? `answered no ${method === 'stats' ? 'figures' : method === 'headroom' ? 'number' : 'report'}` : 'threw'}, breaking the Collector contract (reported once)`, { error: excerpt(describeError(error)) });
    } catch {
      // A logger that throws must not undo the isolation it reports.
    }
  }
}

/** A member's flush or close answered something that is no FlushReport. */
class NoReport extends Error {}

/**
 * A member's flush or close report, read once into a plain one; throws when it is not a report (not an
 * object, a count that is not a number of events, a getter that throws): the member broke the contract.
 */
function readReport(value: unknown): FlushReport {
  if (value === null || typeof value !== 'object') throw new NoReport(`it answered ${value === null ? 'null' : typeof value}, not a FlushReport`);
  const r = value as Record<string, unknown>;
  const count = (field: string, n: unknown): number => {
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw new NoReport(`its report's ${field} is not a count of events`);
    return n;
  };
  const complete = r.complete;
  if (typeof complete !== 'boolean') throw new NoReport("its report's complete is not a boolean");
  const exported = count('exported', r.exported);
  const dropped = count('dropped', r.dropped);
  const remaining = count('remaining', r.remaining);
  const by: unknown = r.droppedByReason;
  if (by === null || typeof by !== 'object') throw new NoReport("its report's droppedByReason is not an object");
  const droppedByReason: Partial<Record<DropReason, number>> = {};
  for (const reason of DROP_REASONS) {
    const n: unknown = (by as Record<string, unknown>)[reason];
    if (n !== undefined) droppedByReason[reason] = count(`droppedByReason.${reason}`, n);
  }
  return { complete, exported, dropped, droppedByReason, remaining };
}

/** A member's figures, read once into plain ones; throws when they are not {@link CollectorStats} (see {@link readReport}). */
function readStats(value: unknown): CollectorStats {
  if (value === null || typeof value !== 'object') throw new NoReport(`it answered ${value === null ? 'null' : typeof value}, not CollectorStats`);
  const s = value as Record<string, unknown>;
  const count = (field: string, n: unknown): number => {
    if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) throw new NoReport(`its ${field} is not a count`);
    return n;
  };
  const group = <K extends string>(field: string, keys: readonly K[]): Record<K, number> => {
    const g: unknown = s[field];
    if (g === null || typeof g !== 'object') throw new NoReport(`its ${field} is not an object`);
    const out = {} as Record<K, number>;
    for (const key of keys) out[key] = count(`${field}.${key}`, (g as Record<string, unknown>)[key]);
    return out;
  };
  const lastError: unknown = s.lastError;
  let error: CollectorStats['lastError'];
  if (lastError !== undefined) {
    if (lastError === null || typeof lastError !== 'object') throw new NoReport('its lastError is not an object');
    const { code, message, at } = lastError as Record<string, unknown>;
    if (typeof code !== 'string' || typeof message !== 'string' || typeof at !== 'number') throw new NoReport('its lastError is not { code, message, at }');
    error = { code, message, at };
  }
  const lastExportAt: unknown = s.lastExportAt;
  if (lastExportAt !== undefined && typeof lastExportAt !== 'number') throw new NoReport('its lastExportAt is not a number');
  return {
    recorded: count('recorded', s.recorded),
    recovered: count('recovered', s.recovered),
    exported: count('exported', s.exported),
    dropped: count('dropped', s.dropped),
    droppedByReason: group('droppedByReason', DROP_REASONS),
    queued: count('queued', s.queued),
    inFlight: count('inFlight', s.inFlight),
    batchesInFlight: count('batchesInFlight', s.batchesInFlight),
    queueCapacity: count('queueCapacity', s.queueCapacity),
    retries: count('retries', s.retries),
    failedExports: group('failedExports', ['retryable', 'permanent', 'timeout', 'auth'] as const),
    lastError: error,
    lastExportAt,
  };
}

/** What a member's flush or close that threw counts as: nothing known settled. */
const INCOMPLETE: FlushReport = Object.freeze({ complete: false, exported: 0, dropped: 0, droppedByReason: Object.freeze({}), remaining: 0 });
