import type { ExportBatch, Exporter, Recorded, TelemetryEvent } from '@trackpipe/core';

let next = 0;

/** `n` recorded events with unique ids, as a BatchProcessor would hand them over. */
export function events(n: number, attributes: Record<string, string | number> = {}): Recorded<TelemetryEvent>[] {
  return Array.from({ length: n }, () => {
    next++;
    return { id: `evt-${next}`, name: 'test.event', timestamp: 1_700_000_000_000 + next, attributes: { i: next, ...attributes } };
  });
}

/** Encodes `list` event by event with the exporter's encoder, as the processor does for exporters without `encodeBatch`. */
export function batchFor<E>(exporter: Exporter<E>, list: readonly E[]): ExportBatch<E> {
  const encode = exporter.encoder ?? ((e: E) => JSON.stringify(e));
  const encoded = list.map((e) => encode(e));
  return { size: list.length, events: list, encoded, bytes: encoded.reduce((sum, text) => sum + Buffer.byteLength(text), 0) };
}

/** Encodes `list` at once with the exporter's `encodeBatch`, as the processor does for exporters that have one. */
export function payloadBatchFor<E>(exporter: Exporter<E>, list: readonly E[]): ExportBatch<E> {
  const encodeBatch = exporter.encodeBatch;
  if (encodeBatch === undefined) throw new Error(`exporter ${exporter.name} has no encodeBatch`);
  const payload = encodeBatch(list);
  return { size: list.length, events: list, encoded: [], payload, bytes: payload.byteLength };
}

/** The two ways a batch reaches an exporter: encoded event by event, or encoded at once (`payload`). */
export const BATCH_PATHS = [
  ['encoded event by event', batchFor],
  ['encoded at once (payload)', payloadBatchFor],
] as const;

/** A signal that never aborts. */
export function neverAborts(): AbortSignal {
  return new AbortController().signal;
}
