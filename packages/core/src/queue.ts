import type { DropReason } from './contracts.js';
import { RingBuffer } from './ring.js';

/** What a queue tells the processor it belongs to, whenever it happens (a spool: after a commit). */
export interface QueueListener {
  /** The queue dropped `count` events for `reason` (`queue_full`, `spool_full`) — the newest or the oldest. */
  dropped(reason: DropReason, count: number): void;
  /** Events became ready to take (e.g. a group commit finished). */
  ready(): void;
}

/**
 * The queue in front of one exporter. Every pushed event gets a sequence number, one more than the
 * previous one's; the processor takes events from the head in that order and releases each range
 * once it is settled (exported, or dropped with a counted reason). A durable queue (a spool) forgets
 * events only when they are released, so whatever was pushed and not released survives a crash.
 *
 * Sequence numbers are the processor's flush marks: `flush()` waits until `head` has passed the
 * `tail` it saw and every batch taken below it is settled.
 */
export interface EventQueue<E> {
  /**
   * True when what is pushed survives the process (a spool). At a `close()` deadline, events a
   * durable queue still holds are kept for the next start instead of being dropped.
   */
  readonly durable: boolean;
  /** Capacity in events (for stats and headroom; a spool bounded by bytes gives an estimate). */
  readonly capacity: number;
  /** Events pushed and not yet taken, ready or not (plus, for a spool, what it holds on disk). */
  readonly size: number;
  /** Events that can be taken now (a spool: committed ones). At most `size`. */
  readonly ready: number;
  /** Sequence number of the next event `shift()` returns; equals `tail` when the queue is empty. */
  readonly head: number;
  /** Sequence number the next pushed event gets. */
  readonly tail: number;
  /**
   * Attaches the processor; called once, before any other call. Returns how many events the queue
   * recovered from storage (they are waiting, from `head` on); 0 for a queue in memory.
   */
  open(listener: QueueListener): number;
  /**
   * Appends an event. Synchronous and O(1); never throws. When full, drops by its overflow policy
   * (the oldest waiting event, or this one) and reports it through `listener.dropped`.
   */
  push(event: E): void;
  /** The next event to take, or undefined when none is ready. */
  peek(): E | undefined;
  /** Takes the next event, or undefined when none is ready. */
  shift(): E | undefined;
  /**
   * Optional: the next event's JSON (exactly what core's `jsonEncoder` writes), when the queue holds it
   * already — a spool encoded it for its commit. The processor then uses it instead of encoding the
   * event again (for exporters whose per-event encoder is `jsonEncoder`).
   */
  peekEncoded?(): string | undefined;
  /**
   * Optional, with `peekEncoded`: takes the head event, whose JSON `peekEncoded()` just returned,
   * without making an object of it. Returns the event when the queue holds it as one, or undefined
   * when it holds only the JSON (a spool's backlog read back from disk): the processor then parses
   * the JSON only if the exporter reads the event.
   */
  takeEncoded?(): E | undefined;
  /** The events with sequence numbers in `[from, to)` are settled: the queue may forget them. */
  release(from: number, to: number): void;
  /** Drops every waiting event (the processor counts them); returns how many. */
  clear(): number;
  /**
   * Resolves once every event pushed before the call is durable: `true` after a spool's commit,
   * `false` at once for a queue in memory (there is nothing to wait for, and nothing survives a crash).
   */
  persisted(): Promise<boolean>;
  /** Releases files and timers. Called once, by the processor's `close()`, after the last release. */
  close(): Promise<void>;
}

/** What a full {@link MemoryQueue} drops: the oldest waiting event, or the one being pushed. */
export type OverflowPolicy = 'drop-oldest' | 'drop-newest';

/** The default queue: a bounded ring in memory. Nothing survives the process. */
export class MemoryQueue<E> implements EventQueue<E> {
  readonly durable = false;
  readonly #ring: RingBuffer<E>;
  readonly #overflow: OverflowPolicy;
  #listener: QueueListener | undefined;
  #head = 0;

  constructor(capacity: number, overflow: OverflowPolicy = 'drop-oldest') {
    this.#ring = new RingBuffer(capacity);
    this.#overflow = overflow;
  }

  get capacity(): number {
    return this.#ring.capacity;
  }

  get size(): number {
    return this.#ring.size;
  }

  get ready(): number {
    return this.#ring.size;
  }

  get head(): number {
    return this.#head;
  }

  get tail(): number {
    return this.#head + this.#ring.size;
  }

  open(listener: QueueListener): number {
    this.#listener = listener;
    return 0;
  }

  push(event: E): void {
    const ring = this.#ring;
    if (ring.size === ring.capacity) {
      this.#listener?.dropped('queue_full', 1);
      if (this.#overflow === 'drop-newest') return; // it never gets a sequence number
      ring.shift();
      this.#head++;
    }
    ring.push(event);
  }

  peek(): E | undefined {
    return this.#ring.peek();
  }

  shift(): E | undefined {
    if (this.#ring.size === 0) return undefined;
    this.#head++;
    return this.#ring.shift();
  }

  release(): void {
    // Nothing to forget: taken events are no longer held.
  }

  clear(): number {
    const n = this.#ring.clear();
    this.#head += n;
    return n;
  }

  persisted(): Promise<boolean> {
    return Promise.resolve(false);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
