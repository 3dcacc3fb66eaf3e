import type { Collector, CollectorStats, FlushReport } from './contracts.js';
import type { TelemetryEvent } from './events.js';
import { mergeReports, sumStats } from './processor/ledger.js';

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

  /** The fullest member's headroom: an event recorded here goes into every member. */
  headroom(fill?: number): number {
    let room = Number.POSITIVE_INFINITY;
    for (const member of this.members) room = Math.min(room, member.headroom(fill));
    return room;
  }

  /** True when every member's queue is durable and committed. */
  async persisted(): Promise<boolean> {
    const all = await Promise.all(this.members.map((m) => m.persisted()));
    return all.length > 0 && all.every(Boolean);
  }
}
