// LMDB reads through a memory map: every page read back stays in the process's RSS until it is
// unmapped. The spool closes and reopens its environment after every REMAP_TOUCHED_BYTES read back, so
// that draining a backlog of gigabytes does not grow RSS by as much. Linux: RSS from /proc/self/status.
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { REMAP_MIN_FILE_BYTES, REMAP_TOUCHED_BYTES } from '../src/constants.js';
import type { Spool } from '../src/index.js';
import { type Ev, openSpool, pushN, take, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => void;
let spool: Spool<Ev> | undefined;

beforeEach(() => {
  ({ dir, cleanup } = tempDir());
});
afterEach(async () => {
  await spool?.close();
  spool = undefined;
  cleanup();
});

const MB = 1024 * 1024;

/** The file-backed pages of this process's RSS, in bytes (LMDB's map among them). */
function rssFile(): number {
  const kb = /^RssFile:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
  if (kb === null) throw new Error('no RssFile in /proc/self/status');
  return Number(kb[1]) * 1024;
}

/**
 * Takes batches of 500 and releases them until `limit` events were taken or none is left, yielding to
 * the event loop between batches; returns how often it found none ready while some were left.
 */
async function drain(s: Spool<Ev>, limit: number, each: (t: { key: number; event: Ev }) => void, afterBatch?: () => Promise<void>): Promise<number> {
  let taken = 0;
  let gaps = 0;
  while (taken < limit) {
    const batch = take(s, Math.min(500, limit - taken));
    if (batch.length === 0) {
      if (s.size === 0) break;
      gaps++;
      expect(s.ready).toBe(0);
      await new Promise((resolve) => setImmediate(resolve));
      continue;
    }
    batch.forEach(each);
    taken += batch.length;
    s.release(batch[0]!.key, batch.at(-1)!.key + 1);
    await afterBatch?.();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return gaps;
}

it('keeps the pages it read back out of RSS while it drains a backlog five times REMAP_TOUCHED_BYTES, in order, with pushes and commits going on, never closed to a reader', async () => {
  const pad = 'x'.repeat(4000);
  const events = Math.ceil((5 * REMAP_TOUCHED_BYTES) / pad.length);
  spool = openSpool({ path: dir, maxBytes: 1024 * MB, memoryEvents: 1000 }).spool;
  for (let pushed = 0; pushed < events; pushed += 2000) {
    pushN(spool, Math.min(2000, events - pushed), pad);
    expect(await spool.persisted()).toBe(true);
  }
  const before = rssFile();
  let peak = before;
  let expected = 0;
  let pushedDuring = 0;
  let batches = 0;
  const gaps = await drain(spool, Infinity, (t) => {
    expect(t.event.k).toBe(expected++);
  }, async () => {
    peak = Math.max(peak, rssFile());
    if (++batches % 10 === 0) {
      pushN(spool!, 10, pad); // new events arrive and are committed while the backlog is read back
      pushedDuring += 10;
      expect(await spool!.persisted()).toBe(true);
    }
  });
  expect(expected).toBe(events + pushedDuring);
  // Closing and opening again happen between two turns of the event loop: a reader never finds the spool closed.
  expect(gaps).toBe(0);
  // The backlog is five times the threshold: without the remaps RSS grows by all of it.
  expect(peak - before).toBeLessThan(2 * REMAP_TOUCHED_BYTES);
  expect(spool.stats().reopened).toBeGreaterThanOrEqual(4);
  expect(spool.stats().events).toBe(0);
});

it('recovers what it had not released after it opened its environment again, in order', async () => {
  const pad = 'y'.repeat(4000);
  const events = Math.ceil((1.25 * REMAP_MIN_FILE_BYTES) / pad.length);
  spool = openSpool({ path: dir, maxBytes: 1024 * MB, memoryEvents: 1000 }).spool;
  pushN(spool, events, pad);
  expect(await spool.persisted()).toBe(true);
  let expected = 0;
  await drain(spool, (3 * events) / 4, (t) => {
    expect(t.event.k).toBe(expected++);
  });
  expect(spool.stats().reopened).toBeGreaterThan(0);
  await spool.close();
  const reopened = openSpool({ path: dir, maxBytes: 1024 * MB, memoryEvents: 1000 });
  spool = reopened.spool;
  expect(reopened.recovered).toBe(events - expected);
  await drain(spool, Infinity, (t) => {
    expect(t.event.k).toBe(expected++);
  });
  expect(expected).toBe(events);
});

it('never reopens a data file smaller than REMAP_MIN_FILE_BYTES, however much passes through it (reopening costs native memory)', async () => {
  const pad = 'z'.repeat(4000);
  spool = openSpool({ path: dir, maxBytes: 1024 * MB, memoryEvents: 1000 }).spool;
  const rounds = Math.ceil((3 * REMAP_TOUCHED_BYTES) / (2000 * pad.length));
  let expected = 0;
  for (let round = 0; round < rounds; round++) {
    pushN(spool, 2000, pad);
    expect(await spool.persisted()).toBe(true);
    await drain(spool, Infinity, (t) => {
      expect(t.event.k).toBe(expected++);
    });
    expect(await spool.persisted()).toBe(true);
  }
  expect(expected).toBe(rounds * 2000);
  expect(spool.stats().reopened).toBe(0);
});
