import { createHash } from 'node:crypto';
import type {
  EvaluationContextValue,
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

/** The flag's version and flag set from OpenFeature flag metadata, as `feature_flag.*` attributes; undefined when neither is there. */
function metadataAttributes(details: EvaluationDetails<FlagValue>): Attributes | undefined {
  // OpenFeature flag metadata values are strings, numbers or booleans.
  const metadata = details.flagMetadata as Readonly<Record<string, string | number | boolean>> | undefined;
  if (metadata === undefined) return undefined;
  const version = metadata[VERSION_METADATA];
  const flagSet = metadata[FLAG_SET_METADATA];
  if (version === undefined && flagSet === undefined) return undefined;
  const attributes: Attributes = {};
  if (version !== undefined) attributes[SummaryAttributes.VERSION] = String(version);
  if (flagSet !== undefined) attributes[SummaryAttributes.SET_ID] = String(flagSet);
  return attributes;
}

/** mulberry32: a small, fast, seedable PRNG returning numbers in [0, 1). */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** Failures are reported at most this often. */
const WARNING_INTERVAL_MS = 60_000;

function sha256(salt: string, text: string): string {
  return createHash('sha256').update(salt).update(text).digest('hex');
}

/** Turns a context value into a JSON-compatible attribute value (dates become ISO strings). */
function toAttribute(value: EvaluationContextValue | undefined): AttributeValue {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'boolean':
      return value;
    case 'bigint':
      return String(value);
    case 'object': {
      if (value === null) return null;
      if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
      if (Array.isArray(value)) return value.map((item) => toAttribute(item));
      const out: Record<string, AttributeValue> = {};
      for (const key of Object.keys(value)) {
        const item = value[key];
        if (item !== undefined) out[key] = toAttribute(item);
      }
      return out;
    }
    default:
      // undefined inside arrays, functions, symbols: what JSON would write.
      return null;
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
    if (collector === null || typeof collector !== 'object' || typeof collector.record !== 'function') {
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
      if (methods.some((method) => typeof collector[method] !== 'function')) {
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
    return typeof target.flush === 'function' ? target.flush(options) : Promise.resolve(EMPTY_REPORT);
  }

  /**
   * Closes what the hook records into: in the summary modes the summarizer (which delivers the open
   * window, then closes the collector); in mode `"events"` the collector (when it can be). Later
   * evaluations are counted as dropped (`closed`) by the collector.
   */
  close(options?: { timeoutMs?: number }): Promise<FlushReport> {
    const target = this.summarizer ?? this.#collector;
    return typeof target.close === 'function' ? target.close(options) : Promise.resolve(EMPTY_REPORT);
  }

  /**
   * The event a summarizer counts: the dimensions of the summary and the targeting key (only hashed
   * into its distinct-count estimator, never kept or exported), no context attributes. Every field is
   * always present (undefined when absent), so that every such event has the same shape and the
   * summarizer's property reads stay monomorphic.
   */
  #counted(hookContext: Readonly<HookContext>, details: EvaluationDetails<FlagValue>): FlagEvaluationEvent {
    const provider = hookContext.providerMetadata.name;
    const targetingKey = hookContext.context.targetingKey;
    return {
      name: FLAG_EVALUATION_EVENT,
      flagKey: details.flagKey,
      value: details.value,
      variant: details.variant,
      reason: details.reason,
      errorCode: details.errorCode,
      provider: typeof provider === 'string' ? provider : undefined,
      targetingKey: this.#targetingKey !== 'omit' && typeof targetingKey === 'string' ? targetingKey : undefined,
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
    const provider = hookContext.providerMetadata.name;
    if (typeof provider === 'string') event.provider = provider;
    const attributes = metadataAttributes(details);
    if (attributes !== undefined) event.attributes = attributes;
    return event;
  }

  /** A full event: the outcome, the targeting key per the option, the allowed context attributes, the sample ratio when below 1. */
  #event(hookContext: Readonly<HookContext>, details: EvaluationDetails<FlagValue>, sampleRatio: number): FlagEvaluationEvent {
    const event = this.#outcome(hookContext, details);
    const context = hookContext.context;
    if (this.#targetingKey !== 'omit' && typeof context.targetingKey === 'string') {
      event.targetingKey = this.#targetingKey === 'hash' ? sha256(this.#salt, context.targetingKey) : context.targetingKey;
    }
    let attributes: Attributes | undefined;
    for (const name of this.#copy) {
      const value = context[name];
      if (value !== undefined) (attributes ??= {})[name] = toAttribute(value);
    }
    for (const name of this.#hash) {
      const value = context[name];
      if (value !== undefined) (attributes ??= {})[name] = sha256(this.#salt, hashText(toAttribute(value)));
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
