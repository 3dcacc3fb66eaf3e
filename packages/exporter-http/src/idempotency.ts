import { createHash } from 'node:crypto';
import type { ExportBatch } from '@trackpipe/core';

/**
 * The idempotency key of a batch: a hash of its first and last event ids and its size, so that every
 * retry of a batch carries the same key, and each half of a split batch its own. Events without an id
 * (an exporter used without a processor) key on the body instead, which is just as stable across
 * retries. 32 hex digits: safe in a header, short, and free of the ids themselves.
 */
export function idempotencyKey(events: readonly { readonly id?: unknown }[], body: Uint8Array): string {
  return keyOf(events[0]?.id, events[events.length - 1]?.id, events.length, body);
}

/**
 * {@link idempotencyKey} of a batch handed over by a processor. When `json` (the exporter's encoder is
 * core's `jsonEncoder`) and the batch carries each event's JSON, the two ids are read from the first
 * and last texts: a batch a spool read back from disk then stays text, its events never parsed.
 */
export function batchIdempotencyKey(batch: ExportBatch<{ readonly id?: unknown }>, body: Uint8Array, json: boolean): string {
  const n = batch.size;
  if (json && batch.payload === undefined && n > 0 && batch.encoded.length === n) {
    return keyOf(idIn(batch.encoded[0]!), idIn(batch.encoded[n - 1]!), n, body);
  }
  return idempotencyKey(batch.events, body);
}

function keyOf(first: unknown, last: unknown, count: number, body: Uint8Array): string {
  const hash = createHash('sha256');
  if (typeof first === 'string' && typeof last === 'string') hash.update(`${first}\n${last}\n${count}`);
  else hash.update(body);
  return hash.digest('hex').slice(0, 32);
}

/**
 * The `id` of the event whose JSON `text` is (undefined when it has none, or when `text` is not JSON:
 * the key is then the body's, and the destination judges the body; JSON.parse's error would quote the text).
 */
function idIn(text: string): unknown {
  let event: unknown;
  try {
    event = JSON.parse(text);
  } catch {
    return undefined;
  }
  return typeof event === 'object' && event !== null ? (event as { id?: unknown }).id : undefined;
}
