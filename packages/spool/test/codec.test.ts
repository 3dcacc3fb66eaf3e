// The stored form of a group, written by GroupWriter (src/codec.ts).
import { describe, expect, it } from 'vitest';
import { crc32 } from 'node:zlib';
import { jsonEncoder } from '@trackpipe/core';
import { GroupWriter, decodeGroup, readCount } from '../src/codec.js';

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

describe('a stored group read back', () => {
  const events = [{ name: 'a', id: '1', city: 'Zürich' }, { name: 'b', id: '2', list: [1, { name: 'nested' }] }, { name: 'c', id: '3', n: 1.5e-7 }];

  function written(list: readonly unknown[] = events): Buffer {
    return Buffer.from(new GroupWriter().write(list, 0, list.length, [], 0));
  }

  it('carries the CRC-32 of its array in its header, and is split into each event’s JSON without being parsed', () => {
    const value = written();
    const header = value.subarray(0, value.indexOf(0x0a)).toString();
    expect(header).toBe(`3 ${crc32(value.subarray(value.indexOf(0x0a) + 1)).toString(16).padStart(8, '0')}`);
    expect(readCount(value)).toBe(3);
    expect(decodeGroup(value, 3)).toEqual({ events: undefined, texts: events.map((e) => jsonEncoder(e)) });
  });

  it('stores an event that cannot be encoded as the text null', () => {
    const cyclic: Record<string, unknown> = { name: 'cyclic' };
    cyclic['self'] = cyclic;
    const value = written([events[0], cyclic, events[2]]);
    expect(decodeGroup(value, 3).texts).toEqual([jsonEncoder(events[0]), 'null', jsonEncoder(events[2])]);
  });

  it('is parsed instead when its checksum does not match (a damaged byte): what still parses is kept, with the damage', () => {
    const value = written();
    const at = value.indexOf('"Zürich"') + 1;
    value[at] = 'X'.charCodeAt(0);
    const decoded = decodeGroup(value, 3);
    expect(decoded.events).toEqual([{ ...events[0], city: 'Xürich' }, events[1], events[2]]);
  });

  it('is refused (throws) when its checksum does not match and its array no longer parses, or holds another count', () => {
    const value = written();
    value[value.indexOf('"b"')] = '{'.charCodeAt(0);
    expect(() => decodeGroup(value, 3)).toThrow();
    expect(() => decodeGroup(written(), 2)).toThrow();
  });

  it('is parsed when its header has no checksum (written by an earlier version)', () => {
    const value = written();
    const old = Buffer.concat([Buffer.from('3\n'), value.subarray(value.indexOf(0x0a) + 1)]);
    expect(readCount(old)).toBe(3);
    expect(decodeGroup(old, 3)).toEqual({ events, texts: events.map((e) => jsonEncoder(e)) });
  });

  it.each([
    ['a checksum of 7 digits', (v: string) => v.replace(/^3 [0-9a-f]{8}\n/, (h) => `${h.slice(0, 9)}\n`)],
    ['a checksum with a digit that is not hex', (v: string) => v.replace(/^3 [0-9a-f]/, '3 g')],
    ['no count', (v: string) => v.replace(/^3 /, ' ')],
  ])('is no group to readCount with %s', (_what, damage) => {
    expect(readCount(Buffer.from(damage(written().toString())))).toBe(-1);
  });
});
