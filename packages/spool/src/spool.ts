import { type EventQueue, type Logger, type OverflowPolicy, type QueueListener, TrackpipeError, describeError, jsonEncoder } from '@trackpipe/core';
import { RingBuffer } from '@trackpipe/core/internal';
import { randomUUID } from 'node:crypto';
import { realpathSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve as resolvePath } from 'node:path';
import { GroupWriter, decodeGroup, readCount } from './codec.js';
import { COMMIT_SECONDS_BUCKETS, Histogram, type HistogramSnapshot } from './histogram.js';
import { type ResolvedSpoolOptions, type SpoolOptions, resolveSpoolOptions } from './options.js';
import { RangeSet } from './ranges.js';
import { closeEnv, commitFailure } from './lmdb-env.js';
import { REMAP_MIN_FILE_BYTES, REMAP_TOUCHED_BYTES } from './constants.js';
import type { Ownership } from './owner.js';
import { type StoreHandles, openStore, reopenStore, stateMark } from './store.js';

/** A spool's figures, for metrics and health. */
export interface SpoolStats {
  /** The spool's directory. */
  readonly path: string;
  /** Events the spool holds and has not been told to forget: waiting (in memory or on disk) or taken and not yet released. */
  readonly events: number;
  /** Bytes of the stored groups (JSON), as of the last commit; bounded by `maxBytes`. */
  readonly bytes: number;
  /** The `maxBytes` bound. */
  readonly maxBytes: number;
  /** Events waiting for their group commit (not yet durable). */
  readonly uncommitted: number;
  /** Events found on disk when the spool was opened. */
  readonly recovered: number;
  /** Group commits that succeeded. */
  readonly commits: number;
  /** Group commits that failed (their events are retried). */
  readonly commitFailures: number;
  /** Times the LMDB environment was closed and opened again to unmap the pages read back or deleted (see the README's Memory). */
  readonly reopened: number;
  /** Seconds from the start of a group commit until it was flushed to the device (durable). */
  readonly commitSeconds: HistogramSnapshot;
  /** Events the spool dropped: full spool, disk too slow (pending bound), not decodable when read back, pushed after close, not committed when close() gave up. */
  readonly dropped: {
    readonly spool_full: number;
    readonly queue_full: number;
    readonly unserializable: number;
    readonly closed: number;
    readonly shutdown_timeout: number;
  };
}

/** Group infos kept by `#remember` (a few hundred KB at most). */
const INFO_CACHE = 4096;

const NO_LISTENER: QueueListener = { dropped: () => undefined, ready: () => undefined };
const RESOLVED_TRUE = Promise.resolve(true);
const RESOLVED_FALSE = Promise.resolve(false);
/** Average stored bytes per event assumed before the first commit. */
const INITIAL_AVG_BYTES = 256;
/** A group closes early once its estimated bytes reach this share of `maxBytes`. */
const GROUP_SHARE_OF_MAX_BYTES = 1 / 16;
/** The most JSON a stored value holds (more only for one event alone): it is read back as one string. */
const MAX_VALUE_CHARS = 64 * 1024 * 1024;
/** One commit writes at most this many events (or one group, when larger): a burst is written in few commits, so commits keep up with it. */
const COMMIT_EVENTS = 65_536;
/** Failed commits are retried after 10 ms, doubling up to this. */
const MAX_RETRY_DELAY_MS = 2_000;

/** Thrown inside a commit's transaction that finds the state written by another process since this one opened the spool. */
class AnotherWriter extends Error {}

/** Real paths of the spools open in this process: two spools on one directory would export everything twice. */
const openPaths = new Set<string>();

/**
 * The real path of `path` (absolute): symbolic links resolved, for the part that exists (a directory
 * not created yet is the real path of its nearest existing parent, joined with the rest).
 */
function realDirectory(path: string): string {
  let rest = '';
  for (let at = path; ; ) {
    try {
      return join(realpathSync(at), rest);
    } catch {
      const parent = dirname(at);
      if (parent === at) return path;
      rest = join(basename(at), rest);
      at = parent;
    }
  }
}

interface Deferred {
  readonly promise: Promise<boolean>;
  readonly resolve: (value: boolean) => void;
}

/** A `persisted()` call: resolves once every key below `mark` is durable (or settled). */
interface Waiter {
  readonly mark: number;
  readonly deferred: Deferred;
}

function deferred(): Deferred {
  let resolve!: (value: boolean) => void;
  const promise = new Promise<boolean>((r) => (resolve = r));
  return { promise, resolve };
}

/** A group on its way to disk. */
interface Sealed<E> {
  readonly start: number;
  readonly end: number;
  readonly events: E[];
  /**
   * Each event's JSON, as stored, for those the window will probably take (the rest is encoded into
   * the stored value only, so that an outage keeps no JSON in memory); undefined: not kept, or it
   * could not be encoded.
   */
  readonly texts: (string | undefined)[];
  /** `clear()` dropped its events while it was being committed. */
  cleared: boolean;
  /** Set by `clear()` while this group was in flight: every key below it is settled once this group is done. */
  settledTo: number;
}

/** A stored group, from its header. */
interface GroupInfo {
  readonly start: number;
  readonly end: number;
  readonly bytes: number;
}

/** What a commit's transaction did, applied to memory only once the commit succeeded. */
interface TxnOutcome {
  /** Bytes of the group written (0 when none). */
  written: number;
  /** Bytes of the groups deleted. */
  freed: number;
  /** Released ranges no stored group needs any more. */
  removed: [number, number][];
  /** Total stored bytes, recounted (after a failed commit). */
  recount: number | undefined;
  /** Indexes in the group of the events larger than `maxBytes` on their own: stored as `null`, released, dropped as `spool_full`. */
  oversize: number[];
}

/**
 * A durable {@link EventQueue}: events are group-committed to an LMDB environment in `path` and
 * leave it only when released (exported, or dropped with a counted reason), so whatever was pushed
 * and committed survives a crash of the process; `persisted()` says when.
 *
 * - `push()` appends to an in-memory pending group (no serialization, no I/O). The group is encoded
 *   (JSON) and written in one transaction every `sync.intervalMs`, or at once when it holds
 *   `sync.maxEvents` events. One commit runs at a time.
 * - Committed events become takeable (`ready`); the head is kept in memory (`memoryEvents`), so a
 *   pipeline that keeps up never reads the disk. During an outage the rest waits on disk only and is
 *   read back in order. LMDB reads through a memory map, whose pages stay resident once touched:
 *   after every REMAP_TOUCHED_BYTES read back or deleted from a data file of REMAP_MIN_FILE_BYTES or
 *   more, the environment is closed and opened again (after a commit's flush, between two turns of
 *   the event loop), so that draining a backlog of gigabytes does not grow the process's
 *   RSS by as much.
 * - Sequence numbers are keys in the store: they keep growing across restarts; a restart recovers
 *   every event not released, in order.
 * - The bound is `maxBytes` of stored JSON; a full spool drops by its overflow policy (`spool_full`).
 *
 * The constructor opens the store synchronously, after taking ownership of the directory for this
 * process (an owner file, released by `close()`): a directory another live process has open throws a
 * TrackpipeError (TRACKPIPE_ERR_SPOOL_UNAVAILABLE) naming it and the owner's pid; a stale owner's (a
 * process killed) is taken over. Files that cannot be read are moved aside (logged) and the spool
 * starts empty; a directory that cannot be used throws a TrackpipeError naming it.
 */
export class Spool<E> implements EventQueue<E> {
  /** Always true: what is pushed survives the process once committed. */
  readonly durable = true;
  /** The spool's directory (absolute). */
  readonly path: string;
  readonly #o: ResolvedSpoolOptions;
  readonly #logger: Logger;
  readonly #overflow: OverflowPolicy;
  readonly #maxBytes: number;
  readonly #maxPending: number;
  /** Replaced by `#remap()`; not read while `#reopening`. */
  #store: StoreHandles;
  /** The real path of the directory (links resolved): what `openPaths` holds. */
  readonly #key: string;
  /** Written with the state by every commit of this spool: a commit that finds another writer's state stops (see `#write`). */
  readonly #token = randomUUID();
  /** The state found at open (`stateMark`): what the first commit must find, unless the token is there. */
  readonly #openedMark: string;
  /** The data file the store opened (device and inode): a commit checks it is still the one at the path. */
  readonly #file: string;
  /** This process's ownership of the directory (its owner file), released at close. */
  readonly #owner: Ownership;
  #listener: QueueListener = NO_LISTENER;

  // --- Sequence numbers. Keys below #head are taken, released or dropped; #tail is the next key.
  #tail: number;
  /** Key of the next event to take while `#ready > 0` (a lower bound when the window is empty). */
  #head: number;
  /** Committed events not taken, not dropped. */
  #ready: number;
  /** Pushes that fit before `push()` must check the bounds again. */
  #room = 0;
  /** The average stored size was measured (see #measure). */
  #measured = false;
  /** End of the committed keys. */
  #committedEnd: number;
  /**
   * Committed events from `#head` on, contiguous; the rest of `#ready` waits on disk. An event read
   * back from disk is undefined here until it is asked for: its JSON (in `#windowTexts`) is parsed then.
   */
  readonly #window: RingBuffer<E | undefined>;
  /** The JSON of each event in the window, index for index (undefined when not kept, or not encodable). */
  readonly #windowTexts: RingBuffer<string | undefined>;
  /** The group last decoded from disk, kept while the head is inside it (with each event's JSON when the group has it). */
  #decoded: { start: number; count: number; events: unknown[] | undefined; texts: string[] | undefined } | undefined;
  /** Writes the stored values of a commit (one buffer, reused). */
  readonly #writer = new GroupWriter();
  /** Events waiting for their group commit, in key order (preallocated: `push()` allocates nothing). */
  readonly #pending: RingBuffer<E>;
  /** A group whose commit failed: committed again before anything in `#pending`. */
  #retry: E[] | undefined;
  /** Events in `#retry` and `#pending`; the first of them has key `#pendingStart`. */
  #pendingCount = 0;
  #pendingStart: number;
  #committing: Sealed<E> | undefined;
  /** Events of `#committing` still waiting (0 once cleared). */
  #committingCount = 0;
  /** Every key below this is durable or settled (dropped, cleared). */
  #durableEnd: number;
  /** `persisted()` calls not yet answered, by ascending mark. */
  #waiters: Waiter[] = [];
  /** Oldest events dropped while only the disk held them; their keys are found at the next read or commit. */
  #dropHead = 0;
  #dropFrom = 0;
  /** Released or dropped keys inside stored groups (persisted with every commit). */
  readonly #released: RangeSet;
  #releasedDirty = false;
  /** Taken and not yet released keys. */
  readonly #taken = new RangeSet();

  // --- Accounting.
  #bytes: number;
  #writtenBytes: number;
  #writtenEvents: number;
  #avgBytes: number;
  #groupLimit: number;
  readonly #recovered: number;
  #commits = 0;
  #commitFailures = 0;
  readonly #commitSeconds = new Histogram(COMMIT_SECONDS_BUCKETS);
  readonly #dropped = { spool_full: 0, queue_full: 0, unserializable: 0, closed: 0, shutdown_timeout: 0 };

  // --- Scheduling.
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  #lastCommitAt = -Infinity;
  #retryAt = 0;
  #failures = 0;
  #recount = false;
  #inflight: Promise<void> | undefined;
  /**
   * Bytes of stored values read (lmdb-js copies a whole value out of LMDB's map) or deleted (LMDB
   * touches a value's pages to free them) since the environment was opened: pages now in RSS.
   */
  #touchedBytes: number;
  /** Stored groups whose header was found damaged at open, by first key: where each ends (the header cannot say). */
  readonly #damaged: ReadonlyMap<number, number>;
  /** The groups written or read back lately, so that pruning one does not read its value again for its header (bounded). */
  readonly #infos = new Map<number, GroupInfo>();
  /** A remap runs: no commit starts until it settles. */
  #remapping: Promise<void> | undefined;
  /** The remap's close and open (microtasks only, see `#remap`): nothing is read meanwhile. */
  #reopening = false;
  #reopened = 0;
  #closed = false;
  #storeClosed = false;
  #closing: Promise<void> | undefined;

  constructor(options: SpoolOptions) {
    const o = resolveSpoolOptions(options);
    this.#o = o;
    this.#logger = o.logger;
    this.#overflow = o.overflow;
    this.#maxBytes = o.maxBytes;
    this.#maxPending = o.maxPendingEvents;
    this.path = resolvePath(o.path);
    // Allocated before the store is opened: nothing after the open may throw, or the store would stay
    // open and its path taken for the life of the process.
    this.#window = new RingBuffer(o.memoryEvents);
    this.#windowTexts = new RingBuffer(o.memoryEvents);
    this.#pending = new RingBuffer(o.maxPendingEvents);
    // The directory itself, not its name: a link to an open spool's directory is the same spool.
    this.#key = realDirectory(this.path);
    if (openPaths.has(this.#key)) {
      throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', `spool.path: the spool ${this.path} is already open in this process`, {
        details: { field: 'spool.path', path: this.path },
      });
    }
    const { opened: s, owner } = openStore(this.path, o.logger);
    this.#owner = owner;
    this.#store = s;
    openPaths.add(this.#key);
    this.#released = s.released;
    this.#tail = s.next;
    this.#pendingStart = s.next;
    this.#durableEnd = s.next;
    this.#committedEnd = s.next;
    this.#head = s.head;
    this.#ready = s.recovered;
    this.#recovered = s.recovered;
    this.#bytes = s.bytes;
    this.#openedMark = s.mark;
    if (s.stateDamaged) {
      try {
        o.logger.error(`spool ${this.path}: its state record is damaged; read as if nothing had been released: events exported before may be exported again`, {
          path: this.path,
        });
      } catch {
        // nothing after the open may throw (see above)
      }
    }
    this.#file = this.#fileIdentity();
    this.#damaged = s.damaged;
    this.#touchedBytes = s.bytes; // the recovery scan read every stored value: opened again after the first commit
    this.#writtenBytes = s.recovered > 0 ? s.bytes : 0;
    this.#writtenEvents = s.recovered;
    this.#avgBytes = s.recovered > 0 ? Math.max(1, s.bytes / s.recovered) : INITIAL_AVG_BYTES;
    this.#groupLimit = this.#computeGroupLimit();
  }

  /** Estimated capacity in events: `maxBytes` over the average stored size of an event. */
  get capacity(): number {
    return Math.max(1, Math.floor(this.#maxBytes / this.#avgBytes));
  }

  get size(): number {
    return this.#ready + this.#pendingCount + this.#committingCount;
  }

  get ready(): number {
    // While the environment is opened again, only the window can be taken.
    return this.#reopening ? this.#window.size : this.#ready;
  }

  get head(): number {
    if (this.#ready > 0) return this.#head;
    if (this.#committingCount > 0) return this.#committing!.start;
    if (this.#pendingCount > 0) return this.#pendingStart;
    return this.#tail;
  }

  get tail(): number {
    return this.#tail;
  }

  open(listener: QueueListener): number {
    this.#listener = listener;
    if (this.#ready > 0) this.#listener.ready();
    return this.#recovered;
  }

  push(event: E): void {
    // One check on the hot path: #room counts the pushes that certainly fit (see #updateRoom).
    if (this.#room <= 0 && !this.#admitSlow(event)) return;
    this.#room--;
    this.#pending.push(event);
    const n = ++this.#pendingCount;
    this.#tail++;
    if (n === 1 || n === this.#groupLimit) this.#schedule(); // start the timer; or a group is full: commit soon
  }

  /** No room known: decides whether the event goes in (true), making room by the overflow policy if needed. */
  #admitSlow(event: E): boolean {
    if (!this.#measured) this.#measure(event);
    this.#updateRoom();
    if (!this.#measured && this.#room > 1) this.#room = 1; // not measured yet: the next push measures
    if (this.#room > 0) return true;
    if (this.#closed) {
      this.#dropped.closed++;
      this.#listener.dropped('closed', 1);
      return false;
    }
    if (this.#pendingCount >= this.#maxPending) {
      this.#dropped.queue_full++;
      this.#listener.dropped('queue_full', 1);
      return false;
    }
    if (!this.#makeRoom()) return false;
    this.#room = 1; // this one goes in; the next push decides again
    return true;
  }

  /**
   * Before anything was committed the average stored size is unknown: the first event pushed is
   * encoded once (as a commit would) and its size taken as the average, instead of a fixed guess
   * that admits too many large events (200 events of 50 KB into a 1 MiB spool stored 10 MB) or too
   * few small ones (5 000 events of 25 bytes: 904 dropped as spool_full with 93 KB stored).
   */
  #measure(event: E): void {
    this.#measured = true;
    if (this.#writtenEvents > 0) return;
    try {
      const bytes = Buffer.byteLength(jsonEncoder(event)) + 2;
      if (bytes > this.#maxBytes) {
        // Larger than the bound alone: dropped at its commit (spool_full), it says nothing of the events after it.
        this.#measured = false;
        return;
      }
      this.#avgBytes = Math.max(1, bytes);
      this.#groupLimit = this.#computeGroupLimit();
    } catch {
      // Not encodable: it will be dropped as unserializable; keep the guess.
    }
  }

  /**
   * Recomputes how many pushes fit without a decision: below `maxPendingEvents`, and below `maxBytes`
   * with waiting events estimated at the average stored size. Called whenever a term changes.
   */
  #updateRoom(): void {
    if (this.#closed) {
      this.#room = 0;
      return;
    }
    const waiting = this.#pendingCount + this.#committingCount;
    const byBytes = Math.ceil((this.#maxBytes - this.#bytes) / this.#avgBytes) - waiting;
    this.#room = Math.min(this.#maxPending - this.#pendingCount, byBytes);
  }


  /** The spool is full: drops the oldest waiting event (true: push on) or reports the new one dropped (false). */
  #makeRoom(): boolean {
    this.#dropped.spool_full++;
    this.#listener.dropped('spool_full', 1);
    // Only committed events can make room; with none waiting (all taken, or all still pending), the new one goes.
    if (this.#overflow === 'drop-newest' || this.#ready === 0) return false;
    const w = this.#window;
    if (w.size > 0) {
      w.shift();
      this.#windowTexts.shift();
      this.#released.add(this.#head, this.#head + 1);
      this.#head++;
    } else {
      // The oldest waiting event is on disk only; its key is found without I/O here, later.
      if (this.#dropHead === 0) this.#dropFrom = this.#head;
      this.#dropHead++;
    }
    this.#ready--;
    this.#releasedDirty = true;
    return true;
  }

  peek(): E | undefined {
    if (!this.#filled()) return undefined;
    return this.#window.peek() ?? this.#parseHead();
  }

  shift(): E | undefined {
    const event = this.peek();
    if (event !== undefined) this.#take();
    return event;
  }

  /** The head event's JSON when the spool holds it already (encoded for its commit, or read back from disk): the processor reuses it. */
  peekEncoded(): string | undefined {
    return this.#filled() ? this.#windowTexts.peek() : undefined;
  }

  /** Takes the head event, whose JSON `peekEncoded()` returned: undefined when it was read back from disk (not parsed). */
  takeEncoded(): E | undefined {
    return this.#window.size === 0 ? undefined : this.#take();
  }

  /** True when the window has an event, read from disk if need be. */
  #filled(): boolean {
    if (this.#window.size > 0) return true;
    if (this.#ready === 0) return false;
    this.#fill();
    return this.#window.size > 0;
  }

  /** Takes the window's head (there is one). */
  #take(): E | undefined {
    const key = this.#head++;
    this.#ready--;
    this.#taken.add(key, key + 1);
    this.#windowTexts.shift();
    return this.#window.shift();
  }

  /**
   * The window's head read back from disk, parsed from its JSON now (there is a head, not parsed).
   * The group's checksum matched, so it parses; were it not JSON, or JSON `null` (a `null` line with
   * blanks around it: #fill drops the plain one), it is dropped as unserializable.
   */
  #parseHead(): E | undefined {
    const w = this.#window;
    do {
      let event: E | null | undefined;
      try {
        event = JSON.parse(this.#windowTexts.peek()!) as E | null;
      } catch {
        // dropped below
      }
      if (event !== null && event !== undefined) {
        w.replacePeek(event);
        return event;
      }
      w.shift();
      this.#windowTexts.shift();
      this.#dropUnreadable(this.#head++);
    } while (this.#filled() && w.peek() === undefined);
    return w.peek();
  }

  release(from: number, to: number): void {
    if (!(from < to)) return;
    this.#taken.subtract(from, to);
    if (this.#released.add(from, to) > 0) {
      this.#releasedDirty = true;
      this.#schedule();
    }
  }

  clear(): number {
    const n = this.size;
    const released = this.#released;
    if (this.#ready > 0 || this.#dropHead > 0) {
      const from = this.#dropHead > 0 ? Math.min(this.#dropFrom, this.#head) : this.#head;
      released.add(from, this.#committedEnd);
    }
    const c = this.#committing;
    if (c !== undefined) {
      if (!c.cleared) released.add(c.start, c.end);
      c.cleared = true;
      c.settledTo = this.#tail;
    }
    this.#committingCount = 0;
    this.#pending.clear();
    this.#retry = undefined;
    this.#pendingCount = 0;
    this.#room = 0;
    this.#pendingStart = this.#tail;
    this.#window.clear();
    this.#windowTexts.clear();
    this.#decoded = undefined;
    this.#ready = 0;
    this.#dropHead = 0;
    this.#head = this.#tail;
    this.#releasedDirty = true;
    if (c === undefined) this.#durableTo(this.#tail);
    this.#schedule();
    return n;
  }

  persisted(): Promise<boolean> {
    const mark = this.#tail;
    if (mark <= this.#durableEnd) return RESOLVED_TRUE;
    if (this.#storeClosed) return RESOLVED_FALSE; // a close that could not commit everything: those events are lost
    const last = this.#waiters.at(-1);
    if (last !== undefined && last.mark === mark) return last.deferred.promise;
    const waiter = { mark, deferred: deferred() };
    this.#waiters.push(waiter);
    // Someone waits for the next commit: it starts as soon as none runs, and keeps the process alive until then.
    this.#schedule();
    this.#timer?.ref();
    this.#immediate?.ref();
    return waiter.deferred.promise;
  }

  /** Every key below `end` is durable or settled: answers the `persisted()` calls that waited for it. */
  #durableTo(end: number): void {
    if (end > this.#durableEnd) this.#durableEnd = end;
    const waiters = this.#waiters;
    let i = 0;
    while (i < waiters.length && waiters[i]!.mark <= this.#durableEnd) waiters[i++]!.deferred.resolve(true);
    if (i > 0) waiters.splice(0, i);
  }

  /** The commit of keys below `end` failed: the `persisted()` calls that waited for them get false. */
  #notDurable(end: number): void {
    const waiters = this.#waiters;
    let i = 0;
    while (i < waiters.length && waiters[i]!.mark <= end) waiters[i++]!.deferred.resolve(false);
    if (i > 0) waiters.splice(0, i);
  }

  /** Commits what is pending and what was released, waits until it is durable, and closes the store. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#closed = true;
    this.#room = 0;
    // Commit everything pending, group after group; give up after five failures in a row.
    let failures = 0;
    for (;;) {
      const running = this.#inflight ?? this.#remapping;
      if (running !== undefined) {
        await running;
        continue;
      }
      if (!this.#hasWork() || failures >= 5) break;
      const before = this.#commitFailures;
      this.#retryAt = 0;
      this.#lastCommitAt = -Infinity;
      const commit = this.#commitNow();
      if (commit === undefined) break;
      await commit;
      failures = this.#commitFailures > before ? failures + 1 : 0;
    }
    // The last commit's flush; there is none to wait for when it failed (persisted() would wait for a commit that never comes).
    if (this.#pendingCount === 0 && this.#failures === 0) await this.persisted();
    this.#cancelTimers();
    const lost = this.#pendingCount;
    if (lost > 0) {
      this.#logger.error(`spool ${this.path}: ${lost} events could not be written before close and are lost`, { path: this.path, lost });
      // Dropped, counted: they leave the spool (its size) without being exported or kept for the next start.
      this.#pending.clear();
      this.#retry = undefined;
      this.#pendingCount = 0;
      this.#pendingStart = this.#tail;
      this.#dropped.shutdown_timeout += lost;
      this.#listener.dropped('shutdown_timeout', lost);
    }
    this.#notDurable(Infinity);
    this.#storeClosed = true;
    try {
      await closeEnv(this.#store.root);
    } finally {
      openPaths.delete(this.#key);
      this.#owner.release();
    }
  }

  /** The spool's figures. */
  stats(): SpoolStats {
    return {
      path: this.path,
      events: this.size + this.#taken.count,
      bytes: this.#bytes,
      maxBytes: this.#maxBytes,
      uncommitted: this.#pendingCount + this.#committingCount,
      recovered: this.#recovered,
      commits: this.#commits,
      commitFailures: this.#commitFailures,
      reopened: this.#reopened,
      commitSeconds: this.#commitSeconds.snapshot(),
      dropped: { ...this.#dropped },
    };
  }

  // --- Group commits -------------------------------------------------------------------------

  #hasWork(): boolean {
    return this.#pendingCount > 0 || this.#releasedDirty || this.#dropHead > 0;
  }

  #computeGroupLimit(): number {
    return Math.max(1, Math.min(this.#o.maxEvents, Math.floor((this.#maxBytes * GROUP_SHARE_OF_MAX_BYTES) / this.#avgBytes)));
  }

  #cancelTimers(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (this.#immediate !== undefined) clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
  }

  /**
   * Arranges the next commit: at most one runs; they start at most every `intervalMs`, or as soon as
   * none runs for a full group or for a `persisted()` call waiting for pending events (its caller waits
   * for the commit anyway: the interval would only add to its wait; those that call while a commit
   * runs share the next one). The timer does not keep the process alive, unless a `persisted()` call
   * waits for it.
   */
  #schedule(): void {
    if (this.#committing !== undefined || this.#remapping !== undefined || this.#storeClosed || this.#immediate !== undefined || !this.#hasWork()) return;
    const now = performance.now();
    const waiter = this.#waiters.at(-1);
    const due = this.#pendingCount >= this.#groupLimit || (waiter !== undefined && waiter.mark > this.#pendingStart);
    const wait = Math.max(this.#retryAt - now, due ? 0 : this.#lastCommitAt + this.#o.intervalMs - now);
    const keepAlive = this.#waiters.length > 0;
    if (wait <= 0) {
      if (this.#timer !== undefined) clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#immediate = setImmediate(this.#onTimer);
      if (!keepAlive) this.#immediate.unref();
    } else if (this.#timer === undefined) {
      this.#timer = setTimeout(this.#onTimer, wait);
      if (!keepAlive) this.#timer.unref();
    }
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    this.#immediate = undefined;
    void this.#commitNow(); // settles through #committed or #failed
  };

  /** Writes the oldest pending group, with the releases and drops since the last commit, in one transaction. */
  #commitNow(): Promise<void> | undefined {
    this.#cancelTimers();
    if (this.#committing !== undefined || this.#remapping !== undefined || this.#storeClosed || !this.#hasWork()) return undefined;
    this.#lastCommitAt = performance.now();
    let events = this.#retry;
    this.#retry = undefined;
    const limit = this.#groupLimit;
    if (events === undefined) {
      const pending = this.#pending;
      const n = Math.min(pending.size, Math.max(limit, COMMIT_EVENTS));
      events = new Array<E>(n);
      for (let i = 0; i < n; i++) events[i] = pending.shift()!;
    }
    const start = this.#pendingStart;
    this.#pendingCount -= events.length;
    this.#pendingStart += events.length;
    const group: Sealed<E> = { start, end: start + events.length, events, texts: [], cleared: false, settledTo: 0 };
    this.#committing = group;
    this.#committingCount = events.length;
    this.#room = 0; // pending room grew: recompute on the next push
    const started = performance.now();
    let outcome: TxnOutcome | undefined;
    const recount = this.#recount;
    this.#inflight = this.#store.events
      .transaction(() => {
        outcome = this.#write(group, limit, recount);
      })
      .then(
        () => this.#committed(group, outcome!, started),
        (error: unknown) => this.#failed(group, commitFailure(error)),
      );
    return this.#inflight;
  }

  /** Runs inside the write transaction (on this thread, synchronously). Throws nothing it can avoid. */
  #write(group: Sealed<E>, limit: number, recount: boolean): TxnOutcome {
    const { events, meta } = this.#store;
    // The second line of defence behind the owner file (owner.ts), for a directory where it does not
    // hold (a network filesystem shared by hosts, owner files removed by hand). LMDB runs one write
    // transaction at a time across processes: a state that is neither the one found at open nor one
    // this spool wrote means another process has written to the spool since. Writing on would
    // overwrite its groups (the same keys): this spool stops instead.
    const found = meta.get('state') as { writer?: unknown } | undefined;
    if (found?.writer !== this.#token && stateMark(found) !== this.#openedMark) throw new AnotherWriter();
    let written = 0;
    const oversize: number[] = [];
    if (!group.cleared) {
      // Stored as values of at most one group each — `limit` events, and no more JSON than
      // maxBytes / 16 or MAX_VALUE_CHARS (the limit is estimated from the average size so far; this is
      // measured): bounds a value's size, the bytes a partly released value keeps on disk, and the text
      // a value is read back as (one string: V8 makes none longer than 2^29 - 24). Each value is written
      // into the writer's buffer, which LMDB copies during put() (this runs inside the write transaction).
      const n = group.events.length;
      const keep = this.#windowRoom(group.start);
      const maxChars = Math.max(1, Math.min(MAX_VALUE_CHARS, Math.floor(this.#maxBytes * GROUP_SHARE_OF_MAX_BYTES)));
      const writer = this.#writer;
      for (let i = 0; i < n; i = writer.end) {
        const value = writer.write(group.events, i, Math.min(n, i + limit), group.texts, keep, maxChars, this.#maxBytes);
        events.put(group.start + i, value).catch(commitFailure); // the transaction's failure is handled by #failed
        // An event larger than maxBytes on its own would take the store past its bound by itself: it is
        // stored as null and released in this transaction, and dropped (spool_full) once it commits.
        for (const j of writer.oversize) {
          oversize.push(j);
          this.#released.add(group.start + j, group.start + j + 1);
          this.#releasedDirty = true;
        }
        this.#remember({ start: group.start + i, end: group.start + writer.end, bytes: value.length });
        written += value.length;
      }
    }
    this.#resolveDrops();
    const { freed, removed, keep } = this.#prune();
    meta.put('state', { next: this.#tail, released: keep, writer: this.#token }).catch(commitFailure);
    this.#releasedDirty = false; // every release so far is in this transaction
    let total: number | undefined;
    if (recount) {
      total = 0;
      for (const key of events.getKeys({})) total += events.getBinaryFast(key)?.length ?? 0;
    }
    return { written, freed, removed, recount: total, oversize };
  }

  /** How many events of a group starting at `start` the window would take now (it continues the window). */
  #windowRoom(start: number): number {
    const w = this.#window;
    if (w.size !== this.#ready || (w.size > 0 && this.#head + w.size !== start)) return 0;
    return w.capacity - w.size;
  }

  /** Deletes the stored groups that are released entirely; returns the released ranges still needed. */
  #prune(): { freed: number; removed: [number, number][]; keep: [number, number][] } {
    const db = this.#store.events;
    let freed = 0;
    const removed: [number, number][] = [];
    const keep: [number, number][] = [];
    for (const [a, b] of this.#released.toPairs()) {
      const left = a > 0 ? this.#groupAtOrBefore(a - 1) : undefined;
      const keepLeftEnd = left !== undefined && left.end > a ? Math.min(b, left.end) : a;
      let keepRightStart = b;
      for (const key of Array.from(db.getKeys({ start: a, end: b }))) {
        const g = this.#info(key);
        if (g === undefined) continue;
        if (g.end <= b) {
          db.remove(key).catch(commitFailure);
          this.#infos.delete(key);
          freed += g.bytes;
        } else {
          keepRightStart = key;
        }
      }
      if (keepLeftEnd >= keepRightStart) {
        keep.push([a, b]);
        continue;
      }
      if (keepLeftEnd > a) keep.push([a, keepLeftEnd]);
      removed.push([keepLeftEnd, keepRightStart]);
      if (keepRightStart < b) keep.push([keepRightStart, b]);
    }
    return { freed, removed, keep };
  }

  #committed(group: Sealed<E>, outcome: TxnOutcome, started: number): void {
    this.#committing = undefined;
    this.#committingCount = 0;
    this.#room = 0; // bytes and the average changed: recompute on the next push
    this.#inflight = undefined;
    if (this.#failures > 0) {
      this.#logger.warn(`spool ${this.path}: commits succeed again after ${this.#failures} failures`, { path: this.path });
      this.#failures = 0;
      this.#retryAt = 0;
    }
    this.#commits++;
    this.#touchedBytes += outcome.freed;
    for (const [a, b] of outcome.removed) this.#released.subtract(a, b);
    if (outcome.recount !== undefined) {
      this.#bytes = outcome.recount;
      this.#recount = false;
    } else {
      this.#bytes += outcome.written - outcome.freed;
    }
    if (group.end > this.#committedEnd) this.#committedEnd = group.end;
    const n = group.events.length;
    if (n > 0 && outcome.written > 0) {
      this.#writtenBytes += outcome.written;
      this.#writtenEvents += n;
      this.#avgBytes = Math.max(1, this.#writtenBytes / this.#writtenEvents);
      this.#groupLimit = this.#computeGroupLimit();
    }
    if (outcome.oversize.length > 0 && !group.cleared) {
      const k = outcome.oversize.length;
      this.#dropped.spool_full += k;
      this.#listener.dropped('spool_full', k);
      this.#logger.warn(`spool ${this.path}: ${k} events larger than maxBytes (${this.#maxBytes} bytes of JSON) on their own were dropped (spool_full)`, {
        path: this.path,
        events: k,
      });
    }
    if (n > 0 && !group.cleared) this.#accept(group, outcome.oversize);
    const end = Math.max(group.end, group.settledTo);
    if (n > 0) {
      // Durable once flushed to the device (the commit promise itself may come first).
      Promise.resolve(this.#store.root.flushed).then(
        () => {
          const seconds = (performance.now() - started) / 1000;
          // A data file removed or replaced while open (the directory deleted, moved aside) takes every
          // commit with it: nothing written to it survives the process.
          if (this.#fileIdentity() !== this.#file) {
            this.#stopWriting(
              `its data file ${join(this.path, 'data.mdb')} was removed or replaced while the spool had it open: nothing written since survives this process; the spool stops writing, and persisted() answers false`,
            );
            return;
          }
          this.#commitSeconds.observe(seconds);
          try {
            this.#o.onCommit?.(seconds);
          } catch {
            // An observer must not break the commit.
          }
          this.#durableTo(end);
        },
        () => this.#notDurable(end),
      );
    } else {
      this.#durableTo(end);
    }
    if (this.#touchedBytes >= REMAP_TOUCHED_BYTES) {
      if (this.#fileBytes() >= REMAP_MIN_FILE_BYTES) this.#remap();
      else this.#touchedBytes = 0; // a small file is all the RSS it can take
    }
    this.#schedule();
  }

  /** The data file at the path, as `<device>:<inode>` (`none` when there is none). */
  #fileIdentity(): string {
    try {
      const { dev, ino } = statSync(join(this.path, 'data.mdb'));
      return `${dev}:${ino}`;
    } catch {
      return 'none';
    }
  }

  /**
   * Stops writing for good: what is pending stays in memory, persisted() answers false, close()
   * reports the loss. For a store that cannot be written safely any more.
   */
  #stopWriting(why: string, error?: unknown): void {
    if (!this.#storeClosed) {
      this.#storeClosed = true;
      this.#logger.error(`spool ${this.path}: ${why}`, { path: this.path, ...(error === undefined ? {} : { error: describeError(error) }) });
    }
    this.#notDurable(Number.POSITIVE_INFINITY);
  }

  /** The size of LMDB's data file (0 when it cannot be read): it keeps its largest size. */
  #fileBytes(): number {
    try {
      return statSync(join(this.path, 'data.mdb')).size;
    } catch {
      return 0;
    }
  }

  #failed(group: Sealed<E>, error: unknown): void {
    this.#committing = undefined;
    this.#committingCount = 0;
    this.#room = 0;
    this.#inflight = undefined;
    this.#commitFailures++;
    this.#failures++;
    this.#recount = true; // a failed transaction may have applied part of its writes
    this.#releasedDirty = true;
    if (error instanceof AnotherWriter) {
      this.#stopWriting(
        'another process has written to this spool since it was opened here (one process per directory); this one stops writing, and what it has not committed is lost when it ends',
      );
    } else if (this.#failures === 1) {
      this.#logger.error(`spool ${this.path}: a group commit failed; its events stay in memory and the commit is retried`, {
        path: this.path,
        events: group.events.length,
        error: describeError(error),
      });
    }
    if (group.cleared) {
      this.#durableTo(group.settledTo); // its events were dropped: settled
    } else if (group.events.length > 0) {
      // Earlier groups are durable (commits run one at a time); this one's events wait for the retry,
      // and every later event waits behind them: no persisted() call can be answered true before the
      // retry succeeds, so all get false now (the service answers 503 instead of holding requests).
      this.#notDurable(Number.POSITIVE_INFINITY);
      this.#retry = group.events;
      this.#pendingCount += group.events.length;
      this.#pendingStart = group.start;
    }
    this.#retryAt = performance.now() + Math.min(MAX_RETRY_DELAY_MS, 10 * 2 ** (this.#failures - 1));
    this.#schedule();
  }

  /**
   * A committed group becomes takeable: into the window when it continues it, else it waits on disk.
   * The events at the `dropped` indexes (ascending; released already) are not: the window takes the
   * events before the first of them, and the rest is read back from disk, where released keys are skipped.
   */
  #accept(group: Sealed<E>, dropped: readonly number[]): void {
    if (this.#dropHead > 0) this.#resolveDrops();
    const w = this.#window;
    const allInWindow = w.size === this.#ready;
    this.#ready += group.events.length - dropped.length;
    if (allInWindow) {
      const { events, texts } = group;
      let i = 0;
      let skip = 0;
      if (w.size === 0) {
        while (skip < dropped.length && dropped[skip] === i) {
          skip++;
          i++;
        }
        this.#head = group.start + i;
        this.#decoded = undefined;
      }
      if (this.#head + w.size === group.start + i) {
        const end = Math.min(events.length, skip < dropped.length ? dropped[skip]! : events.length, i + w.capacity - w.size);
        for (; i < end; i++) {
          w.push(events[i]);
          this.#windowTexts.push(texts[i]);
        }
      }
    }
    this.#listener.ready();
  }

  // --- Reading the disk ------------------------------------------------------------------------

  /** The stored group starting at `key`: remembered, or from its header (lmdb-js copies the whole value to read it). */
  #info(key: number): GroupInfo | undefined {
    const known = this.#infos.get(key);
    if (known !== undefined) return known;
    const value = this.#store.events.getBinaryFast(key);
    if (value === undefined) return undefined;
    this.#touchedBytes += value.length;
    const end = this.#damaged.get(key) ?? key + Math.max(1, readCount(value));
    return this.#remember({ start: key, end, bytes: value.length });
  }

  /** Keeps a group's info for `#info`, forgetting the oldest beyond INFO_CACHE entries. An entry of a key no longer stored is never asked for (keys are not reused). */
  #remember(info: GroupInfo): GroupInfo {
    const infos = this.#infos;
    infos.set(info.start, info);
    if (infos.size > INFO_CACHE) infos.delete(infos.keys().next().value!);
    return info;
  }

  /** The stored group with the greatest start `<= key`. */
  #groupAtOrBefore(key: number): GroupInfo | undefined {
    for (const start of this.#store.events.getKeys({ start: key, reverse: true, limit: 1 })) return this.#info(start);
    return undefined;
  }

  /** The stored group holding `key`, else the first one after it. */
  #groupFrom(key: number): GroupInfo | undefined {
    const before = this.#groupAtOrBefore(key);
    if (before !== undefined && before.end > key) return before;
    for (const start of this.#store.events.getKeys({ start: key, limit: 1 })) return this.#info(start);
    return undefined;
  }

  /** Finds the keys of the oldest events dropped while only the disk held them, and marks them released. */
  #resolveDrops(): void {
    let n = this.#dropHead;
    if (n === 0) return;
    const released = this.#released;
    let k = this.#dropFrom;
    while (n > 0) {
      const g = this.#groupFrom(k);
      if (g === undefined) break;
      k = Math.max(k, g.start);
      while (n > 0 && k < g.end) {
        k = released.nextAbsent(k);
        if (k >= g.end) break;
        const stop = Math.min(g.end, released.nextPresent(k), k + n);
        released.add(k, stop);
        n -= stop - k;
        k = stop;
      }
      if (n > 0) k = g.end;
    }
    this.#dropHead = 0;
    this.#releasedDirty = true;
    if (this.#window.size === 0 && this.#head < k) this.#head = k;
  }

  /** Refills the empty window from disk, from the head on, skipping released keys and events that cannot be decoded. */
  #fill(): void {
    if (this.#reopening || this.#storeClosed) return; // #remap() calls the listener when done
    this.#resolveDrops();
    const w = this.#window;
    const released = this.#released;
    while (w.size === 0 && this.#ready > 0) {
      let decoded = this.#decoded;
      if (decoded === undefined || this.#head < decoded.start || this.#head >= decoded.start + decoded.count) {
        const g = this.#groupFrom(this.#head);
        if (g === undefined) {
          this.#lose(this.#ready, 'the events are missing from the store');
          return;
        }
        const value = this.#store.events.getBinaryFast(g.start);
        try {
          if (value === undefined) throw new Error('missing');
          this.#touchedBytes += value.length;
          decoded = { start: g.start, count: g.end - g.start, ...decodeGroup(value, g.end - g.start) };
        } catch {
          const from = Math.max(this.#head, g.start);
          const live = g.end - from - released.countIn(from, g.end);
          released.add(from, g.end);
          this.#releasedDirty = true;
          this.#head = g.end;
          this.#lose(live, `the group at ${g.start} cannot be decoded`);
          continue;
        }
        this.#decoded = decoded;
      }
      const { events, texts } = decoded;
      const end = decoded.start + decoded.count;
      let k = Math.max(this.#head, decoded.start);
      for (; k < end && w.size < w.capacity; k++) {
        if (released.has(k)) {
          if (w.size > 0) break;
          continue;
        }
        // A checked group is not parsed (events undefined): each event stays text until it is asked for.
        const event = events?.[k - decoded.start];
        const text = texts?.[k - decoded.start];
        if (events === undefined ? text === 'null' : event === null || event === undefined) {
          this.#dropUnreadable(k);
          if (w.size > 0) break;
          continue;
        }
        if (w.size === 0) this.#head = k;
        w.push(event as E | undefined);
        this.#windowTexts.push(text);
      }
      if (w.size === 0) this.#head = k;
      if (k >= end) this.#decoded = undefined;
    }
  }

  /**
   * Closes the environment and opens it again, after a commit: unmaps the pages touched so far, which
   * would otherwise stay in the process's RSS (file pages: reclaimable, but counted) until it ends.
   * No commit starts until it is done. It first waits for the last commit's flush, reading on
   * meanwhile; then nothing of lmdb-js's is pending, and closing and opening take microtasks only: a
   * reader that yields to the event loop never finds the spool closed (`ready` would count only the
   * window then, and the listener hears when the rest is ready again).
   */
  #remap(): void {
    if (this.#remapping !== undefined || this.#storeClosed) return;
    this.#touchedBytes = 0;
    this.#cancelTimers();
    const root = this.#store.root;
    this.#remapping = Promise.resolve(root.flushed)
      .catch(() => undefined) // a failed flush was answered by the commit's own handler
      .then(() => {
        this.#reopening = true;
        return closeEnv(root);
      })
      .then(() => {
        this.#store = reopenStore(this.path);
        this.#reopened++;
      })
      .catch((error: unknown) => {
        // The store is gone.
        this.#stopWriting('could not open the store again after reading it; nothing more is written', error);
      })
      .finally(() => {
        this.#reopening = false;
        this.#remapping = undefined;
        this.#schedule();
        if (this.#ready > 0) this.#listener.ready();
      });
  }

  /** Drops the waiting event `key`, read back from disk as no event: released with the next commit, counted `unserializable`. */
  #dropUnreadable(key: number): void {
    this.#released.add(key, key + 1);
    this.#releasedDirty = true;
    this.#ready--;
    this.#dropped.unserializable++;
    this.#listener.dropped('unserializable', 1);
  }

  /** Gives up on `count` waiting events the store cannot return: counted as dropped (`unserializable`) and logged. */
  #lose(count: number, why: string): void {
    const n = Math.min(count, this.#ready);
    if (n <= 0) return;
    this.#ready -= n;
    this.#dropped.unserializable += n;
    this.#listener.dropped('unserializable', n);
    this.#logger.error(`spool ${this.path}: ${n} stored events were dropped: ${why}`, { path: this.path, events: n });
  }
}
