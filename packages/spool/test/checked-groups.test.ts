// Stored groups with a checksum that matches are split into their lines and never parsed on read:
// hostile values written straight into the store (a matching checksum over lines that are not what
// GroupWriter writes, headers that do not add up) must decode or be dropped, counted, on their own.
import { crc32 } from 'node:zlib';
import { open as openLmdb } from 'lmdb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BatchProcessor, jsonEncoder, silentLogger } from '@trackpipe/core';
import { MemoryExporter } from '@trackpipe/core/testing';
import { Spool } from '../src/index.js';
import { type Ev, openSpool, take, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir('trackpipe-spool-checked-'));
});
afterEach(() => cleanup());

/** A stored value whose checksum matches its array of `lines` (`count`: the header's count). */
function checked(lines: readonly string[], count = lines.length, close = ']'): string {
  const array = `[${lines.join(',\n')}${close}`;
  return `${count} ${crc32(array).toString(16).padStart(8, '0')}\n${array}`;
}

const line = (k: number): string => JSON.stringify({ name: 'e', k });

/** Writes three groups of three (0..2, 3..5, 6..8) through a spool, then replaces the value at `key`. */
async function storeWith(key: number, value: string): Promise<void> {
  const { spool } = openSpool({ path: dir, sync: { maxEvents: 3 } });
  for (let k = 0; k < 9; k++) spool.push({ name: 'e', k });
  expect(await spool.persisted()).toBe(true);
  await spool.close();
  const env = openLmdb({ path: dir, maxDbs: 4 });
  const events = env.openDB<string, number>({ name: 'events', encoding: 'string' });
  expect(Array.from(events.getKeys({}))).toEqual([0, 3, 6]);
  events.putSync(key, value);
  await env.close();
}

/** Drains `spool` with peek/shift, checking that `ready > 0` always comes with an event. */
function drain(spool: Spool<Ev>): { key: number; event: Ev }[] {
  const out: { key: number; event: Ev }[] = [];
  for (;;) {
    const before = spool.ready;
    const event = spool.peek();
    if (event === undefined) {
      expect(spool.ready).toBe(0);
      break;
    }
    expect(before).toBeGreaterThan(0);
    expect(typeof event).toBe('object');
    expect(event).not.toBeNull();
    const key = spool.head;
    expect(spool.shift()).toBe(event);
    out.push({ key, event });
  }
  return out;
}

describe('a stored group whose checksum matches', () => {
  it.each<[string, string, number[], number]>([
    ['a line that is not JSON', checked([line(3), '{"name":"e","k":4', line(5)]), [0, 1, 2, 3, 5, 6, 7, 8], 1],
    ['a line that is JSON null with a space in front', checked([line(3), ' null', line(5)]), [0, 1, 2, 3, 5, 6, 7, 8], 1],
    ['a line that is JSON null with a carriage return after it', checked([line(3), 'null\r', line(5)]), [0, 1, 2, 3, 5, 6, 7, 8], 1],
    ['lines ending in a carriage return', checked([`${line(3)}\r`, `${line(4)}\r`, line(5)]), [0, 1, 2, 3, 4, 5, 6, 7, 8], 0],
    ['every line null', checked(['null', 'null', 'null']), [0, 1, 2, 6, 7, 8], 3],
    ['more lines than its count', checked([line(3), line(4), line(5), line(99)], 3), [0, 1, 2, 6, 7, 8], 3],
    ['two events on one line', checked([`${line(3)},${line(4)}`, line(5)], 3), [0, 1, 2, 3, 4, 5, 6, 7, 8], 0],
    ['a checksum in capitals', checked([line(3), line(4), line(5)]).replace(/ ([0-9a-f]{8})\n/, (_m, h: string) => ` ${h.toUpperCase()}\n`), [0, 1, 2, 3, 4, 5, 6, 7, 8], 0],
    ['a checksum one digit short', checked([line(3), line(4), line(5)]).replace(/ [0-9a-f]([0-9a-f]{7})\n/, ' $1\n'), [0, 1, 2, 3, 4, 5, 6, 7, 8], 0],
    ['its array not closed', checked([line(3), line(4), line(5)], 3, ''), [0, 1, 2, 6, 7, 8], 3],
  ])('with %s decodes or loses its own events at most, counted; peek and shift never throw nor hand out a non-event', async (_what, value, expected, lost) => {
    await storeWith(3, value);
    const { spool, recovered, listener } = openSpool({ path: dir });
    try {
      expect(recovered).toBe(9);
      const got = drain(spool);
      expect(got.map((t) => t.event.k)).toEqual(expected);
      expect(got.map((t) => t.key)).toEqual(expected);
      expect(listener.count('unserializable')).toBe(lost);
      expect(spool.size).toBe(0);
      expect(spool.stats().events).toBe(expected.length);
    } finally {
      await spool.close();
    }
    // Released or dropped: nothing comes back.
    const { spool: again, recovered: after } = openSpool({ path: dir });
    try {
      expect(after).toBe(expected.length); // taken, not released
      again.release(0, 9);
      expect(await again.persisted()).toBe(true);
    } finally {
      await again.close();
    }
    const { spool: last, recovered: none } = openSpool({ path: dir });
    expect(none).toBe(0);
    await last.close();
  });

  it('last, with a huge count, is read to where the state says the keys end: nothing lost or counted past it; the spool goes on taking pushes', async () => {
    await storeWith(6, checked([line(6), line(7), line(8)], 999_999_999));
    const { spool, listener, recovered: first } = openSpool({ path: dir });
    try {
      expect(first).toBe(9);
      expect(drain(spool).map((t) => t.key)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
      expect(listener.count('unserializable')).toBe(0);
      expect([spool.ready, spool.size]).toEqual([0, 0]);
      spool.release(0, 9);
      const key = spool.tail;
      spool.push({ name: 'e', k: key });
      expect(await spool.persisted()).toBe(true);
      expect(drain(spool).map((t) => t.event.k)).toEqual([key]);
      spool.release(key, key + 1);
    } finally {
      await spool.close();
    }
    const { spool: again, recovered } = openSpool({ path: dir });
    await again.close();
    expect(recovered).toBe(0);
  });

  it('with a line that is not JSON, read by an exporter as events: the export fails without quoting the text', async () => {
    await storeWith(3, checked([line(3), 'SECRET-PAYLOAD {"name":"e","k":4}', line(5)]));
    const exporter = new MemoryExporter({ encoder: jsonEncoder });
    const processor = new BatchProcessor(exporter, { logger: silentLogger, queue: new Spool({ path: dir, logger: silentLogger }), maxBatchSize: 3 });
    try {
      expect((await processor.flush({ timeoutMs: 5_000 })).complete).toBe(true);
      const stats = processor.stats();
      expect(stats.exported + stats.dropped).toBe(9);
      expect(JSON.stringify(stats)).not.toContain('SECRET');
    } finally {
      await processor.close({ timeoutMs: 1_000 });
    }
  });

  it('with a line that is not JSON, taken as text (peekEncoded, takeEncoded), keeps the sequence numbers and the count', async () => {
    await storeWith(3, checked([line(3), '{"name":"e","k":4', line(5)]));
    const { spool } = openSpool({ path: dir });
    try {
      const texts: string[] = [];
      const keys: number[] = [];
      for (let text = spool.peekEncoded(); text !== undefined; text = spool.peekEncoded()) {
        keys.push(spool.head);
        texts.push(text);
        expect(spool.takeEncoded()).toBeUndefined();
      }
      // Handed on as text (never parsed): the exporter's batch parses it if it reads events.
      expect(keys).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
      expect(texts[4]).toBe('{"name":"e","k":4');
      expect([spool.ready, spool.size, spool.head]).toEqual([0, 0, 9]);
    } finally {
      await spool.close();
    }
  });

  it('mixes peek, shift, peekEncoded and takeEncoded over events read back from disk, with drop-oldest overflow, and keeps every sequence number', async () => {
    {
      const { spool } = openSpool({ path: dir, sync: { maxEvents: 4 } });
      for (let k = 0; k < 20; k++) spool.push({ name: 'e', k });
      expect(await spool.persisted()).toBe(true);
      await spool.close();
    }
    const { spool, listener } = openSpool({ path: dir, memoryEvents: 3, maxBytes: 1024, overflow: 'drop-oldest' });
    try {
      const seen: number[] = [];
      // Two read as text, one parsed, one shifted, then push until the spool drops the oldest.
      expect(spool.peekEncoded()).toBe(line(0));
      expect(spool.takeEncoded()).toBeUndefined();
      seen.push(0);
      expect(spool.peek()).toEqual({ name: 'e', k: 1 });
      expect(spool.peekEncoded()).toBe(line(1));
      expect(spool.takeEncoded()).toEqual({ name: 'e', k: 1 }); // parsed by peek: the object
      seen.push(1);
      expect(spool.shift()).toEqual({ name: 'e', k: 2 });
      seen.push(2);
      for (let k = 20; k < 60; k++) spool.push({ name: 'e', k });
      expect(await spool.persisted()).toBe(true);
      const dropped = listener.count('spool_full');
      expect(dropped).toBeGreaterThan(0);
      let taken = 0;
      for (;;) {
        const key = spool.head;
        const mode = taken++ % 3;
        if (mode === 0) {
          const text = spool.peekEncoded();
          if (text === undefined) break;
          spool.takeEncoded();
          seen.push(key);
          expect((JSON.parse(text) as Ev).k).toBe(key);
        } else {
          const event = mode === 1 ? spool.peek() : spool.shift();
          if (event === undefined) break;
          if (mode === 1) spool.shift();
          seen.push(key);
          expect(event.k).toBe(key);
        }
      }
      // Whatever was dropped was the oldest; the rest came in order, each once.
      expect(seen.length + dropped).toBe(60);
      expect(seen).toEqual([...seen].sort((a, b) => a - b));
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen.at(-1)).toBe(59);
      expect([spool.ready, spool.size]).toEqual([0, 0]);
      spool.release(0, 60);
    } finally {
      await spool.close();
    }
    {
      const { spool, recovered } = openSpool({ path: dir, sync: { maxEvents: 4 } });
      expect(recovered).toBe(0);
      for (let k = 60; k < 70; k++) spool.push({ name: 'e', k });
      expect(await spool.persisted()).toBe(true);
      await spool.close();
    }
    const { spool: again, recovered } = openSpool({ path: dir, memoryEvents: 3 });
    try {
      expect(recovered).toBe(10);
      expect(again.peekEncoded()).toBe(line(60));
      expect(again.takeEncoded()).toBeUndefined();
      expect(again.peek()).toEqual({ name: 'e', k: 61 });
      // clear() while the window holds events not parsed: none left, none back after a restart.
      expect(again.clear()).toBe(9);
      expect([again.ready, again.size, again.head, again.peek(), again.peekEncoded()]).toEqual([0, 0, 70, undefined, undefined]);
      again.release(60, 61);
      expect(await again.persisted()).toBe(true);
    } finally {
      await again.close();
    }
    const { spool: empty, recovered: none } = openSpool({ path: dir });
    expect(none).toBe(0);
    expect(take(empty)).toEqual([]);
    await empty.close();
  });
});
