import {
  type BatchEncoder,
  type Encoder,
  type ExportBatch,
  type ExportResult,
  ExportResults,
  type Exporter,
} from '../contracts.js';
import { TrackpipeError } from '../errors.js';
import type { Recorded, TelemetryEvent } from '../events.js';

/**
 * An answer computed from the batch: return an {@link ExportResult} (or a promise of one). What it
 * returns is passed on unchanged, malformed or not, so a test can try the processor with anything.
 */
export type ExportAnswer<E> = (batch: ExportBatch<E>, signal: AbortSignal) => ExportResult | Promise<ExportResult>;

/**
 * One scripted answer of a {@link MemoryExporter}.
 * - `ok`, `retry`, `reject`, `too_large`: answer that {@link ExportResult} (an `ExportResults.*()` value
 *   is a step), after `delayMs` when given (an abort during the delay answers `retry` at once, with the
 *   abort reason).
 * - `throw`: `export()` throws `error` (synchronously, or as a rejected promise with `async: true`),
 *   the way a buggy exporter would.
 * - `hang`: never answers on its own; resolves (`retry`, with the abort reason) when the AbortSignal fires.
 * - `hold`: answers `ok` when the test calls {@link MemoryExporter.release}, or `retry` when the
 *   AbortSignal fires first.
 * - a function ({@link ExportAnswer}): answers whatever it returns for the batch.
 */
export type ExportStep<E = Recorded<TelemetryEvent>> = ScriptedStep | ExportAnswer<E>;

/** The steps that are not functions (see {@link ExportStep}). */
type ScriptedStep =
  | { readonly code: 'ok'; readonly delayMs?: number }
  | {
      readonly code: 'retry';
      readonly retryAfterMs?: number;
      readonly auth?: boolean;
      readonly error?: unknown;
      readonly delayMs?: number;
    }
  | {
      readonly code: 'reject';
      readonly indexes?: readonly number[];
      readonly count?: number;
      readonly auth?: boolean;
      readonly error?: unknown;
      readonly delayMs?: number;
    }
  | { readonly code: 'too_large'; readonly error?: unknown; readonly delayMs?: number }
  | { readonly code: 'throw'; readonly error?: unknown; readonly async?: boolean }
  | { readonly code: 'hang' }
  | { readonly code: 'hold' };

/**
 * How a call was answered: a scripted step's code (`answer` for a function step), `too_large` from
 * the `maxBatchSize` / `maxBatchBytes` limits, `shutdown` when called after `shutdown()`.
 */
export type ExportOutcome = 'ok' | 'retry' | 'reject' | 'too_large' | 'throw' | 'hang' | 'hold' | 'answer' | 'shutdown';

/** What one call of `export()` did. */
export interface ExportCall<E> {
  /** 1 for the first call, and so on. */
  readonly attempt: number;
  /** `Date.now()` when the call was made (fake timers control it). */
  readonly at: number;
  /** The events of the batch (a copy of the array). */
  readonly events: readonly E[];
  /** The encoded events (a copy of the array; empty when the exporter has `encodeBatch`). */
  readonly encoded: readonly string[];
  /** The whole-batch encoding, for an exporter with `encodeBatch`. */
  readonly payload: Uint8Array | undefined;
  /** The batch's byte size. */
  readonly bytes: number;
  /** How the call was answered; see {@link ExportOutcome}. */
  readonly outcome: ExportOutcome;
  /** What `export()` resolved with (as given, for a function step); undefined while pending and for `throw`. */
  readonly result: ExportResult | undefined;
  /** The error thrown (`throw`, or by a function step), or the abort reason when the signal fired during the call. */
  readonly error: unknown;
  /** True when the AbortSignal fired before the call answered (the processor timed it out or gave up). */
  readonly aborted: boolean;
  /** True once the call answered (or threw). */
  readonly settled: boolean;
}

/** Options of a {@link MemoryExporter}. */
export interface MemoryExporterOptions<E> {
  /** Name in logs and metric labels. Default `"memory"`. */
  name?: string;
  /** Per-event serializer the processor uses for this exporter. Default: the processor's (JSON). */
  encoder?: Encoder<E>;
  /** Whole-batch encoder: batches then carry `payload` instead of `encoded`. Default: none. */
  encodeBatch?: BatchEncoder<E>;
  /** Declares the exporter ordered (see `Exporter.ordered`). Default `false`. */
  ordered?: boolean;
  /** Unscripted calls with more events than this answer `too_large`. Default: no limit. */
  maxBatchSize?: number;
  /** Unscripted calls with more bytes (`batch.bytes`) than this answer `too_large`. Default: no limit. */
  maxBatchBytes?: number;
}

type MutableCall<E> = { -readonly [K in keyof ExportCall<E>]: ExportCall<E>[K] };
type ResultStep = Extract<ScriptedStep, { readonly code: 'ok' | 'retry' | 'reject' | 'too_large' }>;

function limit(option: string, value: unknown): number {
  if (value === undefined) return Number.POSITIVE_INFINITY;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', `${option} must be an integer >= 1 (got ${shown(value)})`, {
      details: { option },
    });
  }
  return value;
}

function times(count: number): number {
  if (!Number.isInteger(count) || count < 1) {
    throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', `count must be an integer >= 1 (got ${shown(count)})`, {
      details: { option: 'count' },
    });
  }
  return count;
}

const TOO_LARGE_BY_LIMIT: ScriptedStep = { code: 'too_large', error: new Error('batch exceeds the MemoryExporter limits') };
const OK_STEP: ScriptedStep = { code: 'ok' };

/**
 * An {@link Exporter} that keeps what it delivers in memory and can be scripted to fail: test a pipeline
 * without a network. Unscripted calls answer `ok` (or what {@link MemoryExporter.otherwise} set).
 * Scripted steps are used one per call, in the order they were added:
 *
 * ```ts
 * exporter.failNext(2, { code: 'retry', retryAfterMs: 100 }).hangNext(1).throwNext(1);
 * ```
 *
 * `events` and `batches` hold what was delivered (answered `ok`, or the events a well-formed partial
 * `reject` did not name); `calls` holds every attempt with its outcome.
 */
export class MemoryExporter<E = Recorded<TelemetryEvent>> implements Exporter<E> {
  readonly name: string;
  readonly encoder: Encoder<E> | undefined;
  readonly encodeBatch: BatchEncoder<E> | undefined;
  readonly ordered: boolean;
  readonly #maxBatchSize: number;
  readonly #maxBatchBytes: number;
  readonly #script: { step: ExportStep<E>; left: number }[] = [];
  #otherwise: ExportStep<E> = OK_STEP;
  #calls: MutableCall<E>[] = [];
  #batches: E[][] = [];
  #events: E[] = [];
  readonly #held: (() => void)[] = [];
  #shutdownCalls = 0;

  constructor(options: MemoryExporterOptions<E> = {}) {
    if (options.name !== undefined && (typeof options.name !== 'string' || options.name === '')) {
      throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', 'name must be a non-empty string', { details: { option: 'name' } });
    }
    this.name = options.name ?? 'memory';
    this.encoder = options.encoder;
    this.encodeBatch = options.encodeBatch;
    this.ordered = options.ordered === true;
    this.#maxBatchSize = limit('maxBatchSize', options.maxBatchSize);
    this.#maxBatchBytes = limit('maxBatchBytes', options.maxBatchBytes);
  }

  // ---- what it was given ------------------------------------------------------------------------

  /** Every event delivered, in delivery order (a copy). */
  get events(): E[] {
    return this.#events.slice();
  }

  /** Every batch delivered, as arrays of events (a copy; a partial `reject` keeps the delivered part). */
  get batches(): E[][] {
    return this.#batches.map((batch) => batch.slice());
  }

  /** Every call of `export()`, in order (a copy of the list; a pending call's entry updates when it settles). */
  get calls(): ExportCall<E>[] {
    return this.#calls.slice();
  }

  /** How many times `shutdown()` was called. */
  get shutdownCalls(): number {
    return this.#shutdownCalls;
  }

  /** True once `shutdown()` was called; later calls of `export()` answer `reject`. */
  get isShutdown(): boolean {
    return this.#shutdownCalls > 0;
  }

  /** Scripted calls not yet used. */
  get pending(): number {
    let n = 0;
    for (const entry of this.#script) n += entry.left;
    return n;
  }

  /** Calls held by a `hold` step, waiting for {@link MemoryExporter.release}. */
  get held(): number {
    return this.#held.length;
  }

  // ---- the script -------------------------------------------------------------------------------

  /** The next `count` calls (after those already scripted) answer `step`. */
  failNext(count: number, step: ExportStep<E>): this {
    this.#script.push({ step, left: times(count) });
    return this;
  }

  /** The next `count` calls throw `error` (default: an Error saying it was scripted). */
  throwNext(count: number, error: unknown = new Error('scripted export failure'), options: { async?: boolean } = {}): this {
    return this.failNext(count, { code: 'throw', error, async: options.async === true });
  }

  /** The next `count` calls hang until their AbortSignal fires. */
  hangNext(count: number): this {
    return this.failNext(count, { code: 'hang' });
  }

  /** The next `count` calls wait for {@link MemoryExporter.release} (or their AbortSignal). */
  holdNext(count: number): this {
    return this.failNext(count, { code: 'hold' });
  }

  /** The next calls answer these steps, one each, in order. */
  script(...steps: ExportStep<E>[]): this {
    for (const step of steps) this.#script.push({ step, left: 1 });
    return this;
  }

  /** Calls beyond the script (and within the limits) answer `step` from now on. Default `{ code: 'ok' }`. */
  otherwise(step: ExportStep<E>): this {
    this.#otherwise = step;
    return this;
  }

  /** Forgets the scripted steps not yet used (not the calls, nor what was delivered). */
  clearScript(): this {
    this.#script.length = 0;
    return this;
  }

  /** Lets every held call answer `ok`; returns how many there were. */
  release(): number {
    const held = this.#held.splice(0);
    for (const resume of held) resume();
    return held.length;
  }

  /** Forgets the script (and `otherwise`), the calls and everything delivered (not the shutdown count). */
  reset(): this {
    this.#script.length = 0;
    this.#otherwise = OK_STEP;
    this.#calls = [];
    this.#batches = [];
    this.#events = [];
    return this;
  }

  // ---- Exporter ---------------------------------------------------------------------------------

  export(batch: ExportBatch<E>, signal: AbortSignal): Promise<ExportResult> {
    const call: MutableCall<E> = {
      attempt: this.#calls.length + 1,
      at: Date.now(),
      events: batch.events.slice(),
      encoded: batch.encoded.slice(),
      payload: batch.payload,
      bytes: batch.bytes,
      outcome: 'ok',
      result: undefined,
      error: undefined,
      aborted: false,
      settled: false,
    };
    this.#calls.push(call);
    if (this.isShutdown) {
      call.outcome = 'shutdown';
      return Promise.resolve(this.#answer(call, ExportResults.reject({ error: new Error(`exporter ${this.name} is shut down`) })));
    }
    const step =
      this.#next() ?? (batch.events.length > this.#maxBatchSize || batch.bytes > this.#maxBatchBytes ? TOO_LARGE_BY_LIMIT : this.#otherwise);
    if (typeof step === 'function') return this.#ask(call, step, batch, signal);
    call.outcome = step.code;
    switch (step.code) {
      case 'throw': {
        call.settled = true;
        call.error = step.error;
        if (step.async === true) return rejectWith(step.error);
        throw step.error;
      }
      case 'hang':
        return this.#untilAborted(signal, undefined).then(() => this.#aborted(call, signal));
      case 'hold':
        return this.#untilReleased(signal).then((aborted) => (aborted ? this.#aborted(call, signal) : this.#answer(call, ExportResults.ok())));
      default: {
        const result = toResult(step);
        const delayMs = step.delayMs;
        if (delayMs === undefined || delayMs <= 0) return Promise.resolve(this.#answer(call, result));
        return this.#untilAborted(signal, delayMs).then((aborted) =>
          aborted ? this.#aborted(call, signal) : this.#answer(call, result),
        );
      }
    }
  }

  /** Records the call. Idempotent: a MemoryExporter holds nothing to release. */
  async shutdown(): Promise<void> {
    this.#shutdownCalls++;
  }

  // ---- internals --------------------------------------------------------------------------------

  #next(): ExportStep<E> | undefined {
    const entry = this.#script[0];
    if (entry === undefined) return undefined;
    if (--entry.left === 0) this.#script.shift();
    return entry.step;
  }

  /** A function step: its answer (or its throw, as a rejection) is passed on unchanged. */
  #ask(call: MutableCall<E>, answer: ExportAnswer<E>, batch: ExportBatch<E>, signal: AbortSignal): Promise<ExportResult> {
    call.outcome = 'answer';
    const failed = (error: unknown): Promise<never> => {
      call.error = error;
      call.settled = true;
      return rejectWith(error);
    };
    try {
      return Promise.resolve(answer(batch, signal)).then((result) => this.#answer(call, result), failed);
    } catch (error) {
      return failed(error);
    }
  }

  /** Keeps what a result delivered and books the answer. Reads defensively: a function step may answer anything. */
  #answer(call: MutableCall<E>, result: ExportResult): ExportResult {
    call.result = result;
    call.settled = true;
    if (call.outcome === 'shutdown') return result;
    let delivered: readonly E[] = [];
    try {
      delivered = deliveredBy(result, call.events);
    } catch {
      // An answer that cannot be read delivers nothing (the processor drops the whole batch).
    }
    if (delivered.length > 0) {
      this.#batches.push(delivered.slice());
      for (const event of delivered) this.#events.push(event);
    }
    return result;
  }

  #aborted(call: MutableCall<E>, signal: AbortSignal): ExportResult {
    call.aborted = true;
    call.error = signal.reason;
    call.result = ExportResults.retry({ error: signal.reason });
    call.settled = true;
    return call.result;
  }

  /** Resolves true when `signal` aborts (at once if it already has), false after `delayMs` (never when undefined). */
  #untilAborted(signal: AbortSignal, delayMs: number | undefined): Promise<boolean> {
    if (signal.aborted) return Promise.resolve(true);
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = (): void => {
        if (timer !== undefined) clearTimeout(timer);
        resolve(true);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      if (delayMs !== undefined) {
        timer = setTimeout(() => {
          signal.removeEventListener('abort', onAbort);
          resolve(false);
        }, delayMs);
      }
    });
  }

  /** Resolves false on `release()`, true when `signal` aborts first (at once if it already has). */
  #untilReleased(signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return Promise.resolve(true);
    return new Promise((resolve) => {
      const resume = (): void => {
        signal.removeEventListener('abort', onAbort);
        resolve(false);
      };
      const onAbort = (): void => {
        const i = this.#held.indexOf(resume);
        if (i >= 0) this.#held.splice(i, 1);
        resolve(true);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.#held.push(resume);
    });
  }
}

/**
 * The events an answer delivered, read the way the Exporter contract defines it (independently of
 * the processor's own reading, so a test compares two implementations): all for `ok`; for a
 * well-formed partial `reject`, the events not named by `indexes`, or the first `length - count`;
 * nothing otherwise — the processor drops the whole batch of a malformed answer (indexes that are not
 * a list of integers in range, a count that is not an integer from 0 to the batch size).
 */
function deliveredBy<E>(result: ExportResult, events: readonly E[]): readonly E[] {
  const { code } = result as { code?: unknown };
  if (code === 'ok') return events;
  if (code !== 'reject') return [];
  const { indexes, count } = result as { indexes?: unknown; count?: unknown };
  const n = events.length;
  if (indexes !== undefined) {
    if (!Array.isArray(indexes) || !indexes.every((i) => Number.isInteger(i) && (i as number) >= 0 && (i as number) < n)) return [];
    const rejected = new Set(indexes as number[]);
    return events.filter((_, i) => !rejected.has(i));
  }
  if (count !== undefined) {
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 0 || count > n) return [];
    // Unidentified rejects: the first events count as delivered.
    return events.slice(0, n - count);
  }
  return [];
}

function toResult(step: ResultStep): ExportResult {
  switch (step.code) {
    case 'ok':
      return ExportResults.ok();
    case 'retry':
      return ExportResults.retry({
        ...(step.retryAfterMs === undefined ? {} : { retryAfterMs: step.retryAfterMs }),
        ...(step.auth === undefined ? {} : { auth: step.auth }),
        ...(step.error === undefined ? {} : { error: step.error }),
      });
    case 'reject':
      return ExportResults.reject({
        ...(step.indexes === undefined ? {} : { indexes: step.indexes }),
        ...(step.count === undefined ? {} : { count: step.count }),
        ...(step.auth === undefined ? {} : { auth: step.auth }),
        ...(step.error === undefined ? {} : { error: step.error }),
      });
    case 'too_large':
      return ExportResults.tooLarge(step.error === undefined ? {} : { error: step.error });
  }
}

/** A bad option value for an error message: numbers and booleans as they are, anything else by its type. */
function shown(value: unknown): string {
  return typeof value === 'number' || typeof value === 'boolean' ? String(value) : typeof value;
}

/** A promise rejected with `error`, whatever it is (a scripted failure may throw a non-Error on purpose). */
async function rejectWith(error: unknown): Promise<never> {
  throw error;
}
