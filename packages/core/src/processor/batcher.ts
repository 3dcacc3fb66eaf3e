import { type BatchEncoder, type Encoder, jsonEncoder } from '../contracts.js';
import type { EventQueue } from '../queue.js';
import { QueuedBatch } from './batch.js';

/** A batch taken off the queue, with what the processor needs to retry, split and release it. */
export interface Work<E> {
  readonly batch: QueuedBatch<E>;
  /** Sequence number of `batch.events[0]`: the batch covers `[from, from + events.length)`, no gaps. */
  readonly from: number;
  /** Failed attempts so far. */
  attempts: number;
  /** When the first attempt started, in `performance.now()` ms (-1 before it); the retry budget runs from here. */
  firstAttemptAt: number;
  /** `performance.now()` ms before which it must not be tried again (0: at once). */
  notBefore: number;
}

/** Called for an event that cannot be encoded (already taken off the queue): drop it alone. */
export type PoisonHandler<E> = (event: E, seq: number, error: unknown) => void;

/**
 * Turns queued events into batches for one exporter: at most `maxBatchSize` events and
 * `maxBatchBytes` encoded bytes (one larger event travels alone), each batch a gap-free range of
 * sequence numbers. With the exporter's `encodeBatch`, a batch is encoded in one call; when that
 * throws or the result is too large, the batch is halved and each half encoded again, so a poison
 * event ends up alone and is dropped. Without it, events are encoded one by one, and a poison event
 * is dropped when it reaches the head.
 */
export class Batcher<E> {
  readonly #queue: EventQueue<E>;
  readonly #encode: Encoder<E>;
  readonly #encodeBatch: BatchEncoder<E> | undefined;
  readonly #maxBatchSize: number;
  readonly #maxBatchBytes: number;
  readonly #poison: PoisonHandler<E>;
  /** The queue holds each event's JSON already, and the exporter wants exactly that: reuse it. */
  readonly #reuse: boolean;
  /** With `#reuse`: the queue can hand over an event as its JSON alone (see `EventQueue.takeEncoded`). */
  readonly #takeEncoded: boolean;

  constructor(
    queue: EventQueue<E>,
    encoding: { readonly encoder: Encoder<E>; readonly encodeBatch: BatchEncoder<E> | undefined },
    limits: { readonly maxBatchSize: number; readonly maxBatchBytes: number },
    poison: PoisonHandler<E>,
  ) {
    this.#queue = queue;
    this.#encode = encoding.encoder;
    this.#encodeBatch = encoding.encodeBatch;
    this.#maxBatchSize = limits.maxBatchSize;
    this.#maxBatchBytes = limits.maxBatchBytes;
    this.#poison = poison;
    this.#reuse = queue.peekEncoded !== undefined && encoding.encoder === jsonEncoder;
    this.#takeEncoded = this.#reuse && queue.takeEncoded !== undefined;
  }

  /** Takes the next batch off the queue (several, when it had to be split); empty when no event was ready or all were poison. */
  take(): Work<E>[] {
    // Encoded texts from the queue beat one batch encoding: the batch is then framed, not encoded.
    return this.#encodeBatch === undefined || this.#reuse ? this.#takeEncodingEach() : this.#takeEncodingWhole(this.#encodeBatch);
  }

  /** Splits a batch the destination found too large into two halves (re-encoded when encoded whole). */
  halve(work: Work<E>): Work<E>[] {
    const { batch } = work;
    const half = Math.ceil(batch.size / 2);
    let parts: Work<E>[];
    if (this.#encodeBatch !== undefined && batch.payload !== undefined) {
      const events = batch.events;
      parts = [...this.#encodeWhole(this.#encodeBatch, events.slice(0, half), work.from), ...this.#encodeWhole(this.#encodeBatch, events.slice(half), work.from + half)];
    } else {
      const first = batch.slice(0, half);
      const second = batch.slice(half, batch.size);
      parts = [this.#each(first.held, first.encoded, work.from), this.#each(second.held, second.encoded, work.from + half)];
    }
    for (const part of parts) {
      part.attempts = work.attempts;
      part.firstAttemptAt = work.firstAttemptAt;
    }
    return parts;
  }

  #takeEncodingEach(): Work<E>[] {
    const queue = this.#queue;
    const events: (E | undefined)[] = [];
    const encoded: string[] = [];
    let from = queue.head;
    let bytes = 0;
    while (events.length < this.#maxBatchSize) {
      if (this.#takeEncoded) {
        // The queue has the head's JSON: take it as that, without an object (parsed only if the exporter reads it).
        const text = queue.peekEncoded!();
        if (text !== undefined) {
          if (queue.head !== from + events.length) {
            // Reading the head skipped keys (a spool drops what it cannot read back): the batch's range has no gaps.
            if (events.length > 0) break;
            from = queue.head;
          }
          const size = Buffer.byteLength(text);
          if (events.length > 0 && bytes + size > this.#maxBatchBytes) break;
          events.push(queue.takeEncoded!());
          encoded.push(text);
          bytes += size;
          continue;
        }
      }
      const event = queue.peek();
      if (event === undefined) break;
      const seq = queue.head;
      if (seq !== from + events.length) {
        // As above: peek() skipped keys.
        if (events.length > 0) break;
        from = seq;
      }
      let text: string | undefined;
      let error: unknown;
      try {
        const encoded: unknown = (this.#reuse ? queue.peekEncoded!() : undefined) ?? this.#encode(event);
        if (typeof encoded !== 'string') throw new TypeError(`the encoder returned ${typeof encoded}, not a string`);
        text = encoded;
      } catch (thrown) {
        error = thrown;
      }
      if (queue.head !== seq) {
        // The encoder ran user code (a getter, a toJSON) that moved the queue: it recorded into a full
        // queue, which dropped its oldest event, this one. End the batch (its range has no gaps) or look again.
        if (events.length > 0) break;
        from = queue.head;
        continue;
      }
      if (text === undefined) {
        if (events.length > 0) break; // the batch ends before it; it is dropped when it reaches the head
        queue.shift();
        this.#poison(event, from, error);
        from = queue.head;
        continue;
      }
      const size = Buffer.byteLength(text);
      if (events.length > 0 && bytes + size > this.#maxBatchBytes) break;
      queue.shift();
      events.push(event);
      encoded.push(text);
      bytes += size;
    }
    return events.length === 0 ? [] : [{ batch: QueuedBatch.encoded(events, encoded, bytes), from, attempts: 0, firstAttemptAt: -1, notBefore: 0 }];
  }

  #each(held: (E | undefined)[], encoded: string[], from: number): Work<E> {
    let bytes = 0;
    for (const text of encoded) bytes += Buffer.byteLength(text);
    return { batch: QueuedBatch.encoded(held, encoded, bytes), from, attempts: 0, firstAttemptAt: -1, notBefore: 0 };
  }

  #takeEncodingWhole(encodeBatch: BatchEncoder<E>): Work<E>[] {
    const queue = this.#queue;
    let from = queue.head;
    const events: E[] = [];
    while (events.length < this.#maxBatchSize) {
      if (queue.peek() === undefined) break;
      if (queue.head !== from + events.length) {
        // peek() skipped keys (a spool drops what it cannot read back): the batch's range has no gaps.
        if (events.length > 0) break;
        from = queue.head;
      }
      events.push(queue.shift()!);
    }
    return events.length === 0 ? [] : this.#encodeWhole(encodeBatch, events, from);
  }

  #encodeWhole(encodeBatch: BatchEncoder<E>, events: E[], from: number): Work<E>[] {
    let payload: Uint8Array | undefined;
    let bytes = 0;
    let error: unknown;
    try {
      const result = encodeBatch(events);
      if (!(result instanceof Uint8Array)) throw new TypeError('encodeBatch returned something that is not a Uint8Array');
      // Read once, here: a subclass or a proxy passes instanceof and may throw or answer anything.
      const length: unknown = result.length;
      if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0) throw new TypeError('encodeBatch returned a Uint8Array whose length is not a byte count');
      payload = result;
      bytes = length;
    } catch (thrown) {
      error = thrown;
    }
    if (payload !== undefined && (bytes <= this.#maxBatchBytes || events.length === 1)) {
      return [{ batch: QueuedBatch.whole(events, payload, bytes), from, attempts: 0, firstAttemptAt: -1, notBefore: 0 }];
    }
    if (events.length === 1) {
      this.#poison(events[0] as E, from, error);
      return [];
    }
    const half = Math.ceil(events.length / 2);
    return [...this.#encodeWhole(encodeBatch, events.slice(0, half), from), ...this.#encodeWhole(encodeBatch, events.slice(half), from + half)];
  }
}
