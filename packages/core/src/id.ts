import { randomBytes } from 'node:crypto';

// UUIDv7 (RFC 9562): 48-bit Unix ms timestamp, version 7, then 26 bits of a per-process counter
// (method 1, "fixed-length dedicated counter") and 48 bits of per-process randomness. Ids are unique
// across processes (random node part) and strictly increasing within one process, also when the clock
// steps back, so they sort by record time.

const HEX3: string[] = [];
for (let i = 0; i < 4096; i++) HEX3.push(i.toString(16).padStart(3, '0'));
const HEX1 = '0123456789abcdef';
const COUNTER_LIMIT = 1 << 26;

// The last 3 hex digits of the counter followed by the random node part: one table lookup per id.
const node = `-${randomBytes(6).toString('hex')}`;
const TAIL = HEX3.map((hex) => hex + node);
let lastMs = -1;
let counter = 0;
let prefix = '';
/** `prefix` plus the counter's upper digits; changes every 4096 ids or every millisecond. */
let head = '';

function setPrefix(ms: number): void {
  const hex = ms.toString(16).padStart(12, '0');
  prefix = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7`;
  lastMs = ms;
  counter = 0;
}

/** Returns a new UUIDv7 string; unique and time-ordered. `now` is the current epoch ms. */
export function nextEventId(now: number = Date.now()): string {
  if (now > lastMs) setPrefix(now);
  else if (counter === COUNTER_LIMIT) setPrefix(lastMs + 1);
  const c = counter++;
  const low = c & 0xfff;
  // 12 counter bits in rand_a, then the variant (0b10) with 2 counter bits, then 12 more counter bits.
  if (low === 0) head = `${prefix}${HEX3[c >>> 14]}-${HEX1[8 | ((c >>> 12) & 3)]}`;
  return head + TAIL[low];
}

/** Calls that reuse one reading of the clock at most, within one synchronous run. */
const CLOCK_REUSE = 64;

/**
 * The clock of record timestamps. Reading the wall clock costs ~40 ns on some virtual machines, as
 * much as the rest of a `record()`: within one synchronous run of records the clock is read once per
 * CLOCK_REUSE calls, and a new task always reads it afresh (a microtask ends the reuse). Timestamps
 * are thus late by at most a few microseconds. State in fields: a collector that keeps its own clock
 * reads it as cheaply as its own fields.
 */
export class RecordClock {
  #now = 0;
  #uses = 0;
  #expiryQueued = false;
  readonly #expire = (): void => {
    this.#uses = 0;
    this.#expiryQueued = false;
  };

  /** Epoch ms: Date.now(), reused for up to 64 calls within one synchronous run. */
  now(): number {
    if (this.#uses === 0) {
      this.#now = Date.now();
      this.#uses = CLOCK_REUSE;
      if (!this.#expiryQueued) {
        this.#expiryQueued = true;
        queueMicrotask(this.#expire);
      }
    }
    this.#uses--;
    return this.#now;
  }
}

const recordClock = new RecordClock();

/** Epoch ms for a record timestamp: Date.now(), reused for up to 64 calls within one synchronous run. */
export function recordTime(): number {
  return recordClock.now();
}

/** Reads the epoch milliseconds out of a UUIDv7 produced by {@link nextEventId}. */
export function eventIdTime(id: string): number {
  return Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}
