// The stored form of a group, written by GroupWriter (src/codec.ts).
import { describe, expect, it } from 'vitest';
import { GroupWriter } from '../src/codec.js';

describe('GroupWriter', () => {
  it('writes a group whose events JSON together pass the longest string V8 makes (2^29 - 24 characters): its chunks are cut by characters too', () => {
    const big = 'x'.repeat(9 * 1024 * 1024);
    const events = Array.from({ length: 64 }, (_, i) => ({ name: 'e', id: String(i), big }));
    const writer = new GroupWriter();
    const value = writer.write(events, 0, events.length, [], 0);
    expect(writer.end).toBe(64);
    expect(value.length).toBeGreaterThan(2 ** 29);
  });
});
