import { describe, expect, it, vi } from 'vitest';
import { eventIdTime, nextEventId } from '@trackpipe/core';
import { RingBuffer, recordTime } from '@trackpipe/core/internal';

describe('nextEventId', () => {
  it('produces unique UUIDv7 strings that sort in creation order', () => {
    const ids = Array.from({ length: 50_000 }, () => nextEventId());
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
    for (const id of ids.slice(0, 100)) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('carries the record time, and stays ordered when the clock steps back', () => {
    const a = nextEventId(2_000_000_000_000);
    const b = nextEventId(1_000_000_000_000); // clock went back
    expect(eventIdTime(a)).toBe(2_000_000_000_000);
    expect(b > a).toBe(true);
  });
});

describe('recordTime', () => {
  it('reads the clock afresh in every new task and at least every 64 calls', async () => {
    vi.useFakeTimers({ now: 1_000 });
    try {
      await Promise.resolve();
      expect(recordTime()).toBe(1_000);
      vi.setSystemTime(2_000);
      const within = Array.from({ length: 63 }, () => recordTime());
      expect(new Set(within)).toEqual(new Set([1_000])); // the same synchronous run reuses it…
      expect(recordTime()).toBe(2_000); // …for at most 64 calls
      vi.setSystemTime(3_000);
      await Promise.resolve(); // a new task
      expect(recordTime()).toBe(3_000);
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('RingBuffer', () => {
  it('is FIFO across wrap-around and clears slots it gives back', () => {
    const ring = new RingBuffer<number>(3);
    ring.push(1);
    ring.push(2);
    expect(ring.shift()).toBe(1);
    ring.push(3);
    ring.push(4); // wraps
    expect(ring.size).toBe(3);
    expect(ring.peek()).toBe(2);
    expect([ring.shift(), ring.shift(), ring.shift(), ring.shift()]).toEqual([2, 3, 4, undefined]);
    ring.push(5);
    expect(ring.clear()).toBe(1);
    expect(ring.size).toBe(0);
  });

  it('reads the item at an index from the oldest across wrap-around, and nothing outside 0..size-1', () => {
    const ring = new RingBuffer<string>(3);
    ring.push('a');
    ring.push('b');
    ring.push('c');
    ring.shift();
    ring.push('d'); // wraps: holds b, c, d with the oldest at slot 1
    expect([0, 1, 2].map((i) => ring.at(i))).toEqual(['b', 'c', 'd']);
    expect([ring.at(-1), ring.at(3)]).toEqual([undefined, undefined]); // index 3 would wrap onto b's slot
  });
});
