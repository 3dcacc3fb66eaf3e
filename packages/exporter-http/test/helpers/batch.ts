import type { ExportBatch, Exporter, Recorded, TelemetryEvent } from '@trackpipe/core';

let next = 0;

/** `n` recorded events with unique ids, as a BatchProcessor would hand them over. */
export function events(n: number, attributes: Record<string, string | number> = {}): Recorded<TelemetryEvent>[] {
  return Array.from({ length: n }, () => {
    next++;
    return { id: `evt-${next}`, name: 'test.event', timestamp: 1_700_000_000_000 + next, attributes: { i: next, ...attributes } };
  });
}

/** Encodes `list` with the exporter's encoder, exactly as the processor does, into an ExportBatch. */
export function batchFor<E>(exporter: Exporter<E>, list: readonly E[]): ExportBatch<E> {
  const encode = exporter.encoder ?? ((e: E) => JSON.stringify(e));
  const encoded = list.map((e) => encode(e));
  return { events: list, encoded, bytes: encoded.reduce((sum, text) => sum + Buffer.byteLength(text), 0) };
}

/** A signal that never aborts. */
export function neverAborts(): AbortSignal {
  return new AbortController().signal;
}
