// How a group of events is stored: one LMDB value per group commit, keyed by the sequence number of
// its first event. The value is `<count>\n<JSON array>`: the count lets the spool size a group (for
// recovery, release and drop bookkeeping) by reading a few bytes instead of parsing the array.

const NEWLINE = 0x0a;
const CLOSE_BRACKET = 0x5d;

/**
 * Encodes each event to its JSON (as core's `jsonEncoder` writes it), or `undefined` for an event JSON
 * cannot encode (a cycle, a BigInt, a throwing `toJSON`): it stays in memory for the processor (which
 * drops it as unserializable when it exports it), and is stored as `null`, which a spool reading it
 * back from disk drops, counted, as `unserializable`. The texts are kept with the events in memory, so
 * the processor need not encode them again.
 */
export function encodeEach(events: readonly unknown[]): (string | undefined)[] {
  const texts = new Array<string | undefined>(events.length);
  for (let i = 0; i < events.length; i++) {
    try {
      const text = JSON.stringify(events[i]);
      texts[i] = typeof text === 'string' ? text : undefined;
    } catch {
      texts[i] = undefined;
    }
  }
  return texts;
}

/** The stored value of the events whose texts are `texts[from..to)`: `<count>\n[<json>,...]`. */
export function groupValue(texts: readonly (string | undefined)[], from: number, to: number): string {
  let json = '';
  for (let i = from; i < to; i++) json += i === from ? (texts[i] ?? 'null') : `,${texts[i] ?? 'null'}`;
  return `${to - from}\n[${json}]`;
}

/**
 * The event count in a stored group's header, or -1 when `value` does not look like a group (no
 * header, or its JSON does not end with `]`). Reads the first bytes and the last one only.
 */
export function readCount(value: Uint8Array): number {
  let count = 0;
  const limit = Math.min(value.length, 16);
  for (let i = 0; i < limit; i++) {
    const c = value[i]!;
    if (c === NEWLINE) return i > 0 && value.length > i + 1 && value[value.length - 1] === CLOSE_BRACKET ? count : -1;
    if (c < 0x30 || c > 0x39) return -1;
    count = count * 10 + (c - 0x30);
  }
  return -1;
}

/** Decodes a stored group: its events in order (`null` for those that could not be encoded). Throws when corrupt. */
export function decodeGroup(value: Buffer, count: number): unknown[] {
  const start = value.indexOf(NEWLINE) + 1;
  // The end is explicit: the buffer lmdb's getBinaryFast returns is a view whose implicit end, on
  // Node 24 and later, runs past the value into the rest of lmdb's shared buffer.
  const events: unknown = JSON.parse(value.toString('utf8', start, value.length));
  if (!Array.isArray(events) || events.length !== count) throw new Error('group length does not match its header');
  return events;
}
