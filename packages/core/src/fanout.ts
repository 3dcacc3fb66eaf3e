import type { Collector, CollectorStats, DropReason, FlushReport } from './contracts.js';
import { DROP_REASONS } from './contracts.js';
import type { TelemetryEvent } from './events.js';

/**
 * Records every event into several collectors (one per exporter), so that a slow or dead exporter
 * stalls only its own queue. `stats()` sums the members: each member counts the event once.
 */
export class FanoutCollector<E extends TelemetryEvent = TelemetryEvent> implements Collector<E> {
  readonly members: readonly Collector<E>[];

  constructor(members: readonly Collector<E>[]) {
    this.members = [...members];
  }

  record(event: E): void {
    for (const member of this.members) member.record(event);
  }

  async flush(options?: { timeoutMs?: number }): Promise<FlushReport> {
    return mergeReports(await Promise.all(this.members.map((m) => m.flush(options))));
  }

  async close(options?: { timeoutMs?: number }): Promise<FlushReport> {
    return mergeReports(await Promise.all(this.members.map((m) => m.close(options))));
  }

  stats(): CollectorStats {
    return sumStats(this.members.map((m) => m.stats()));
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
  const droppedByReason = {} as Record<DropReason, number>;
  for (const reason of DROP_REASONS) droppedByReason[reason] = 0;
  const failedExports = { retryable: 0, permanent: 0, timeout: 0, auth: 0 };
  const sum = { recorded: 0, exported: 0, dropped: 0, queued: 0, inFlight: 0, batchesInFlight: 0, queueCapacity: 0, retries: 0 };
  let lastError: CollectorStats['lastError'];
  let lastExportAt: number | undefined;
  for (const s of all) {
    for (const key of Object.keys(sum) as (keyof typeof sum)[]) sum[key] += s[key];
    for (const reason of DROP_REASONS) droppedByReason[reason] += s.droppedByReason[reason];
    failedExports.retryable += s.failedExports.retryable;
    failedExports.permanent += s.failedExports.permanent;
    failedExports.timeout += s.failedExports.timeout;
    failedExports.auth += s.failedExports.auth;
    if (s.lastError && (!lastError || s.lastError.at > lastError.at)) lastError = s.lastError;
    if (s.lastExportAt !== undefined && (lastExportAt === undefined || s.lastExportAt > lastExportAt)) lastExportAt = s.lastExportAt;
  }
  return { ...sum, droppedByReason, failedExports, lastError, lastExportAt };
}
