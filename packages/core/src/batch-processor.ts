import { admit } from './admission.js';
import type { Collector, CollectorStats, ExportBatch, ExportObserver, Exporter, FlushReport } from './contracts.js';
import { jsonEncoder } from './contracts.js';
import { TrackpipeError, describeError } from './errors.js';
import type { Recorded, TelemetryEvent } from './events.js';
import { type BatchProcessorOptions, type ResolvedOptions, callerTimeoutOf, readOptions, resolveOptions } from './options.js';
import { type Answer, Thrown, readAnswer } from './processor/answer.js';
import { Durations } from './processor/durations.js';
import { Batcher, type Work } from './processor/batcher.js';
import { FlushTracker } from './processor/flush-tracker.js';
import { Ledger, type LedgerSnapshot } from './processor/ledger.js';
import { Reporter } from './processor/reporter.js';
import { RetryPolicy } from './processor/retry-policy.js';
import { type EventQueue, MemoryQueue } from './queue.js';
import { type SpanIds, activeSpanIds } from './trace-context.js';
import { within } from './within.js';

interface Flight<E> {
  readonly work: Work<E>;
  readonly controller: AbortController;
  readonly startedAt: number;
  /** The retry policy's epoch when it started (failures of one round count once). */
  readonly epoch: number;
  timer: NodeJS.Timeout | undefined;
  /** It ran far longer than this exporter's exports usually do: it no longer holds a slot. */
  stalled: boolean;
  done: boolean;
}

const TIMED_OUT = Symbol('timed out');
/** Ids longer than this are cut in messages. */
const MAX_ID_IN_MESSAGE = 64;

/**
 * An event's id for a message. Never throws: the id was a string when record() read it, but a getter
 * or proxy may answer anything on a later read — throw, or return a huge string.
 */
function describeId(event: unknown): string {
  try {
    const id: unknown = (event as { id?: unknown }).id;
    if (typeof id !== 'string') return `(its id is now ${id === null ? 'null' : typeof id})`;
    return id.length > MAX_ID_IN_MESSAGE ? `${id.slice(0, MAX_ID_IN_MESSAGE)}…` : id;
  } catch {
    return '(its id cannot be read)';
  }
}
/** The id of a batch's first event for a message. Never throws: events read back from a spool are parsed when first read. */
function describeFirstId(batch: ExportBatch<unknown>): string {
  let first: unknown;
  try {
    first = batch.events[0];
  } catch {
    return '(it cannot be read)';
  }
  return describeId(first);
}

/**
 * What the processor reads of an exporter besides `export`, read once and checked: an `encoder` or
 * `encodeBatch` that is not a function would otherwise make every event unserializable. Throws
 * TRACKPIPE_ERR_OPTIONS_INVALID naming the field (also when reading the exporter throws).
 */
function readExporter<E>(exporter: Exporter<E>): { name: string; encoder: Exporter<E>['encoder']; encodeBatch: Exporter<E>['encodeBatch']; ordered: boolean } {
  const refuse = (message: string): never => {
    throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', message);
  };
  let read: { name: unknown; exportType: string; encoder: unknown; encodeBatch: unknown; ordered: unknown };
  try {
    if (exporter === null || typeof exporter !== 'object') return refuse('exporter must be an object with an export(batch, signal) method');
    read = { name: exporter.name, exportType: typeof exporter.export, encoder: exporter.encoder, encodeBatch: exporter.encodeBatch, ordered: exporter.ordered };
  } catch (error) {
    if (error instanceof TrackpipeError) throw error;
    return refuse('exporter could not be read (a getter threw, or a revoked proxy)');
  }
  if (read.exportType !== 'function') refuse('exporter must be an object with an export(batch, signal) method');
  // null is none, as undefined (a JavaScript exporter may set a field it does not use to null).
  if (read.encoder === null) read.encoder = undefined;
  if (read.encodeBatch === null) read.encodeBatch = undefined;
  if (read.encoder !== undefined && typeof read.encoder !== 'function') refuse(`exporter.encoder must be a function when given (got ${typeof read.encoder})`);
  if (read.encodeBatch !== undefined && typeof read.encodeBatch !== 'function') refuse(`exporter.encodeBatch must be a function when given (got ${typeof read.encodeBatch})`);
  // Quoted in messages: a symbol or an object whose toString throws would make them throw.
  const name = typeof read.name === 'string' || read.name === undefined ? read.name : '(a name that is not a string)';
  return { name: name as string, encoder: read.encoder as Exporter<E>['encoder'], encodeBatch: read.encodeBatch as Exporter<E>['encodeBatch'], ordered: read.ordered === true };
}

/** An export counts as stalled once it has run this many times longer than the exporter's typical export… */
const STALL_FACTOR = 5;
/** …and at least this long. */
const MIN_STALL_MS = 50;
/** Stalled exports hold at most this many times `maxQueueSize` events between them. */
const STALLED_QUEUES = 4;

/**
 * The batching processor: a bounded queue in front of one exporter. It batches by count, bytes and
 * time, exports with bounded concurrency and a timeout, retries (see {@link RetryPolicy}), halves
 * batches that are too large, drops poison events alone, and accounts for every event:
 * `recorded = exported + dropped + queued + inFlight`. Nothing the application or the exporter does
 * makes it throw or leave a rejection unhandled.
 */
export class BatchProcessor<E extends TelemetryEvent = TelemetryEvent> implements Collector<E> {
  /** The pipeline name (for logs and metric labels). */
  readonly name: string;
  /** The exporter this processor feeds. */
  readonly exporter: Exporter<Recorded<E>>;
  /** The options in force, defaults applied. */
  readonly options: ResolvedOptions;

  /** The exporter's name, read once: a getter may throw or answer otherwise on a later read. */
  readonly #exporterName: string;
  readonly #queue: EventQueue<Recorded<E>>;
  readonly #batcher: Batcher<Recorded<E>>;
  readonly #ledger = new Ledger();
  readonly #reporter: Reporter;
  readonly #policy: RetryPolicy;
  readonly #flushes: FlushTracker<LedgerSnapshot>;
  readonly #spanIds: (() => SpanIds | undefined) | undefined;
  /** Nothing overtakes a batch waiting for a retry (ordered exporters, or one export at a time). */
  readonly #ordered: boolean;
  /** Batches waiting for an attempt (retries, halves, the rest of a split), in sequence order. */
  readonly #pending: Work<Recorded<E>>[] = [];
  #pendingEvents = 0;
  /**
   * Waiting batches count against the queue's capacity, so that a failing destination cannot make the
   * processor hold more than `maxQueueSize` waiting events. A durable queue bounds them itself: it
   * keeps every event until it is released.
   */
  readonly #pendingCounts: boolean;
  readonly #flights = new Set<Flight<Recorded<E>>>();
  #inFlightEvents = 0;
  /** Stalled flights and their events: they run on, but hold no slot (see #start). */
  #stalledFlights = 0;
  #stalledEvents = 0;
  /** Durations of the last successful exports: their median is the typical one. */
  readonly #durations = new Durations();
  /** Events a durable queue keeps for the next start after a close() deadline. */
  #kept = 0;
  /** Drain regardless of batch size while the queue's head is below this mark (timer, flush, close). */
  #drainMark = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryTimerAt = Number.POSITIVE_INFINITY;
  #intervalTimer: NodeJS.Timeout | undefined;
  #pumpScheduled = false;
  /** A pump is running (see #pump); a nested call sets #pumpAgain instead. */
  #pumping = false;
  #pumpAgain = false;
  #state: 'open' | 'closing' | 'closed' = 'open';
  #closing: Promise<FlushReport> | undefined;

  constructor(exporter: Exporter<Recorded<E>>, options: BatchProcessorOptions = {}) {
    const { name: exporterName, encoder, encodeBatch, ordered } = readExporter(exporter);
    this.exporter = exporter;
    this.#exporterName = exporterName;
    this.options = resolveOptions(options);
    this.name = this.options.name;
    const queue = readOptions(options, ['queue'], '').queue as EventQueue<Recorded<E>> | undefined;
    this.#queue = queue ?? new MemoryQueue(this.options.maxQueueSize, this.options.overflow);
    this.#ordered = ordered || this.options.maxConcurrentExports === 1;
    this.#pendingCounts = !this.#queue.durable;
    this.#policy = new RetryPolicy(this.options.retry, this.options.random);
    this.#reporter = new Reporter({ ...this.options, pipeline: this.name, exporter: exporterName, ledger: this.#ledger });
    this.#spanIds = this.options.traceContext ? activeSpanIds : undefined;
    this.#batcher = new Batcher(
      this.#queue,
      { encoder: encoder ?? jsonEncoder, encodeBatch },
      this.options,
      (event, seq, error) => {
        this.#drop('unserializable', seq, 1);
        this.#reporter.error('TRACKPIPE_ERR_EVENT_UNSERIALIZABLE', `dropped event ${describeId(event)}: ${describeError(error)}`, error);
      },
    );
    this.#flushes = new FlushTracker({
      settledBelow: (mark) => this.#settledBelow(mark),
      snapshot: () => this.#ledger.snapshot(),
      reportSince: (before, complete) => this.#ledger.reportSince(before, complete, this.#remaining()),
      waiting: (waiting) => this.#refTimers(waiting),
    });
    const recovered = this.#queue.open({
      dropped: (reason, n) => this.#ledger.drop(reason, n),
      ready: () => this.#schedulePump(),
    });
    if (recovered > 0) {
      this.#ledger.recorded += recovered;
      this.#ledger.recovered = recovered;
      this.#drainMark = this.#queue.tail;
      this.#reporter.warn(`recovered ${recovered} events from the spool; exporting them first`);
      this.#schedulePump();
    }
  }

  record(event: E): void {
    const ledger = this.#ledger;
    ledger.recorded++;
    if (this.#state !== 'open') {
      ledger.dropped.closed++;
      return;
    }
    const admitted = admit(event, this.#spanIds);
    if (typeof admitted === 'string') {
      ledger.dropped.invalid++;
      this.#reporter.invalid(admitted);
      return;
    }
    // Admission ran the event's getters: one may have called close(), whose flush no longer waits for this event.
    if (this.#state !== 'open') {
      ledger.dropped.closed++;
      return;
    }
    const queue = this.#queue;
    if (this.#pendingEvents > 0 && this.#pendingCounts && queue.size + this.#pendingEvents >= queue.capacity && !this.#makeRoom()) {
      ledger.drop('queue_full', 1);
      return;
    }
    queue.push(admitted);
    if (this.#intervalTimer === undefined) this.#startIntervalTimer();
    if (queue.ready >= this.options.maxBatchSize && this.#flights.size - this.#stalledFlights < this.options.maxConcurrentExports) this.#schedulePump();
  }

  flush(options: { timeoutMs?: number } = {}): Promise<FlushReport> {
    const mark = this.#queue.tail;
    if (mark > this.#drainMark) this.#drainMark = mark;
    // After close() nothing more settles: a flush answers at once.
    const done = this.#flushes.wait(mark, this.#state === 'closed' ? 0 : callerTimeoutOf(options));
    this.#pump();
    return done;
  }

  close(options: { timeoutMs?: number } = {}): Promise<FlushReport> {
    this.#closing ??= this.#close(callerTimeoutOf(options) ?? this.options.closeTimeoutMs);
    return this.#closing;
  }

  headroom(fill = 1): number {
    if (this.#state !== 'open') return 0;
    const share = typeof fill === 'number' && fill > 0 && fill < 1 ? fill : 1;
    const waiting = this.#queue.size + (this.#pendingCounts ? this.#pendingEvents : 0);
    return Math.max(0, Math.floor(this.#queue.capacity * share) - waiting);
  }

  persisted(): Promise<boolean> {
    return this.#queue.persisted();
  }

  stats(): CollectorStats {
    return this.#ledger.stats({
      queued: this.#queue.size + this.#pendingEvents + this.#kept,
      inFlight: this.#inFlightEvents,
      batchesInFlight: this.#flights.size,
      queueCapacity: this.#queue.capacity,
    });
  }

  /** Adds an observer called after every export attempt (metrics use this). Returns a remover. */
  observe(observer: ExportObserver): () => void {
    return this.#reporter.observe(observer);
  }

  // ---- closing ----------------------------------------------------------------------------------

  async #close(timeoutMs: number): Promise<FlushReport> {
    // On the monotonic clock: the wall clock may be stepped (NTP, a resumed VM) while close() waits.
    const deadline = performance.now() + timeoutMs;
    const before = this.#ledger.snapshot();
    this.#state = 'closing';
    this.#stopIntervalTimer();
    this.#drainMark = Number.POSITIVE_INFINITY;
    const flushed = await this.flush({ timeoutMs });
    if (!flushed.complete) this.#abandon();
    this.#state = 'closed';
    this.#clearRetryTimer();
    // Flushes called during the close end with it: what they waited for is settled now, or never will be.
    this.#flushes.finish();
    await this.#releaseResources(deadline);
    return this.#ledger.reportSince(before, flushed.complete, this.#remaining());
  }

  /** The deadline passed: abort exports in flight; drop what is left, or keep it in a durable queue for the next start. */
  #abandon(): void {
    const durable = this.#queue.durable;
    let n = 0;
    for (const flight of [...this.#flights]) {
      this.#land(flight);
      flight.controller.abort(new TrackpipeError('TRACKPIPE_ERR_SHUTDOWN_TIMEOUT', 'close() deadline passed'));
      n += this.#abandonWork(flight.work, durable);
    }
    for (const work of this.#pending.splice(0)) n += this.#abandonWork(work, durable);
    this.#pendingEvents = 0;
    if (durable) {
      this.#kept += n;
      const held = n + this.#queue.size;
      this.#reporter.warn(`close() reached its deadline; ${held} events stay in the spool for the next start`);
      return;
    }
    const cleared = this.#queue.clear();
    n += cleared;
    this.#ledger.drop('shutdown_timeout', cleared);
    if (n > 0) {
      this.#reporter.error('TRACKPIPE_ERR_SHUTDOWN_TIMEOUT', `close() reached its deadline; dropped ${n} undelivered events`, undefined, { dropped: n });
    }
  }

  #abandonWork(work: Work<Recorded<E>>, durable: boolean): number {
    const n = work.batch.size;
    if (!durable) this.#drop('shutdown_timeout', work.from, n);
    return n;
  }

  /** Shuts the exporter down and closes the queue, within what is left of close()'s deadline. */
  async #releaseResources(deadline: number): Promise<void> {
    const exporter = this.exporter;
    const parts = Promise.allSettled([
      Promise.resolve().then(() => exporter.shutdown?.()),
      Promise.resolve().then(() => this.#queue.close()),
    ]);
    const outcome = await within(parts, deadline - performance.now(), undefined);
    if (outcome === undefined) {
      this.#reporter.error('TRACKPIPE_ERR_SHUTDOWN_TIMEOUT', `exporter ${this.#exporterName} did not shut down within close()'s deadline; stopped waiting`);
      return;
    }
    const [shutdown, queue] = outcome;
    if (shutdown?.status === 'rejected') this.#reporter.error('TRACKPIPE_ERR_EXPORT_FAILED', `exporter shutdown failed: ${describeError(shutdown.reason)}`, shutdown.reason);
    if (queue?.status === 'rejected') this.#reporter.error('TRACKPIPE_ERR_EXPORT_FAILED', `closing the queue failed: ${describeError(queue.reason)}`, queue.reason);
  }

  // ---- bookkeeping ------------------------------------------------------------------------------

  #settledBelow(mark: number): boolean {
    if (this.#kept > 0) return false; // a close() deadline left them in the spool: nothing settles until the next start
    if (this.#queue.head < mark) return false;
    for (const work of this.#pending) if (work.from < mark) return false;
    for (const flight of this.#flights) if (flight.work.from < mark) return false;
    return true;
  }

  #remaining(): number {
    return this.#queue.size + this.#pendingEvents + this.#inFlightEvents + this.#kept;
  }

  /** Counts `n` events from sequence number `from` as dropped, and lets the queue forget them. */
  #drop(reason: Parameters<Ledger['drop']>[0], from: number, n: number): void {
    this.#ledger.drop(reason, n);
    this.#queue.release(from, from + n);
  }

  /** Files a batch among the waiting ones, in sequence order. */
  #addPending(work: Work<Recorded<E>>): void {
    const pending = this.#pending;
    let i = pending.length;
    while (i > 0 && pending[i - 1]!.from > work.from) i--;
    pending.splice(i, 0, work);
    this.#pendingEvents += work.batch.size;
  }

  /**
   * The queue and the batches waiting for a retry hold `capacity` events between them: the overflow
   * policy makes room for one more. drop-oldest drops the oldest waiting batch (all of it: its events
   * are encoded together) and returns true; drop-newest returns false (the new event is dropped).
   */
  #makeRoom(): boolean {
    if (this.options.overflow === 'drop-newest') return false;
    const work = this.#pending.shift()!;
    const n = work.batch.size;
    this.#pendingEvents -= n;
    this.#drop('queue_full', work.from, n);
    if (this.#flushes.waiting) this.#flushes.check();
    return true;
  }

  /**
   * The waiting batch that goes next, if one may go now: the oldest, once its time or that of any
   * waiting batch has come (ordered: its own time). So retries keep their order, and each retry time
   * sends one batch: batches recorded later never wait for an older one's growing backoff.
   */
  #takePending(now: number): Work<Recorded<E>> | undefined {
    const pending = this.#pending;
    const last = this.#ordered ? Math.min(1, pending.length) : pending.length;
    for (let i = 0; i < last; i++) {
      if (pending[i]!.notBefore <= now) {
        const work = pending.shift()!;
        this.#pendingEvents -= work.batch.size;
        return work;
      }
    }
    return undefined;
  }

  // ---- dispatch ---------------------------------------------------------------------------------

  #schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    queueMicrotask(this.#scheduledPump);
  }

  // Made once: a closure written inside #schedulePump would make every call allocate its context,
  // also the calls that return at once (every record() once a batch is full: 40 B each).
  readonly #scheduledPump = (): void => {
    this.#pumpScheduled = false;
    this.#pump();
  };

  /** True when the queue holds a full batch, or a flush, close or the timer asked to drain it. */
  #batchDue(): boolean {
    const queue = this.#queue;
    return queue.ready >= this.options.maxBatchSize || (queue.ready > 0 && queue.head < this.#drainMark);
  }

  /**
   * Starts as many exports as concurrency, the retry policy and the batching triggers allow. User code
   * runs inside (getters, `toJSON` and encoders while a batch is encoded; `onError` and the logger on a
   * poison event): when it calls `flush()` or `close()`, the nested call only asks the running pump to
   * look again, so no batch is taken twice and the stack does not grow.
   */
  #pump(): void {
    if (this.#pumping) {
      this.#pumpAgain = true;
      return;
    }
    this.#pumping = true;
    try {
      do {
        this.#pumpAgain = false;
        this.#startExports();
      } while (this.#pumpAgain);
    } finally {
      this.#pumping = false;
    }
  }

  #startExports(): void {
    // Retry times are kept on the monotonic clock: a wall clock stepped back would hold them (and a pause) that much longer.
    const now = performance.now();
    const limit = this.#policy.probing ? 1 : this.options.maxConcurrentExports;
    while (this.#hasSlot(limit) && this.#policy.pausedUntil <= now) {
      let work = this.#takePending(now);
      if (work === undefined) {
        if ((this.#ordered && this.#pending.length > 0) || !this.#batchDue()) break;
        const head = this.#queue.head;
        const taken = this.#batcher.take();
        work = taken[0];
        for (let i = 1; i < taken.length; i++) this.#addPending(taken[i]!);
        if (work === undefined) {
          if (this.#queue.head === head) break; // nothing could be taken after all (a queue's ready count ran ahead)
          continue; // every event it took was poison
        }
      }
      this.#start(work, now);
    }
    this.#armRetryTimer(now);
    if (this.#state === 'open' && this.#queue.size > 0 && this.#intervalTimer === undefined) this.#startIntervalTimer();
    if (this.#flushes.waiting) this.#flushes.check();
  }

  /**
   * A free export slot: fewer than `limit` flights that are not stalled, and stalled ones holding
   * fewer than {@link STALLED_QUEUES} × `maxQueueSize` events between them (the memory bound of a
   * hang-heavy destination).
   */
  #hasSlot(limit: number): boolean {
    return this.#flights.size - this.#stalledFlights < limit && this.#stalledEvents < STALLED_QUEUES * this.options.maxQueueSize;
  }

  /**
   * Starts an export. Its timer first fires when the export counts as stalled — it has run
   * {@link STALL_FACTOR} times longer than this exporter's typical successful export (at least
   * {@link MIN_STALL_MS}) — and frees its slot, so that a destination that hangs some requests does not
   * starve the rest; the export goes on until it answers or `exportTimeoutMs` aborts it. Ordered
   * exporters keep their slots: they send one request at a time anyway.
   */
  #start(work: Work<Recorded<E>>, now: number): void {
    if (work.firstAttemptAt < 0) work.firstAttemptAt = now;
    const timeoutMs = this.options.exportTimeoutMs;
    const typical = this.#ordered ? undefined : this.#durations.typical;
    const stallMs = typical === undefined ? timeoutMs : Math.min(timeoutMs, Math.max(MIN_STALL_MS, STALL_FACTOR * typical));
    const flight: Flight<Recorded<E>> = {
      work,
      controller: new AbortController(),
      startedAt: performance.now(),
      epoch: this.#policy.epoch,
      timer: undefined,
      stalled: false,
      done: false,
    };
    this.#flights.add(flight);
    this.#inFlightEvents += work.batch.size;
    this.#armFlight(flight, stallMs, stallMs < timeoutMs ? () => this.#stall(flight, timeoutMs - stallMs) : () => this.#settle(flight, TIMED_OUT));
    // The exporter runs in a microtask, so a synchronous throw becomes a rejection like any other.
    Promise.resolve(work.batch)
      .then((batch) => this.exporter.export(batch, flight.controller.signal))
      .then(
        (result) => this.#settle(flight, result),
        (error: unknown) => this.#settle(flight, new Thrown(error)),
      )
      .catch((error: unknown) => this.#reporter.error('TRACKPIPE_ERR_EXPORT_FAILED', `internal error while settling an export (please report it): ${describeError(error)}`, error));
  }

  #armFlight(flight: Flight<Recorded<E>>, ms: number, fire: () => void): void {
    flight.timer = setTimeout(fire, ms);
    if (!this.#flushes.waiting) flight.timer.unref();
  }

  /** The flight runs on without its slot, until it answers or its remaining time runs out. */
  #stall(flight: Flight<Recorded<E>>, remainingMs: number): void {
    flight.stalled = true;
    this.#stalledFlights++;
    this.#stalledEvents += flight.work.batch.size;
    this.#armFlight(flight, remainingMs, () => this.#settle(flight, TIMED_OUT));
    this.#pump();
  }

  /** Takes a flight off the books (it ended, or was abandoned). */
  #land(flight: Flight<Recorded<E>>): void {
    flight.done = true;
    if (flight.timer !== undefined) clearTimeout(flight.timer);
    this.#flights.delete(flight);
    const n = flight.work.batch.size;
    this.#inFlightEvents -= n;
    if (flight.stalled) {
      this.#stalledFlights--;
      this.#stalledEvents -= n;
    }
  }

  /** Books the outcome of one export attempt. Runs at most once per flight; cannot throw. */
  #settle(flight: Flight<Recorded<E>>, outcome: unknown): void {
    if (flight.done) return;
    this.#land(flight);
    const { work } = flight;
    const { batch } = work;
    const n = batch.size;
    const durationMs = performance.now() - flight.startedAt;
    if (outcome === TIMED_OUT) {
      const timeout = new TrackpipeError('TRACKPIPE_ERR_EXPORT_TIMEOUT', `export took longer than ${this.options.exportTimeoutMs} ms`, { retriable: true });
      this.#ledger.failed.timeout++;
      this.#retry(work, flight.epoch, undefined, timeout, false);
      flight.controller.abort(timeout);
      this.#reporter.exported('timeout', n, batch.bytes, durationMs);
    } else {
      const answer = readAnswer(outcome, n);
      if (answer.kind === 'ok') this.#durations.add(durationMs);
      this.#act(work, flight.epoch, answer);
      this.#reporter.exported(answer.kind === 'malformed' ? 'error' : answer.kind, n, batch.bytes, durationMs);
    }
    this.#pump();
  }

  #act(work: Work<Recorded<E>>, epoch: number, answer: Answer): void {
    const n = work.batch.size;
    const ledger = this.#ledger;
    switch (answer.kind) {
      case 'ok':
        this.#policy.succeeded(epoch);
        ledger.delivered(n);
        this.#queue.release(work.from, work.from + n);
        return;
      case 'retry':
        ledger.failed.retryable++;
        this.#retry(work, epoch, answer.retryAfterMs, answer.error, answer.auth);
        return;
      case 'reject': {
        this.#policy.succeeded(epoch); // the destination answered: it is up
        ledger.failed.permanent++;
        if (answer.auth) ledger.failed.auth++;
        ledger.drop('rejected', answer.rejected);
        if (answer.rejected < n) ledger.delivered(n - answer.rejected);
        this.#queue.release(work.from, work.from + n);
        const why = describeError(answer.error ?? 'no reason given');
        this.#reporter.error(
          answer.auth ? 'TRACKPIPE_ERR_EXPORT_AUTH' : 'TRACKPIPE_ERR_EXPORT_REJECTED',
          `exporter ${this.#exporterName} rejected ${answer.rejected} of ${n} events: ${why}`,
          answer.error,
          { dropped: answer.rejected },
        );
        return;
      }
      case 'too_large':
        this.#policy.succeeded(epoch);
        if (n === 1) {
          this.#drop('too_large', work.from, 1);
          this.#reporter.error(
            'TRACKPIPE_ERR_EXPORT_TOO_LARGE',
            `exporter ${this.#exporterName}: event ${describeFirstId(work.batch)} (${work.batch.bytes} bytes) is too large on its own; dropped`,
            answer.error,
            { dropped: 1 },
          );
        } else {
          for (const half of this.#batcher.halve(work)) this.#addPending(half);
        }
        return;
      case 'malformed':
        ledger.failed.permanent++;
        this.#drop('rejected', work.from, n);
        this.#reporter.error('TRACKPIPE_ERR_EXPORT_FAILED', `exporter ${this.#exporterName} ${answer.why}; dropped ${n} events`, answer.error, { dropped: n });
        return;
    }
  }

  #retry(work: Work<Recorded<E>>, epoch: number, hintMs: number | undefined, error: unknown, auth: boolean): void {
    const n = work.batch.size;
    const now = performance.now();
    const notBefore = this.#policy.failed(work, epoch, hintMs, now);
    if (auth) this.#ledger.failed.auth++;
    // Booked before anything is said: a logger or onError that calls back (flush, close) finds the batch dropped or waiting.
    if (notBefore === undefined) {
      this.#drop('retries_exhausted', work.from, n);
      if (auth) this.#reporter.authFailure(error);
      this.#reporter.error(
        'TRACKPIPE_ERR_EXPORT_RETRIES_EXHAUSTED',
        `exporter ${this.#exporterName} still failing after ${Math.round(now - work.firstAttemptAt)} ms; dropped ${n} events (last error: ${describeError(error)})`,
        error,
        { dropped: n },
      );
      return;
    }
    this.#ledger.retries++;
    work.notBefore = notBefore;
    this.#addPending(work);
    if (auth) this.#reporter.authFailure(error);
    else this.#reporter.transient(`${describeError(error ?? 'retry requested')}; retrying in ${notBefore - now} ms`);
  }

  // ---- timers -----------------------------------------------------------------------------------

  #startIntervalTimer(): void {
    this.#intervalTimer = setTimeout(() => {
      this.#intervalTimer = undefined;
      const tail = this.#queue.tail;
      if (tail > this.#drainMark) this.#drainMark = tail;
      this.#pump();
    }, this.options.flushIntervalMs);
    this.#intervalTimer.unref();
  }

  #stopIntervalTimer(): void {
    if (this.#intervalTimer !== undefined) clearTimeout(this.#intervalTimer);
    this.#intervalTimer = undefined;
  }

  /** Wakes the pump when the exporter's pause ends or the next waiting batch's time comes. */
  #armRetryTimer(now: number): void {
    let at = Number.POSITIVE_INFINITY;
    const pausedUntil = this.#policy.pausedUntil;
    if (pausedUntil > now) {
      if (this.#pending.length > 0 || this.#queue.ready > 0) at = pausedUntil;
    } else {
      const last = this.#ordered ? Math.min(1, this.#pending.length) : this.#pending.length;
      for (let i = 0; i < last; i++) at = Math.min(at, this.#pending[i]!.notBefore);
      if (at <= now) at = Number.POSITIVE_INFINITY; // due now: the pump is waiting for a free slot
    }
    if (at === Number.POSITIVE_INFINITY || at >= this.#retryTimerAt) return;
    this.#clearRetryTimer();
    this.#retryTimerAt = at;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.#retryTimerAt = Number.POSITIVE_INFINITY;
      this.#pump();
    }, at - now);
    if (!this.#flushes.waiting) this.#retryTimer.unref();
  }

  #clearRetryTimer(): void {
    if (this.#retryTimer !== undefined) clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#retryTimerAt = Number.POSITIVE_INFINITY;
  }

  /** While somebody waits for a flush or close, the timers that lead to it keep the process alive. */
  #refTimers(ref: boolean): void {
    const timers = [this.#retryTimer, ...[...this.#flights].map((f) => f.timer)];
    for (const timer of timers) {
      if (ref) timer?.ref();
      else timer?.unref();
    }
  }
}
