// maxBytes bounds the stored JSON, but push() encodes nothing: events waiting for their commit are
// counted at the average stored size. Before the first commit of a new spool that average is
// measured on the first event pushed, so that a first burst is admitted at its real size: small
// events are not dropped from an almost empty spool, large ones do not store many times the bound.
import { open as openLmdb } from 'lmdb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BatchProcessor, silentLogger } from '@trackpipe/core';
import { MemoryExporter } from '@trackpipe/core/testing';
import { Spool } from '../src/index.js';
import { RecordingLogger, openSpool, take, tempDir } from './helpers.js';

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

describe('an event larger than maxBytes on its own', () => {
  it('is never stored: dropped as spool_full (counted, not delivered), the store stays within its bound, and the events around it go on in order', async () => {
    const { spool, listener } = openSpool({ path: dir, maxBytes: MAX_BYTES });
    spool.push({ name: 'e', k: 0 });
    spool.push({ name: 'e', k: 1, pad: 'x'.repeat(4 * MAX_BYTES) }); // 4 MiB of JSON into a 1 MiB spool
    spool.push({ name: 'e', k: 2 });
    expect(await spool.persisted()).toBe(true);
    expect(spool.stats().bytes).toBeLessThanOrEqual(MAX_BYTES);
    expect(listener.count('spool_full')).toBe(1);
    expect(spool.size).toBe(2);
    const taken = take(spool);
    expect(taken.map((t) => t.event.k)).toEqual([0, 2]);
    spool.release(taken[0]!.key, taken[0]!.key + 1);
    // At the head of a group, with nothing else waiting.
    spool.push({ name: 'e', k: 3, pad: 'x'.repeat(4 * MAX_BYTES) });
    spool.push({ name: 'e', k: 4 });
    expect(await spool.persisted()).toBe(true);
    expect(listener.count('spool_full')).toBe(2);
    const next = take(spool);
    expect(next.map((t) => t.event.k)).toEqual([4]);
    spool.release(next[0]!.key, next[0]!.key + 1);
    await spool.close();
    // A restart finds the one not released, and not the dropped one.
    const again = openSpool({ path: dir, maxBytes: MAX_BYTES });
    expect(take(again.spool).map((t) => t.event.k)).toEqual([2]);
    await again.spool.close();
  });
});

describe('a processor on a spool, recording an event larger than maxBytes', () => {
  it('exports the others, counts it dropped as spool_full, and its figures add up', async () => {
    const exporter = new MemoryExporter();
    const processor = new BatchProcessor(exporter, { logger: silentLogger, queue: new Spool({ path: dir, maxBytes: MAX_BYTES, logger: new RecordingLogger() }) });
    processor.record({ name: 'a' });
    processor.record({ name: 'huge', attributes: { pad: 'x'.repeat(2 * MAX_BYTES) } });
    processor.record({ name: 'b' });
    expect(await processor.flush({ timeoutMs: 5_000 })).toMatchObject({ complete: true });
    expect(exporter.events.map((e) => e.name)).toEqual(['a', 'b']);
    const stats = processor.stats();
    expect(stats).toMatchObject({ recorded: 3, exported: 2, dropped: 1, queued: 0, inFlight: 0, droppedByReason: expect.objectContaining({ spool_full: 1 }) });
    await processor.close();
  });
});

describe('an event larger than maxBytes pushed first into a new spool', () => {
  it('does not set the average that admits the events after it: only it is dropped', async () => {
    const { spool, listener } = openSpool({ path: dir, maxBytes: MAX_BYTES });
    spool.push({ name: 'e', k: 0, pad: 'x'.repeat(4 * MAX_BYTES) });
    for (let i = 1; i <= 10; i++) spool.push({ name: 'e', k: i });
    expect(await spool.persisted()).toBe(true);
    expect(listener.count('spool_full')).toBe(1);
    expect(take(spool).map((t) => t.event.k)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    await spool.close();
  });
});
