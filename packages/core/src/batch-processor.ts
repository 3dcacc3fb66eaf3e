import { isSpanContextValid, trace } from '@opentelemetry/api';
import type {
  Collector,
  CollectorStats,
  DropReason,
  Encoder,
  ExportBatch,
  ExportObservation,
  ExportObserver,
  ExportResult,
  Exporter,
  FlushReport,
} from './contracts.js';
import { DROP_REASONS, jsonEncoder } from './contracts.js';
import { describeError, type ErrorCode, TrackpipeError } from './errors.js';
import { type Recorded, type TelemetryEvent, admitEvent } from './events.js';
import { backoffDelay, type BatchProcessorOptions, type ResolvedOptions, resolveOptions } from './options.js';
import { RingBuffer } from './ring.js';

/** A batch taken off the queue, with what the processor needs to retry or split it. */
interface Work<E> {
  readonly batch: ExportBatch<E>;
  /** Queue sequence number of the batch's first event: flush() waits until no batch starts below its mark. */
  readonly seq: number;
  /** Epoch ms of the first attempt (0 before it); the retry budget runs from here. */
  firstAttemptAt: number;
}

interface Flight<E> {
  readonly work: Work<E>;
  readonly controller: AbortController;
  readonly startedAt: number;
  timer: NodeJS.Timeout | undefined;
  done: boolean;
}

interface Waiter {
  /** Everything with a queue sequence number below this must be settled. */
  readonly mark: number;
  readonly before: Snapshot;
  readonly resolve: (report: FlushReport) => void;
  timer: NodeJS.Timeout | undefined;
}

interface Snapshot {
  readonly exported: number;
  readonly dropped: Record<DropReason, number>;
}

const TIMED_OUT = Symbol('timed out');
const ABANDONED = Symbol('abandoned');
/** An exporter that threw (or rejected its promise) instead of answering an ExportResult. */
class Thrown {
  constructor(readonly error: unknown) {}
}
/** What ends an export attempt: the exporter's answer (checked, as it may be anything), or one of ours. */
type Settlement = unknown;

function zeroDrops(): Record<DropReason, number> {
  const drops = {} as Record<DropReason, number>;
  for (const reason of DROP_REASONS) drops[reason] = 0;
  return drops;
}

/**
 * The batching processor: a bounded queue in front of one exporter. It batches by count, bytes and
 * time, exports with bounded concurrency and a timeout, retries with exponential backoff and full
 * jitter (per exporter, honouring Retry-After), halves batches that are too large, drops poison events
 * alone, and accounts for every event: `recorded = exported + dropped + queued + inFlight`.
 */
export class BatchProcessor<E extends TelemetryEvent = TelemetryEvent> implements Collector<E> {
  /** The pipeline name (for logs and metric labels). */
  readonly name: string;
  /** The exporter this processor feeds. */
  readonly exporter: Exporter<Recorded<E>>;
  /** The options in force, defaults applied. */
  readonly options: ResolvedOptions;

  readonly #queue: RingBuffer<Recorded<E>>;
  readonly #encode: Encoder<Recorded<E>>;
  readonly #traceContext: boolean;
  readonly #observers: ExportObserver[] = [];
  /** Events that ever left the queue (drained into a batch, or dropped from its head). */
  #head = 0;
  /** Drain the queue regardless of batch size until #head reaches this mark (timer, flush, close). */
  #drainMark = 0;
  #recorded = 0;
  #exported = 0;
  readonly #dropped = zeroDrops();
  #retries = 0;
  readonly #failed = { retryable: 0, permanent: 0, timeout: 0, auth: 0 };
  #lastError: CollectorStats['lastError'];
  #lastExportAt: number | undefined;
  /** Batches waiting for another attempt (retries and halves), first out first. */
  readonly #pending: Work<Recorded<E>>[] = [];
  #pendingEvents = 0;
  readonly #flights = new Set<Flight<Recorded<E>>>();
  #inFlightEvents = 0;
  /** Consecutive failures of the exporter; drives the backoff ceiling. */
  #failures = 0;
  #backoffUntil = 0;
  #backoffTimer: NodeJS.Timeout | undefined;
  #intervalTimer: NodeJS.Timeout | undefined;
  #pumpScheduled = false;
  readonly #waiters: Waiter[] = [];
  #state: 'open' | 'closing' | 'closed' = 'open';
  #closing: Promise<FlushReport> | undefined;
  #invalidSuppressed = 0;
  #invalidWarnedAt = Number.NEGATIVE_INFINITY;

  constructor(exporter: Exporter<Recorded<E>>, options: BatchProcessorOptions = {}) {
    if (exporter === null || typeof exporter !== 'object' || typeof exporter.export !== 'function') {
      throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', 'exporter must be an object with an export(batch, signal) method');
    }
    this.exporter = exporter;
    this.options = resolveOptions(options);
    this.name = this.options.name;
    this.#queue = new RingBuffer(this.options.maxQueueSize);
    this.#encode = exporter.encoder ?? jsonEncoder;
    this.#traceContext = this.options.traceContext;
  }

  record(event: E): void {
    this.#recorded++;
    if (this.#state !== 'open') {
      this.#dropped.closed++;
      return;
    }
    const problem = admitEvent(event);
    if (problem !== undefined) {
      this.#invalid(problem);
      return;
    }
    const recorded = event as Recorded<E>;
    if (this.#traceContext && recorded.traceId === undefined) attachTraceContext(recorded);
    const queue = this.#queue;
    if (queue.size === queue.capacity) {
      this.#dropped.queue_full++;
      if (this.options.overflow === 'drop-newest') return;
      queue.shift();
      this.#head++;
    }
    queue.push(recorded);
    if (this.#intervalTimer === undefined) this.#startIntervalTimer();
    if (queue.size >= this.options.maxBatchSize && this.#flights.size < this.options.maxConcurrentExports) {
      this.#schedulePump();
    }
  }

  flush(options: { timeoutMs?: number } = {}): Promise<FlushReport> {
    return this.#waitUntilSettled(this.#head + this.#queue.size, options.timeoutMs);
  }

  close(options: { timeoutMs?: number } = {}): Promise<FlushReport> {
    this.#closing ??= this.#close(options.timeoutMs ?? this.options.closeTimeoutMs);
    return this.#closing;
  }

  stats(): CollectorStats {
    let dropped = 0;
    for (const reason of DROP_REASONS) dropped += this.#dropped[reason];
    return {
      recorded: this.#recorded,
      exported: this.#exported,
      dropped,
      droppedByReason: { ...this.#dropped },
      queued: this.#queue.size + this.#pendingEvents,
      inFlight: this.#inFlightEvents,
      batchesInFlight: this.#flights.size,
      queueCapacity: this.#queue.capacity,
      retries: this.#retries,
      failedExports: { ...this.#failed },
      lastError: this.#lastError,
      lastExportAt: this.#lastExportAt,
    };
  }

  /** Adds an observer called after every export attempt (metrics use this). Returns a remover. */
  observe(observer: ExportObserver): () => void {
    this.#observers.push(observer);
    return () => {
      const i = this.#observers.indexOf(observer);
      if (i >= 0) this.#observers.splice(i, 1);
    };
  }

  // ---- closing ----------------------------------------------------------------------------------

  async #close(timeoutMs: number): Promise<FlushReport> {
    const before = this.#snapshot();
    this.#state = 'closing';
    this.#stopIntervalTimer();
    this.#drainMark = Number.POSITIVE_INFINITY;
    const flushed = await this.#waitUntilSettled(this.#head + this.#queue.size, timeoutMs);
    if (!flushed.complete) this.#abandon();
    this.#state = 'closed';
    this.#clearBackoffTimer();
    if (this.exporter.shutdown) {
      try {
        await this.exporter.shutdown();
      } catch (error) {
        this.#report('TRACKPIPE_ERR_EXPORT_FAILED', `exporter shutdown failed: ${describeError(error)}`, error);
      }
    }
    return this.#reportSince(before, flushed.complete);
  }

  /** The deadline passed: drop everything still queued, pending or in flight. */
  #abandon(): void {
    let n = 0;
    for (const flight of this.#flights) {
      n += flight.work.batch.events.length;
      this.#settle(flight, ABANDONED);
    }
    for (const work of this.#pending) n += work.batch.events.length;
    this.#pending.length = 0;
    this.#pendingEvents = 0;
    const queued = this.#queue.clear();
    this.#head += queued;
    n += queued;
    this.#dropped.shutdown_timeout += n;
    if (n > 0) {
      this.#report('TRACKPIPE_ERR_SHUTDOWN_TIMEOUT', `close() reached its deadline; dropped ${n} undelivered events`, undefined, {
        dropped: n,
      });
    }
  }

  // ---- flush bookkeeping ------------------------------------------------------------------------

  #waitUntilSettled(mark: number, timeoutMs: number | undefined): Promise<FlushReport> {
    const before = this.#snapshot();
    if (this.#settledBelow(mark)) return Promise.resolve(this.#reportSince(before, true));
    if (mark > this.#drainMark) this.#drainMark = mark;
    return new Promise((resolve) => {
      const waiter: Waiter = { mark, before, resolve, timer: undefined };
      if (timeoutMs !== undefined) {
        // Referenced on purpose: a pending flush or close keeps the process alive until it ends.
        waiter.timer = setTimeout(() => this.#release(waiter, false), timeoutMs);
      }
      this.#waiters.push(waiter);
      this.#pump();
    });
  }

  #settledBelow(mark: number): boolean {
    if (this.#head < mark) return false;
    for (const work of this.#pending) if (work.seq < mark) return false;
    for (const flight of this.#flights) if (flight.work.seq < mark) return false;
    return true;
  }

  #checkWaiters(): void {
    for (let i = this.#waiters.length - 1; i >= 0; i--) {
      const waiter = this.#waiters[i];
      if (waiter !== undefined && this.#settledBelow(waiter.mark)) this.#release(waiter, true);
    }
  }

  #release(waiter: Waiter, complete: boolean): void {
    const i = this.#waiters.indexOf(waiter);
    if (i < 0) return;
    this.#waiters.splice(i, 1);
    if (waiter.timer !== undefined) clearTimeout(waiter.timer);
    waiter.resolve(this.#reportSince(waiter.before, complete));
  }

  #snapshot(): Snapshot {
    return { exported: this.#exported, dropped: { ...this.#dropped } };
  }

  #reportSince(before: Snapshot, complete: boolean): FlushReport {
    const droppedByReason: Partial<Record<DropReason, number>> = {};
    let dropped = 0;
    for (const reason of DROP_REASONS) {
      const n = this.#dropped[reason] - before.dropped[reason];
      if (n > 0) {
        droppedByReason[reason] = n;
        dropped += n;
      }
    }
    return {
      complete,
      exported: this.#exported - before.exported,
      dropped,
      droppedByReason,
      remaining: this.#queue.size + this.#pendingEvents + this.#inFlightEvents,
    };
  }

  // ---- dispatch ---------------------------------------------------------------------------------

  #schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    queueMicrotask(() => {
      this.#pumpScheduled = false;
      this.#pump();
    });
  }

  /** Starts as many exports as concurrency, backoff and the batching triggers allow. */
  #pump(): void {
    const { maxConcurrentExports, maxBatchSize } = this.options;
    while (this.#flights.size < maxConcurrentExports) {
      const wait = this.#backoffUntil - Date.now();
      if (wait > 0) {
        if (this.#pending.length > 0 || this.#queue.size > 0) this.#armBackoffTimer(wait);
        break;
      }
      let work = this.#pending.shift();
      if (work !== undefined) {
        this.#pendingEvents -= work.batch.events.length;
      } else {
        const queued = this.#queue.size;
        if (queued === 0 || (queued < maxBatchSize && this.#head >= this.#drainMark)) break;
        work = this.#drain();
        if (work === undefined) continue; // every event of it was unserializable
      }
      this.#start(work);
    }
    if (this.#state === 'open' && this.#queue.size > 0 && this.#intervalTimer === undefined) this.#startIntervalTimer();
    if (this.#waiters.length > 0) this.#checkWaiters();
  }

  /** Takes the next batch off the queue, serializing each event; unserializable ones are dropped alone. */
  #drain(): Work<Recorded<E>> | undefined {
    const { maxBatchSize, maxBatchBytes } = this.options;
    const queue = this.#queue;
    const seq = this.#head;
    const events: Recorded<E>[] = [];
    const encoded: string[] = [];
    let bytes = 0;
    while (events.length < maxBatchSize) {
      const event = queue.peek();
      if (event === undefined) break;
      let text: string;
      try {
        text = this.#encode(event);
        if (typeof text !== 'string') throw new TypeError(`the encoder returned ${typeof text}, not a string`);
      } catch (error) {
        queue.shift();
        this.#head++;
        this.#dropped.unserializable++;
        this.#report('TRACKPIPE_ERR_EVENT_UNSERIALIZABLE', `dropped event ${event.id} (${event.name}): ${describeError(error)}`, error);
        continue;
      }
      const size = Buffer.byteLength(text);
      if (events.length > 0 && bytes + size > maxBatchBytes) break;
      queue.shift();
      this.#head++;
      events.push(event);
      encoded.push(text);
      bytes += size;
    }
    if (events.length === 0) return undefined;
    return { batch: { events, encoded, bytes }, seq, firstAttemptAt: 0 };
  }

  #start(work: Work<Recorded<E>>): void {
    const now = Date.now();
    if (work.firstAttemptAt === 0) work.firstAttemptAt = now;
    const flight: Flight<Recorded<E>> = {
      work,
      controller: new AbortController(),
      startedAt: performance.now(),
      timer: undefined,
      done: false,
    };
    this.#flights.add(flight);
    this.#inFlightEvents += work.batch.events.length;
    flight.timer = setTimeout(() => this.#settle(flight, TIMED_OUT), this.options.exportTimeoutMs);
    if (this.#waiters.length === 0) flight.timer.unref();
    // The exporter runs in a microtask, so a synchronous throw becomes a rejection like any other.
    Promise.resolve(work.batch)
      .then((batch) => this.exporter.export(batch, flight.controller.signal))
      .then(
      (result) => this.#settle(flight, result),
      (error: unknown) => this.#settle(flight, new Thrown(error)),
    );
  }

  /** Books the outcome of one export attempt. Runs at most once per flight. */
  #settle(flight: Flight<Recorded<E>>, outcome: Settlement): void {
    if (flight.done) return;
    flight.done = true;
    if (flight.timer !== undefined) clearTimeout(flight.timer);
    this.#flights.delete(flight);
    const { work } = flight;
    const { batch } = work;
    const n = batch.events.length;
    this.#inFlightEvents -= n;

    if (outcome === ABANDONED) {
      flight.controller.abort(new TrackpipeError('TRACKPIPE_ERR_SHUTDOWN_TIMEOUT', 'close() deadline passed'));
      return; // the caller counts the drop
    }
    const timeout =
      outcome === TIMED_OUT
        ? new TrackpipeError('TRACKPIPE_ERR_EXPORT_TIMEOUT', `export took longer than ${this.options.exportTimeoutMs} ms`, {
            retriable: true,
          })
        : undefined;
    if (timeout !== undefined) flight.controller.abort(timeout);
    const result = outcome === TIMED_OUT ? undefined : this.#validResult(outcome);
    const kind = outcome === TIMED_OUT ? 'timeout' : result === undefined ? 'error' : result.code;
    this.#observeExport(kind, n, batch.bytes, performance.now() - flight.startedAt);

    if (timeout !== undefined) {
      this.#failed.timeout++;
      this.#retry(work, undefined, timeout);
    } else if (result === undefined) {
      this.#failed.permanent++;
      this.#dropped.rejected += n;
      const error = outcome instanceof Thrown ? outcome.error : undefined;
      const why = outcome instanceof Thrown ? `threw: ${describeError(error)}` : `answered ${safeJson(outcome)}, not an ExportResult`;
      this.#report('TRACKPIPE_ERR_EXPORT_FAILED', `exporter ${this.exporter.name} ${why}; dropped ${n} events`, error, { dropped: n });
    } else {
      switch (result.code) {
        case 'ok':
          this.#succeeded(n);
          break;
        case 'retry':
          this.#failed.retryable++;
          this.#retry(work, result.retryAfterMs, result.error);
          break;
        case 'reject':
          this.#rejected(work, result);
          break;
        case 'too_large':
          this.#tooLarge(work, result.error);
          break;
      }
    }
    this.#pump();
  }

  #validResult(outcome: Settlement): ExportResult | undefined {
    if (outcome === null || typeof outcome !== 'object' || outcome instanceof Thrown) return undefined;
    const result = outcome as ExportResult;
    switch (result.code) {
      case 'ok':
      case 'retry':
      case 'reject':
      case 'too_large':
        return result;
      default:
        return undefined;
    }
  }

  #succeeded(n: number): void {
    this.#exported += n;
    this.#lastExportAt = Date.now();
    this.#failures = 0;
  }

  #retry(work: Work<Recorded<E>>, retryAfterMs: number | undefined, error: unknown): void {
    const n = work.batch.events.length;
    const now = Date.now();
    const hinted = typeof retryAfterMs === 'number' && Number.isFinite(retryAfterMs) && retryAfterMs >= 0;
    const delay = hinted ? retryAfterMs : backoffDelay(this.options.retry, this.#failures, this.options.random);
    this.#failures++;
    if (now + delay - work.firstAttemptAt > this.options.retry.maxElapsedMs) {
      this.#dropped.retries_exhausted += n;
      this.#report(
        'TRACKPIPE_ERR_EXPORT_RETRIES_EXHAUSTED',
        `exporter ${this.exporter.name} still failing after ${now - work.firstAttemptAt} ms; dropped ${n} events (last error: ${describeError(error)})`,
        error,
        { dropped: n },
      );
      return;
    }
    this.#retries++;
    this.#pending.unshift(work);
    this.#pendingEvents += n;
    this.#backoffUntil = Math.max(this.#backoffUntil, now + delay);
    this.#noteError('TRACKPIPE_ERR_EXPORT_RETRYABLE', `exporter ${this.exporter.name}: ${describeError(error ?? 'retry requested')}; retrying in ${delay} ms`);
  }

  #rejected(work: Work<Recorded<E>>, result: Extract<ExportResult, { code: 'reject' }>): void {
    const n = work.batch.events.length;
    let rejected = n;
    if (result.indexes !== undefined) {
      rejected = new Set(result.indexes.filter((i) => Number.isInteger(i) && i >= 0 && i < n)).size;
    } else if (result.count !== undefined && Number.isFinite(result.count)) {
      rejected = Math.min(n, Math.max(0, Math.floor(result.count)));
    }
    this.#dropped.rejected += rejected;
    if (rejected < n) this.#succeeded(n - rejected);
    this.#failed.permanent++;
    this.#report(
      'TRACKPIPE_ERR_EXPORT_REJECTED',
      `exporter ${this.exporter.name} rejected ${rejected} of ${n} events: ${describeError(result.error ?? 'no reason given')}`,
      result.error,
      { dropped: rejected },
    );
  }

  #tooLarge(work: Work<Recorded<E>>, error: unknown): void {
    const { events, encoded } = work.batch;
    const n = events.length;
    if (n === 1) {
      this.#dropped.too_large++;
      this.#report(
        'TRACKPIPE_ERR_EXPORT_TOO_LARGE',
        `exporter ${this.exporter.name}: event ${events[0]?.id} (${work.batch.bytes} bytes) is too large on its own; dropped`,
        error,
        { dropped: 1 },
      );
      return;
    }
    const half = Math.ceil(n / 2);
    const halves: Work<Recorded<E>>[] = [0, half].map((from) => {
      const to = from === 0 ? half : n;
      const part = encoded.slice(from, to);
      let bytes = 0;
      for (const text of part) bytes += Buffer.byteLength(text);
      return { batch: { events: events.slice(from, to), encoded: part, bytes }, seq: work.seq, firstAttemptAt: work.firstAttemptAt };
    });
    this.#pending.unshift(...halves);
    this.#pendingEvents += n;
  }

  // ---- timers -----------------------------------------------------------------------------------

  #startIntervalTimer(): void {
    this.#intervalTimer = setTimeout(() => {
      this.#intervalTimer = undefined;
      const tail = this.#head + this.#queue.size;
      if (tail > this.#drainMark) this.#drainMark = tail;
      this.#pump();
    }, this.options.flushIntervalMs);
    this.#intervalTimer.unref();
  }

  #stopIntervalTimer(): void {
    if (this.#intervalTimer !== undefined) clearTimeout(this.#intervalTimer);
    this.#intervalTimer = undefined;
  }

  #armBackoffTimer(wait: number): void {
    if (this.#backoffTimer !== undefined) return;
    this.#backoffTimer = setTimeout(() => {
      this.#backoffTimer = undefined;
      this.#pump();
    }, wait);
    if (this.#waiters.length === 0) this.#backoffTimer.unref();
  }

  #clearBackoffTimer(): void {
    if (this.#backoffTimer !== undefined) clearTimeout(this.#backoffTimer);
    this.#backoffTimer = undefined;
  }

  // ---- reporting --------------------------------------------------------------------------------

  #invalid(problem: string): void {
    this.#dropped.invalid++;
    const now = Date.now();
    if (now - this.#invalidWarnedAt < this.options.invalidWarningIntervalMs) {
      this.#invalidSuppressed++;
      return;
    }
    const suppressed = this.#invalidSuppressed;
    this.#invalidSuppressed = 0;
    this.#invalidWarnedAt = now;
    const more = suppressed > 0 ? ` (${suppressed} more since the last warning)` : '';
    const message = `TRACKPIPE_ERR_EVENT_INVALID: pipeline ${this.name}: dropped an invalid event: ${problem}${more}`;
    this.#noteError('TRACKPIPE_ERR_EVENT_INVALID', message);
    this.options.logger.warn(message);
  }

  #observeExport(outcome: ExportObservation['outcome'], events: number, bytes: number, durationMs: number): void {
    if (this.#observers.length === 0) return;
    const observation: ExportObservation = { pipeline: this.name, exporter: this.exporter.name, outcome, events, bytes, durationMs };
    for (const observer of this.#observers) {
      try {
        observer(observation);
      } catch {
        // Observers must not break delivery.
      }
    }
  }

  /** Remembers an error for stats() without reporting it (transient conditions, rate-limited warnings). */
  #noteError(code: ErrorCode, message: string): void {
    this.#lastError = { code, message, at: Date.now() };
  }

  /** Records, logs and hands to onError an error that lost events or needs attention. */
  #report(code: ErrorCode, message: string, cause?: unknown, details: Record<string, unknown> = {}): void {
    const error = new TrackpipeError(code, `pipeline ${this.name}: ${message}`, {
      cause,
      details: { pipeline: this.name, exporter: this.exporter.name, ...details },
    });
    this.#noteError(code, error.message);
    this.options.logger.error(error.message);
    if (this.options.onError) {
      try {
        this.options.onError(error);
      } catch {
        // A failing handler must not break delivery.
      }
    }
  }
}

/** Copies the active span's ids onto the event (no-op without an SDK or an active, valid span). */
function attachTraceContext(event: TelemetryEvent): void {
  const span = trace.getActiveSpan();
  if (span === undefined) return;
  const context = span.spanContext();
  if (!isSpanContextValid(context)) return;
  event.traceId = context.traceId;
  event.spanId = context.spanId;
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
