import type { TelemetryEvent } from '@trackpipe/core';
import type { ExportCall } from '@trackpipe/core/testing';

/** `n` events named `e<i>`, with an `i` attribute. */
export function events(n: number, from = 0): TelemetryEvent[] {
  return Array.from({ length: n }, (_, k) => ({ name: `e${from + k}`, attributes: { i: from + k } }));
}

/** The ids of a MemoryExporter call's batch, in order. */
export function idsOf(call: ExportCall<TelemetryEvent> | undefined): (string | undefined)[] {
  return call?.events.map((e) => e.id) ?? [];
}

/** True when the accounting identity holds. */
export function identityHolds(stats: {
  recorded: number;
  exported: number;
  dropped: number;
  queued: number;
  inFlight: number;
}): boolean {
  return stats.recorded === stats.exported + stats.dropped + stats.queued + stats.inFlight;
}
