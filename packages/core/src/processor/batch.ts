import type { ExportBatch } from '../contracts.js';
import { TrackpipeError } from '../errors.js';

const EMPTY: readonly string[] = Object.freeze([]);

/**
 * A batch as the processor hands it to an exporter. Events a queue held only as their JSON (a spool
 * reads its backlog back from disk as text) are parsed from `encoded` the first time `events` is read:
 * an exporter that sends the encoded texts and reads `size` never pays for the parse.
 */
export class QueuedBatch<E> implements ExportBatch<E> {
  readonly size: number;
  readonly encoded: readonly string[];
  readonly payload: Uint8Array | undefined;
  readonly bytes: number;
  /** `held[i]` is event `i`, or undefined while only its JSON (`encoded[i]`) is held. */
  readonly #held: (E | undefined)[];
  /** Some event is still only JSON. */
  #lazy: boolean;

  private constructor(held: (E | undefined)[], encoded: readonly string[], payload: Uint8Array | undefined, bytes: number, lazy: boolean) {
    this.size = held.length;
    this.#held = held;
    this.encoded = encoded;
    this.payload = payload;
    this.bytes = bytes;
    this.#lazy = lazy;
  }

  /** A batch encoded event by event; `held[i]` undefined: the event is parsed from `encoded[i]` when read. */
  static encoded<E>(held: (E | undefined)[], encoded: string[], bytes: number): QueuedBatch<E> {
    return new QueuedBatch(held, encoded, undefined, bytes, held.includes(undefined));
  }

  /** A batch encoded at once by the exporter's `encodeBatch` (`bytes`: the payload's length, read once). */
  static whole<E>(events: E[], payload: Uint8Array, bytes: number): QueuedBatch<E> {
    return new QueuedBatch(events, EMPTY, payload, bytes, false);
  }

  get events(): readonly E[] {
    const held = this.#held;
    if (this.#lazy) {
      // The texts are jsonEncoder's output (a spool checks each stored group's checksum): they parse;
      // one that does not (a forged stored value) throws, naming its place, never its text.
      for (let i = 0; i < held.length; i++) if (held[i] === undefined) held[i] = parse(this.encoded[i] as string, i);
      this.#lazy = false;
    }
    return held as E[];
  }

  /** Events `[from, to)` as a batch of their own (re-encoded by the caller when it has a payload). */
  slice(from: number, to: number): { held: (E | undefined)[]; encoded: string[] } {
    return { held: this.#held.slice(from, to), encoded: this.encoded.slice(from, to) };
  }
}

/**
 * Event `index`'s JSON parsed. A text that does not parse to an object (a stored value forged with a
 * matching checksum) throws an error that names the event's place only: JSON.parse's own quotes the text.
 */
function parse<E>(text: string, index: number): E {
  let event: unknown;
  try {
    event = JSON.parse(text);
  } catch {
    // thrown below
  }
  if (typeof event !== 'object' || event === null) {
    throw new TrackpipeError('TRACKPIPE_ERR_EVENT_UNSERIALIZABLE', `event ${index} of the batch: its stored JSON is not an object`);
  }
  return event as E;
}
