import { describe, expect, it } from 'vitest';
import { RingBuffer, eventIdTime, nextEventId } from '@trackpipe/core';

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
});
