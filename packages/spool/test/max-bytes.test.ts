// maxBytes bounds the stored JSON, but push() encodes nothing: events waiting for their commit are
// counted at the average stored size. Before the first commit of a new spool that average is
// measured on the first event pushed, so that a first burst is admitted at its real size: small
// events are not dropped from an almost empty spool, large ones do not store many times the bound.
import { open as openLmdb } from 'lmdb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSpool, take, tempDir } from './helpers.js';

const MAX_BYTES = 1024 * 1024;
const PAD = 'x'.repeat(50_000); // about 50 KB of JSON per event: 20 fit

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir()));
afterEach(() => cleanup());

/** The largest stored value, read with LMDB itself after the spool closed. */
async function largestValue(): Promise<number> {
  const env = openLmdb({ path: dir, maxDbs: 8 });
  const events = env.openDB<Buffer, number>({ name: 'events', encoding: 'binary' });
  let largest = 0;
  for (const { value } of events.getRange({})) largest = Math.max(largest, value.length);
  await env.close();
  return largest;
}

describe('the first burst into a new spool', () => {
  it('of 5 000 small events into a 1 MiB spool is admitted whole: nothing dropped as spool_full from an almost empty store', async () => {
    const { spool, listener } = openSpool({ path: dir, maxBytes: MAX_BYTES });
    for (let i = 0; i < 5_000; i++) spool.push({ name: 'e', k: i });
    expect(await spool.persisted()).toBe(true);
    expect(listener.count('spool_full')).toBe(0);
    expect(take(spool).map((t) => t.event.k)).toEqual(Array.from({ length: 5_000 }, (_, i) => i));
    expect(spool.stats().bytes).toBeLessThan(MAX_BYTES / 5);
    await spool.close();
  });

  it('of 200 events of 50 KB into a 1 MiB spool stores about 1 MiB, not 10 MB: the rest is dropped as spool_full, and a restart finds what was kept', async () => {
    const { spool, listener } = openSpool({ path: dir, maxBytes: MAX_BYTES });
    for (let i = 0; i < 200; i++) spool.push({ name: 'e', k: i, pad: PAD });
    expect(await spool.persisted()).toBe(true);
    const { bytes, events } = spool.stats();
    expect(bytes).toBeLessThanOrEqual(MAX_BYTES + 51_000); // the bound, and at most the event that found room left
    expect(events).toBeGreaterThanOrEqual(19);
    expect(listener.count('spool_full')).toBe(200 - events);
    await spool.close();
    // Nothing committed could make room (drop-oldest): the events being pushed were dropped, the first ones kept.
    const again = openSpool({ path: dir, maxBytes: MAX_BYTES });
    expect(again.recovered).toBe(events);
    expect(take(again.spool).map((t) => t.event.k)).toEqual(Array.from({ length: events }, (_, i) => i));
    await again.spool.close();
  });

  it('stores no value of more than maxBytes / 16 of JSON plus one event, whatever the estimated group size', async () => {
    const { spool } = openSpool({ path: dir, maxBytes: 64 * MAX_BYTES, sync: { maxEvents: 512 } });
    // Small events set the average (groups of 512), then large ones follow in one commit.
    for (let i = 0; i < 1_000; i++) spool.push({ name: 'e', k: i });
    expect(await spool.persisted()).toBe(true);
    for (let i = 0; i < 300; i++) spool.push({ name: 'e', k: 1_000 + i, pad: PAD });
    expect(await spool.persisted()).toBe(true);
    expect(spool.stats().dropped.spool_full).toBe(0);
    await spool.close();
    expect(await largestValue()).toBeLessThanOrEqual((64 * MAX_BYTES) / 16 + 51_000);
    const again = openSpool({ path: dir, maxBytes: 64 * MAX_BYTES });
    expect(take(again.spool).map((t) => t.event.k)).toEqual(Array.from({ length: 1_300 }, (_, i) => i));
    await again.spool.close();
  });
});
