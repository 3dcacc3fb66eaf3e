import { createHash } from 'node:crypto';

/**
 * The idempotency key of a batch: a hash of its first and last event ids and its size, so that every
 * retry of a batch carries the same key, and each half of a split batch its own. Events without an id
 * (an exporter used without a processor) key on the body instead, which is just as stable across
 * retries. 32 hex digits: safe in a header, short, and free of the ids themselves.
 */
export function idempotencyKey(events: readonly { readonly id?: unknown }[], body: Uint8Array): string {
  const hash = createHash('sha256');
  const first = events[0]?.id;
  const last = events[events.length - 1]?.id;
  if (typeof first === 'string' && typeof last === 'string') hash.update(`${first}\n${last}\n${events.length}`);
  else hash.update(body);
  return hash.digest('hex').slice(0, 32);
}
