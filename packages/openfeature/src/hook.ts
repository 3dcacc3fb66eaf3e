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
  type FlagEvaluationEvent,
  flagEvaluation,
  TrackpipeError,
} from '@trackpipe/core';
import { type ResolvedHookOptions, resolveHookOptions, type TrackpipeHookOptions } from './options.js';

/** Attribute set on sampled events: the share of evaluations that were kept. */
export const SAMPLE_RATIO_ATTRIBUTE = 'trackpipe.sample_ratio';

/** What the hook needs of a collector: `record()`. Every Trackpipe `Collector` fits. */
export type FlagEvaluationRecorder = Pick<Collector<FlagEvaluationEvent>, 'record'>;

/** A hook's figures. At every moment `evaluations = recorded + sampledOut + failed`. */
export interface TrackpipeHookStats {
  /** Evaluations the hook saw (calls to its `finally` stage). */
  readonly evaluations: number;
  /** Events handed to the collector. */
  readonly recorded: number;
  /** Evaluations left out by sampling. */
  readonly sampledOut: number;
  /** Evaluations whose event could not be built or recorded (the error was caught and logged). */
  readonly failed: number;
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

  readonly #collector: FlagEvaluationRecorder;
  readonly #copy: readonly string[];
  readonly #hash: readonly string[];
  readonly #salt: string;
  readonly #targetingKey: ResolvedHookOptions['targetingKey'];
  readonly #sampleRatio: number;
  readonly #random: () => number;
  #evaluations = 0;
  #recorded = 0;
  #sampledOut = 0;
  #failed = 0;
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
    this.#random = this.options.random;
  }

  /**
   * The OpenFeature `finally` stage: runs once per evaluation, after success or error, with the
   * evaluation details the application receives. Records one event; never throws, never awaits.
   */
  finally(hookContext: Readonly<HookContext>, evaluationDetails: EvaluationDetails<FlagValue>): void {
    this.#evaluations++;
    try {
      if (this.#sampleRatio < 1 && !(this.#random() < this.#sampleRatio)) {
        this.#sampledOut++;
        return;
      }
      this.#collector.record(this.#event(hookContext, evaluationDetails));
      this.#recorded++;
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
    };
  }

  #event(hookContext: Readonly<HookContext>, details: EvaluationDetails<FlagValue>): FlagEvaluationEvent {
    const event = flagEvaluation({ flagKey: details.flagKey, value: details.value });
    if (details.variant !== undefined) event.variant = details.variant;
    if (details.reason !== undefined) event.reason = details.reason;
    if (details.errorCode !== undefined) event.errorCode = details.errorCode;
    const provider = hookContext.providerMetadata.name;
    if (typeof provider === 'string') event.provider = provider;
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
    if (this.#sampleRatio < 1) event.attributes = { [SAMPLE_RATIO_ATTRIBUTE]: this.#sampleRatio };
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
