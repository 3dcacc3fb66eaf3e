// How a group of events is stored: one LMDB value per group commit, keyed by the sequence number of
// its first event. The value is `<count> <crc32>\n<JSON array>`: the count lets the spool size a group
// (for recovery, release and drop bookkeeping) by reading a few bytes instead of parsing the array.
// The array holds one event per line, so that each event's JSON is found again when the group is read
// back; the CRC-32 of the array (8 hex digits) proves those lines are the ones written, so they are
// handed on as text, never parsed unless an exporter reads the events. Earlier versions wrote
// `<count>\n<JSON array>` (one event per line, or all on one line): those groups are parsed to be checked.

import { crc32 } from 'node:zlib';
import { jsonEncoder } from '@trackpipe/core';

const NEWLINE = 0x0a;
const SPACE = 0x20;
const CLOSE_BRACKET = 0x5d;

/** The separator between two events in a stored group: JSON.stringify never writes a raw newline, so each event is one line. */
const SEPARATOR = ',\n';
/** Events whose texts are joined before one write into the buffer (a joined chunk stays a small string). */
const CHUNK_EVENTS = 64;
/**
 * A chunk also ends once its texts reach this many UTF-16 units: large events joined 64 at a time
 * could pass the longest string V8 makes (2^29 - 24 units), and the commit would fail the same way
 * on every retry. One text alone always fits (JSON.stringify made it).
 */
const CHUNK_UNITS = 1 << 20;
/** Bytes kept in front of a value's events for its header, `<count> <crc32>\n[` (a count of up to 13 digits). */
const HEADER_ROOM = 24;
/** A group writer keeps its buffer for the next group up to this size; a larger one is dropped after use. */
const KEEP_BYTES = 4 * 1024 * 1024;

/**
 * Encodes events to stored groups in one reused buffer: `<count>\n[<json>,\n<json>,\n...]` (a JSON
 * array with one event per line). Each event is encoded by core's `jsonEncoder`, the processor's: an
 * event it refuses (a cycle, a BigInt, a `toJSON` that throws or makes it no object) is stored as
 * `null`, which a spool reading it back drops, counted, as `unserializable`. The buffer returned is valid until the next `write()`:
 * LMDB copies a value during `put()` inside a write transaction, so a group costs no string and no
 * buffer of its own, and an event's JSON lives only as long as the caller keeps it.
 */
export class GroupWriter {
  #buffer: Buffer = Buffer.allocUnsafe(64 * 1024);
  readonly #chunk: string[] = [];

  /** After `write()`: the index after the last event the value holds (`to`, or less when `maxChars` was reached). */
  end = 0;
  /** After `write()`: the indexes of the events whose JSON was longer than `maxEventBytes` (stored as `null`). */
  readonly oversize: number[] = [];

  /**
   * The stored value of `events[from..to)`, or of a shorter run from `from` when the JSON reaches
   * `maxChars` characters first (at least one event; `end` says where it stopped). The JSON of each
   * event below `keep` goes to `texts` at its index (undefined: it could not be encoded), for the
   * processor to reuse. An event whose JSON is longer than `maxEventBytes` bytes is stored as `null`,
   * its index listed in `oversize`.
   */
  write(
    events: readonly unknown[],
    from: number,
    to: number,
    texts: (string | undefined)[],
    keep: number,
    maxChars = Infinity,
    maxEventBytes = Infinity,
  ): Buffer {
    this.oversize.length = 0;
    let b = this.#buffer;
    // The header (`<count>\n[`) is written last, in front of the events: the count is known only then.
    let at = HEADER_ROOM;
    let chars = 0;
    let i = from;
    // Texts are joined a chunk at a time: one buffer write per chunk instead of one per event.
    const chunk = this.#chunk;
    while (i < to) {
      const end = Math.min(to, i + CHUNK_EVENTS);
      let units = 0;
      chunk.length = 0;
      while (i < end) {
        let text: string | undefined;
        try {
          text = jsonEncoder(events[i]);
        } catch {
          // stored as null
        }
        // At most 3 UTF-8 bytes per UTF-16 unit: most texts need no count.
        if (text !== undefined && text.length * 3 > maxEventBytes && Buffer.byteLength(text) > maxEventBytes) {
          text = undefined;
          this.oversize.push(i);
        }
        if (i < keep) texts[i] = text;
        const stored = text ?? 'null';
        units += stored.length + 2;
        chunk.push(stored);
        i++;
        chars += stored.length + 2;
        if (chars >= maxChars || units >= CHUNK_UNITS) break;
      }
      // At most 3 UTF-8 bytes per UTF-16 unit.
      if (at + units * 3 + 1 > b.length) b = this.#grow(b, at, at + units * 3 + 1);
      at += b.write(chunk.join(SEPARATOR), at, 'utf8');
      if (chars >= maxChars) break;
      if (i < to) at += b.write(SEPARATOR, at, 'latin1');
    }
    chunk.length = 0;
    b[at++] = CLOSE_BRACKET;
    this.end = i;
    // The checksum covers the array from its `[`, which the header writes: start from a `[` in place.
    b[HEADER_ROOM - 1] = 0x5b;
    const checksum = crc32(b.subarray(HEADER_ROOM - 1, at));
    const header = `${i - from} ${checksum.toString(16).padStart(8, '0')}\n`;
    const start = HEADER_ROOM - 1 - header.length;
    b.write(header, start, 'latin1');
    return b.subarray(start, at);
  }

  #grow(b: Buffer, used: number, needed: number): Buffer {
    const next = Buffer.allocUnsafe(Math.max(needed, b.length * 2));
    b.copy(next, 0, 0, used);
    if (next.length <= KEEP_BYTES) this.#buffer = next;
    return next;
  }
}

/** A stored group's header: its event count, and the CRC-32 of its array (-1 when it has none: an earlier version wrote it). */
interface Header {
  readonly count: number;
  readonly checksum: number;
  /** Where the array starts (after the header's newline). */
  readonly start: number;
}

/**
 * A stored group's header, or undefined when `value` does not look like a group (no header, or its
 * JSON does not end with `]`). Reads the first bytes and the last one only.
 */
function readHeader(value: Uint8Array): Header | undefined {
  let count = 0;
  let i = 0;
  const limit = Math.min(value.length, 16);
  for (; i < limit; i++) {
    const c = value[i]!;
    if (c === NEWLINE || c === SPACE) break;
    if (c < 0x30 || c > 0x39) return undefined;
    count = count * 10 + (c - 0x30);
  }
  if (i === 0 || i === limit) return undefined;
  let checksum = -1;
  if (value[i] === SPACE) {
    checksum = 0;
    const end = i + 9;
    for (i++; i < end; i++) {
      const digit = HEX[value[i] ?? 0] ?? -1;
      if (digit < 0) return undefined;
      checksum = checksum * 16 + digit;
    }
    if (value[i] !== NEWLINE) return undefined;
  }
  const start = i + 1;
  return value.length > start && value[value.length - 1] === CLOSE_BRACKET ? { count, checksum, start } : undefined;
}

/** The value of each lowercase hex digit's byte, -1 for other bytes. */
const HEX: readonly number[] = Array.from({ length: 256 }, (_, c) => (c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : -1));

/** The event count in a stored group's header, or -1 when `value` does not look like a group. */
export function readCount(value: Uint8Array): number {
  return readHeader(value)?.count ?? -1;
}

/**
 * A stored group read back: each event's JSON (`texts`, when the group keeps one event per line) and,
 * for a group written before checksums (checked by parsing it), its events (`null` for those that
 * could not be encoded). A group with a checksum is not parsed: `events` is undefined, and an event
 * that could not be encoded has the text `null`.
 */
export interface DecodedGroup {
  readonly events: unknown[] | undefined;
  readonly texts: string[] | undefined;
}

/**
 * The UTF-8 text of `value[start..]`. lmdb's getBinaryFast returns a Buffer for most values but a
 * plain Uint8Array (a view of the memory map, without Buffer's `toString(encoding, start, end)`) for
 * a value of 16 MiB or more: a Buffer view of the same bytes decodes either. The end is explicit: the
 * Buffer lmdb returns is a view whose implicit end, on Node 24 and later, runs past the value into
 * the rest of lmdb's shared buffer.
 */
export function utf8From(value: Uint8Array, start: number): string {
  return Buffer.from(value.buffer, value.byteOffset, value.length).toString('utf8', start, value.length);
}

/**
 * Decodes a stored group of `count` events. A group whose header and checksum match is split into its
 * lines, not parsed; any other (written before checksums, or damaged) is parsed, and kept when its
 * array still holds `count` events. Throws when it does not.
 */
export function decodeGroup(value: Uint8Array, count: number): DecodedGroup {
  const header = readHeader(value);
  // The end is explicit (see utf8From): on Node 24 and later, subarray's implicit end runs past the value.
  if (header !== undefined && header.checksum >= 0 && header.count === count && crc32(value.subarray(header.start, value.length)) === header.checksum) {
    const texts = splitTexts(utf8From(value, header.start), count);
    if (texts !== undefined) return { events: undefined, texts };
  }
  const json = utf8From(value, value.indexOf(NEWLINE) + 1);
  const events: unknown = JSON.parse(json);
  if (!Array.isArray(events) || events.length !== count) throw new Error('group length does not match its header');
  return { events, texts: splitTexts(json, count) };
}

/**
 * Each event's JSON from a group's array with one event per line (as {@link GroupWriter} writes it),
 * or undefined for a group without (older versions wrote the array on one line). The array was
 * checked (its checksum, or parsed), so each line is exactly one element's text.
 */
function splitTexts(json: string, count: number): string[] | undefined {
  const texts = new Array<string>(count);
  let from = 1; // after '['
  for (let i = 0; i < count - 1; i++) {
    const nl = json.indexOf('\n', from);
    if (nl < 0) return undefined;
    texts[i] = json.slice(from, nl - 1); // without the ','
    from = nl + 1;
  }
  if (json.indexOf('\n', from) >= 0) return undefined;
  texts[count - 1] = json.slice(from, json.length - 1); // without the ']'
  return texts;
}
