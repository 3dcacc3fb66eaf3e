// How a group of events is stored: one LMDB value per group commit, keyed by the sequence number of
// its first event. The value is `<count>\n<JSON array>`: the count lets the spool size a group (for
// recovery, release and drop bookkeeping) by reading a few bytes instead of parsing the array.

const NEWLINE = 0x0a;
const CLOSE_BRACKET = 0x5d;

/**
 * Encodes a group. An event JSON cannot encode (a cycle, a BigInt, a throwing `toJSON`) is stored as
 * `null`: it stays in memory for the processor (which drops it as unserializable when it exports it),
 * and a spool that reads it back from disk drops it, counted, as `unserializable`.
 */
export function encodeGroup(events: readonly unknown[]): string {
  let json: string;
  try {
    json = JSON.stringify(events);
  } catch {
    const parts = new Array<string>(events.length);
    for (let i = 0; i < events.length; i++) {
      try {
        parts[i] = JSON.stringify(events[i]) ?? 'null';
      } catch {
        parts[i] = 'null';
      }
    }
    json = `[${parts.join(',')}]`;
  }
  return `${events.length}\n${json}`;
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
  const events: unknown = JSON.parse(value.toString('utf8', start));
  if (!Array.isArray(events) || events.length !== count) throw new Error('group length does not match its header');
  return events;
}
