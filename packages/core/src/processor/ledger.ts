import type { CollectorStats, DropReason, FailureCounts, FlushReport } from '../contracts.js';
import { DROP_REASONS } from '../contracts.js';

/** Counts by drop reason, all zero. */
function zeroDrops(): Record<DropReason, number> {
  const drops = {} as Record<DropReason, number>;
  for (const reason of DROP_REASONS) drops[reason] = 0;
  return drops;
}

/** What a ledger remembers of a moment, to report what happened since. */
export interface LedgerSnapshot {
  readonly exported: number;
  readonly dropped: Readonly<Record<DropReason, number>>;
}

/** The figures a ledger does not keep itself: where the events it has not settled are now. */
export interface LedgerView {
  readonly queued: number;
  readonly inFlight: number;
  readonly batchesInFlight: number;
  readonly queueCapacity: number;
}

/**
 * A collector's books: plain counters written on the hot path, read by `stats()`, flush reports and
 * the self-metrics. Keeps `recorded = exported + dropped + queued + inFlight` checkable: the ledger
 * counts the left side and the settled part of the right; the owner says where the rest is.
 */
export class Ledger {
  /** Events taken responsibility for: `record()` calls, plus events recovered from a spool. */
  recorded = 0;
  /** Of `recorded`, events recovered from a spool at start. */
  recovered = 0;
  exported = 0;
  retries = 0;
  readonly dropped = zeroDrops();
  readonly failed: { -readonly [K in keyof FailureCounts]: number } = { retryable: 0, permanent: 0, timeout: 0, auth: 0 };
  lastError: CollectorStats['lastError'];
  lastExportAt: number | undefined;

  /** Counts `n` events dropped for `reason`. */
  drop(reason: DropReason, n: number): void {
    this.dropped[reason] += n;
  }

  /** Counts `n` events delivered now. */
  delivered(n: number): void {
    this.exported += n;
    this.lastExportAt = Date.now();
  }

  /** Remembers an error for `stats().lastError`. */
  noteError(code: string, message: string): void {
    this.lastError = { code, message, at: Date.now() };
  }

  totalDropped(): number {
    let dropped = 0;
    for (const reason of DROP_REASONS) dropped += this.dropped[reason];
    return dropped;
  }

  snapshot(): LedgerSnapshot {
    return { exported: this.exported, dropped: { ...this.dropped } };
  }

  /** What happened since `before`: exported and dropped (by reason), and what `remaining` is still open. */
  reportSince(before: LedgerSnapshot, complete: boolean, remaining: number): FlushReport {
    const droppedByReason: Partial<Record<DropReason, number>> = {};
    let dropped = 0;
    for (const reason of DROP_REASONS) {
      const n = this.dropped[reason] - before.dropped[reason];
      if (n > 0) {
        droppedByReason[reason] = n;
        dropped += n;
      }
    }
    return { complete, exported: this.exported - before.exported, dropped, droppedByReason, remaining };
  }

  stats(view: LedgerView): CollectorStats {
    return {
      recorded: this.recorded,
      recovered: this.recovered,
      exported: this.exported,
      dropped: this.totalDropped(),
      droppedByReason: { ...this.dropped },
      queued: view.queued,
      inFlight: view.inFlight,
      batchesInFlight: view.batchesInFlight,
      queueCapacity: view.queueCapacity,
      retries: this.retries,
      failedExports: { ...this.failed },
      lastError: this.lastError,
      lastExportAt: this.lastExportAt,
    };
  }
}

/** Adds up several flush reports; complete only when all are. */
export function mergeReports(reports: readonly FlushReport[]): FlushReport {
  const droppedByReason: Partial<Record<DropReason, number>> = {};
  let exported = 0;
  let dropped = 0;
  let remaining = 0;
  for (const r of reports) {
    exported += r.exported;
    dropped += r.dropped;
    remaining += r.remaining;
    for (const [reason, n] of Object.entries(r.droppedByReason) as [DropReason, number][]) {
      droppedByReason[reason] = (droppedByReason[reason] ?? 0) + n;
    }
  }
  return { complete: reports.every((r) => r.complete), exported, dropped, droppedByReason, remaining };
}

/** Adds up several collectors' stats (lastError and lastExportAt: the most recent). */
export function sumStats(all: readonly CollectorStats[]): CollectorStats {
  const droppedByReason = zeroDrops();
  const failedExports = { retryable: 0, permanent: 0, timeout: 0, auth: 0 };
  const sum = { recorded: 0, recovered: 0, exported: 0, dropped: 0, queued: 0, inFlight: 0, batchesInFlight: 0, queueCapacity: 0, retries: 0 };
  let lastError: CollectorStats['lastError'];
  let lastExportAt: number | undefined;
  for (const s of all) {
    for (const key of Object.keys(sum) as (keyof typeof sum)[]) sum[key] += s[key];
    for (const reason of DROP_REASONS) droppedByReason[reason] += s.droppedByReason[reason];
    for (const kind of Object.keys(failedExports) as (keyof FailureCounts)[]) failedExports[kind] += s.failedExports[kind];
    if (s.lastError && (!lastError || s.lastError.at > lastError.at)) lastError = s.lastError;
    if (s.lastExportAt !== undefined && (lastExportAt === undefined || s.lastExportAt > lastExportAt)) lastExportAt = s.lastExportAt;
  }
  return { ...sum, droppedByReason, failedExports, lastError, lastExportAt };
}
