import { createHash } from 'node:crypto';
import type {
  EvaluationDetails,
  FlagValue,
  Hook,
  HookContext,
} from '@openfeature/server-sdk';
import {
  type AttributeValue,
  type Attributes,
  type Collector,
  describeError,
  FLAG_EVALUATION_EVENT,
  type FlagEvaluationEvent,
  type FlushReport,
  flagEvaluation,
  SummarizingCollector,
  SummaryAttributes,
  type TelemetryEvent,
  TrackpipeError,
} from '@trackpipe/core';
import { setOwn } from '@trackpipe/core/internal';
import { type ResolvedHookOptions, resolveHookOptions, type TrackpipeHookOptions } from './options.js';

/** Attribute set on sampled events: the share of evaluations that were kept. */
export const SAMPLE_RATIO_ATTRIBUTE = 'trackpipe.sample_ratio';

/**
 * What the hook needs of a collector: `record()` in mode `"events"` (every Trackpipe `Collector`
 * fits); a whole `Collector` in the summary modes, which put a `SummarizingCollector` in front of it.
 */
export type FlagEvaluationRecorder = Pick<Collector<FlagEvaluationEvent>, 'record'> & Partial<Collector<FlagEvaluationEvent>>;

/** A hook's figures. At every moment `evaluations = recorded + sampledOut + failed`. */
export interface TrackpipeHookStats {
  /** Evaluations the hook saw (calls to its `finally` stage). */
  readonly evaluations: number;
  /** Evaluations handed over: as full events in mode `"events"`, counted into summaries in the summary modes. */
  readonly recorded: number;
  /** Evaluations left out by `sampleRatio` (mode `"events"`; always 0 in the summary modes, which count every evaluation). */
  readonly sampledOut: number;
  /** Evaluations that could not be built or recorded (the error was caught and logged). */
  readonly failed: number;
  /**
   * Full evaluation events handed to the collector: every recorded evaluation in mode `"events"`, the
   * sampled share in the sampled summaries mode (each also counted in its summary), 0 in `"summaries"`.
   */
  readonly fullEvents: number;
}

/** Flag metadata keys OpenFeature defines for telemetry, and the attributes they are recorded as. */
const VERSION_METADATA = 'version';
const FLAG_SET_METADATA = 'flagSetId';

const EMPTY_REPORT: FlushReport = Object.freeze({ complete: true, exported: 0, dropped: 0, droppedByReason: Object.freeze({}), remaining: 0 });

/** An OpenFeature flag-metadata value (string, number or boolean) as text; undefined for anything else, or a field that cannot be read. */
function metadataText(metadata: object, key: string): string | undefined {
  try {
    const value: unknown = (metadata as Record<string, unknown>)[key];
    return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? String(value) : undefined;
  } catch {
    return undefined; // a throwing getter: the evaluation is recorded without it
  }
}

/**
 * The flag's version and flag set from OpenFeature flag metadata, as `feature_flag.*` attributes;
 * undefined when neither is there. Metadata values are strings, numbers or booleans; anything else
 * (an object, a symbol, a getter that throws) is left out rather than losing the evaluation.
 */
function metadataAttributes(details: EvaluationDetails<FlagValue>): Attributes | undefined {
  const metadata: unknown = details.flagMetadata;
  if (typeof metadata !== 'object' || metadata === null) return undefined;
  const version = metadataText(metadata, VERSION_METADATA);
  const flagSet = metadataText(metadata, FLAG_SET_METADATA);
  if (version === undefined && flagSet === undefined) return undefined;
  const attributes: Attributes = {};
  if (version !== undefined) attributes[SummaryAttributes.VERSION] = version;
  if (flagSet !== undefined) attributes[SummaryAttributes.SET_ID] = flagSet;
  return attributes;
}

/** The provider's name from the hook context; undefined when it is not a string or cannot be read. */
function providerName(hookContext: Readonly<HookContext>): string | undefined {
  try {
    const name: unknown = hookContext.providerMetadata.name;
    return typeof name === 'string' ? name : undefined;
  } catch {
    return undefined;
  }
}

/**
 * mulberry32: a small, fast, seedable PRNG returning numbers in [0, 1). Its state is 32 bits: a seed
 * beyond them (negative, or 2^32 and above) has its high part mixed in, so that -1 and 4294967295,
 * or 1 and 2^32 + 1, do not pick the same evaluations. Seeds 0 to 2^32 - 1 are used as they are.
 */
function seededRandom(seed: number): () => number {
  const high = Math.floor(seed / 4_294_967_296);
  // murmur3's finalizer on the high part (0 stays 0), xor the low 32 bits.
  let h = high | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  h ^= h >>> 16;
  let state = ((seed - high * 4_294_967_296) ^ h) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** True when `value` is an object with these methods; false also when reading them throws (a getter, a revoked proxy). */
function hasMethods(value: unknown, methods: readonly string[]): boolean {
  try {
    return value !== null && typeof value === 'object' && methods.every((m) => typeof (value as Record<string, unknown>)[m] === 'function');
  } catch {
    return false;
  }
}

/** Failures are reported at most this often. */
const WARNING_INTERVAL_MS = 60_000;

function sha256(salt: string, text: string): string {
  return createHash('sha256').update(salt).update(text).digest('hex');
}

/** Objects nested deeper than this in a context attribute are recorded as null (JSON has no bound; the stack has). */
const MAX_ATTRIBUTE_DEPTH = 64;
/**
 * Array items and object keys one context attribute may hold in all; a list or object that would
 * take it past this is recorded as null. Bounds the work of one evaluation: a sparse array's length
 * (up to 2^32 - 1) costs nothing to make and would be walked item by item.
 */
const MAX_ATTRIBUTE_ITEMS = 10_000;

/**
 * Turns a context value into a JSON-compatible attribute value (dates become ISO strings). Never
 * throws: what cannot be copied — a getter that throws, a reference back to an enclosing object (a
 * cycle), nesting deeper than {@link MAX_ATTRIBUTE_DEPTH}, a list or object past
 * {@link MAX_ATTRIBUTE_ITEMS} — becomes null, and the rest is kept. `enclosing` holds the objects
 * being copied around `value`; `budget` the items still allowed.
 */
function toAttribute(value: unknown, enclosing: object[] = [], budget = { left: MAX_ATTRIBUTE_ITEMS }): AttributeValue {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
      return value;
    case 'bigint':
      return String(value);
    case 'object': {
      if (value === null) return null;
      if (enclosing.length >= MAX_ATTRIBUTE_DEPTH || enclosing.includes(value)) return null;
      enclosing.push(value);
      try {
        // Inside the try: instanceof and Array.isArray throw on a revoked proxy.
        if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
        if (Array.isArray(value)) {
          if (value.length > budget.left) return null;
          budget.left -= value.length;
          const items: AttributeValue[] = [];
          for (let i = 0; i < value.length; i++) items.push(readAttribute(value, i, enclosing, budget));
          return items;
        }
        const keys = Object.keys(value);
        if (keys.length > budget.left) return null;
        budget.left -= keys.length;
        const out: Record<string, AttributeValue> = {};
        for (const key of keys) {
          let item: unknown;
          try {
            item = (value as Record<string, unknown>)[key];
          } catch {
            item = null;
          }
          if (item !== undefined) setOwn(out, key, toAttribute(item, enclosing, budget));
        }
        return out;
      } catch {
        return null; // a revoked proxy, a proxy whose traps throw
      } finally {
        enclosing.pop();
      }
    }
    default:
      // undefined inside arrays, functions, symbols: what JSON would write.
      return null;
  }
}

/** An array item as an attribute value; null when reading it throws. */
function readAttribute(array: readonly unknown[], i: number, enclosing: object[], budget: { left: number }): AttributeValue {
  let item: unknown;
  try {
    item = array[i];
  } catch {
    return null;
  }
  return toAttribute(item, enclosing, budget);
}

/** The context's targeting key when it is a string; undefined otherwise, or when reading it throws. */
function targetingKeyOf(context: object): string | undefined {
  try {
    const key: unknown = (context as { targetingKey?: unknown }).targetingKey;
    return typeof key === 'string' ? key : undefined;
  } catch {
    return undefined;
  }
}

/** A top-level context attribute: an own property only (an inherited `toString` is no attribute); undefined when absent or unreadable. */
function contextValue(context: object, name: string): unknown {
  if (typeof context !== 'object' || context === null) return undefined; // no context: nothing is present
  try {
    return Object.hasOwn(context, name) ? (context as Record<string, unknown>)[name] : undefined;
  } catch {
    return null; // present, but reading it threw: recorded as null
  }
}

function hashText(value: AttributeValue): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * An OpenFeature server-SDK hook that records one `FlagEvaluationEvent` per flag evaluation into a
 * Trackpipe collector: flag key, value, variant, reason, error code, targeting key and provider name,
 * on success and on error alike. It works in the `finally` stage, which the SDK runs exactly once per
 * evaluation with the details the application receives; it is synchronous, adds one `record()` call,
 * and never throws into the evaluation (failures are counted and logged).
 *
 * Context attributes are recorded only when allowed (`contextAttributes`, `hashAttributes`); none by
 * default, because evaluation contexts hold personal data.
 *
 * @example
 * OpenFeature.addHooks(new TrackpipeHook(collector, { contextAttributes: ['plan'], targetingKey: 'hash' }));
 */
export class TrackpipeHook implements Hook {
  /** The options in force, defaults applied. */
  readonly options: ResolvedHookOptions;
  /**
   * In the summary modes, the `SummarizingCollector` the hook built over the collector: it holds the
   * open window, so close it (or the hook) to deliver it. Undefined in mode `"events"`.
   */
  readonly summarizer: SummarizingCollector | undefined;

  readonly #collector: FlagEvaluationRecorder;
  readonly #copy: readonly string[];
  readonly #hash: readonly string[];
  readonly #salt: string;
  readonly #targetingKey: ResolvedHookOptions['targetingKey'];
  readonly #sampleRatio: number;
  readonly #random: () => number;
  /** Share of evaluations also recorded in full, in the summary modes (0 in `"summaries"`). */
  readonly #fullShare: number;
  #evaluations = 0;
  #recorded = 0;
  #sampledOut = 0;
  #failed = 0;
  #fullEvents = 0;
  #warnedAt = Number.NEGATIVE_INFINITY;
  #suppressed = 0;

  /**
   * @param collector where events go: any Trackpipe `Collector` (a `BatchProcessor`, a fan-out, a memory collector).
   * @param options see {@link TrackpipeHookOptions}; checked here, throws `TRACKPIPE_ERR_OPTIONS_INVALID` naming the bad one.
   */
  constructor(collector: FlagEvaluationRecorder, options: TrackpipeHookOptions = {}) {
    if (!hasMethods(collector, ['record'])) {
      throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', 'collector must be an object with a record(event) method', {
        details: { option: 'collector' },
      });
    }
    this.options = resolveHookOptions(options);
    this.#collector = collector;
    this.#copy = this.options.contextAttributes;
    this.#hash = this.options.hashAttributes;
    this.#salt = this.options.hashSalt;
    this.#targetingKey = this.options.targetingKey;
    this.#sampleRatio = this.options.sampleRatio;
    const mode = this.options.mode;
    this.#random = typeof mode === 'object' && mode.seed !== undefined ? seededRandom(mode.seed) : this.options.random;
    this.#fullShare = typeof mode === 'object' ? mode.sample : 0;
    if (mode !== 'events') {
      const methods = ['flush', 'close', 'stats', 'headroom', 'persisted'] as const;
      if (!hasMethods(collector, methods)) {
        throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', `collector must be a whole Collector (record, ${methods.join(', ')}) in the summary modes`, {
          details: { option: 'collector' },
        });
      }
      this.summarizer = new SummarizingCollector(collector as Collector<TelemetryEvent>, { logger: this.options.logger, ...this.options.summarizer });
    }
  }

  /**
   * The OpenFeature `finally` stage: runs once per evaluation, after success or error, with the
   * evaluation details the application receives. Records one event; never throws, never awaits.
   */
  finally(hookContext: Readonly<HookContext>, evaluationDetails: EvaluationDetails<FlagValue>): void {
    this.#evaluations++;
    try {
      const summarizer = this.summarizer;
      if (summarizer !== undefined) {
        // Drawn first: a throwing random source leaves the evaluation uncounted, and counted as failed.
        const full = this.#fullShare > 0 && this.#random() < this.#fullShare;
        summarizer.record(this.#counted(hookContext, evaluationDetails));
        this.#recorded++;
        if (full) this.#recordFull(hookContext, evaluationDetails);
        return;
      }
      if (this.#sampleRatio < 1 && !(this.#random() < this.#sampleRatio)) {
        this.#sampledOut++;
        return;
      }
      this.#collector.record(this.#event(hookContext, evaluationDetails, this.#sampleRatio));
      this.#recorded++;
      this.#fullEvents++;
    } catch (error) {
      this.#failed++;
      this.#report(error);
    }
  }

  /** The hook's figures; see {@link TrackpipeHookStats}. */
  stats(): TrackpipeHookStats {
    return {
      evaluations: this.#evaluations,
      recorded: this.#recorded,
      sampledOut: this.#sampledOut,
      failed: this.#failed,
      fullEvents: this.#fullEvents,
    };
  }

  /**
   * Delivers what the hook recorded so far: in the summary modes the summarizer closes its open window
   * and flushes the collector; in mode `"events"` the collector is flushed (when it can be).
   */
  flush(options?: { timeoutMs?: number }): Promise<FlushReport> {
    const target = this.summarizer ?? this.#collector;
    // In a promise: a collector's flush() (or its getter) that throws synchronously rejects it instead.
    return new Promise((resolve) => {
      const flush = target.flush;
      resolve(typeof flush === 'function' ? flush.call(target, options) : EMPTY_REPORT);
    });
  }

  /**
   * Closes what the hook records into: in the summary modes the summarizer (which delivers the open
   * window, then closes the collector); in mode `"events"` the collector (when it can be). Later
   * evaluations are counted as dropped (`closed`) by the collector.
   */
  close(options?: { timeoutMs?: number }): Promise<FlushReport> {
    const target = this.summarizer ?? this.#collector;
    // In a promise: a collector's close() (or its getter) that throws synchronously rejects it instead.
    return new Promise((resolve) => {
      const close = target.close;
      resolve(typeof close === 'function' ? close.call(target, options) : EMPTY_REPORT);
    });
  }

  /**
   * The event a summarizer counts: the dimensions of the summary and the targeting key (only hashed
   * into its distinct-count estimator, never kept or exported), no context attributes. Every field is
   * always present (undefined when absent), so that every such event has the same shape and the
   * summarizer's property reads stay monomorphic.
   */
  #counted(hookContext: Readonly<HookContext>, details: EvaluationDetails<FlagValue>): FlagEvaluationEvent {
    const targetingKey = this.#targetingKey === 'omit' ? undefined : targetingKeyOf(hookContext.context);
    return {
      name: FLAG_EVALUATION_EVENT,
      flagKey: details.flagKey,
      value: details.value,
      variant: details.variant,
      reason: details.reason,
      errorCode: details.errorCode,
      provider: providerName(hookContext),
      targetingKey,
      attributes: metadataAttributes(details),
    };
  }

  /** Records the full event of a sampled evaluation; a failure is logged (the evaluation is counted in its summary all the same). */
  #recordFull(hookContext: Readonly<HookContext>, details: EvaluationDetails<FlagValue>): void {
    try {
      this.#collector.record(this.#event(hookContext, details, this.#fullShare));
      this.#fullEvents++;
    } catch (error) {
      this.#report(error);
    }
  }

  /** Flag key, value, variant, reason, error code, provider, and the flag's version and flag set from its metadata. */
  #outcome(hookContext: Readonly<HookContext>, details: EvaluationDetails<FlagValue>): FlagEvaluationEvent {
    const event = flagEvaluation({ flagKey: details.flagKey, value: details.value });
    if (details.variant !== undefined) event.variant = details.variant;
    if (details.reason !== undefined) event.reason = details.reason;
    if (details.errorCode !== undefined) event.errorCode = details.errorCode;
    const provider = providerName(hookContext);
    if (provider !== undefined) event.provider = provider;
    const attributes = metadataAttributes(details);
    if (attributes !== undefined) event.attributes = attributes;
    return event;
  }

  /** A full event: the outcome, the targeting key per the option, the allowed context attributes, the sample ratio when below 1. */
  #event(hookContext: Readonly<HookContext>, details: EvaluationDetails<FlagValue>, sampleRatio: number): FlagEvaluationEvent {
    const event = this.#outcome(hookContext, details);
    const context = hookContext.context;
    const targetingKey = this.#targetingKey === 'omit' ? undefined : targetingKeyOf(context);
    if (targetingKey !== undefined) event.targetingKey = this.#targetingKey === 'hash' ? sha256(this.#salt, targetingKey) : targetingKey;
    let attributes: Attributes | undefined;
    for (const name of this.#copy) {
      const value = contextValue(context, name);
      if (value !== undefined) setOwn((attributes ??= {}), name, toAttribute(value));
    }
    for (const name of this.#hash) {
      const value = contextValue(context, name);
      if (value !== undefined) setOwn((attributes ??= {}), name, sha256(this.#salt, hashText(toAttribute(value))));
    }
    if (attributes !== undefined) event.context = attributes;
    if (sampleRatio < 1) event.attributes = { ...event.attributes, [SAMPLE_RATIO_ATTRIBUTE]: sampleRatio };
    return event;
  }

  /** Logs a failure, at most once per WARNING_INTERVAL_MS (the rest are counted and summed up next time). */
  #report(error: unknown): void {
    try {
      const now = Date.now();
      if (now - this.#warnedAt < WARNING_INTERVAL_MS) {
        this.#suppressed++;
        return;
      }
      const suppressed = this.#suppressed;
      this.#warnedAt = now;
      this.#suppressed = 0;
      this.options.logger.warn('OpenFeature hook could not record a flag evaluation', {
        error: describeError(error),
        failed: this.#failed,
        ...(suppressed > 0 ? { suppressedSinceLastWarning: suppressed } : {}),
      });
    } catch {
      // A broken logger must not break the evaluation either; the failure is still counted.
    }
  }
}
