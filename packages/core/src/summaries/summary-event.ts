import type { AttributeValue, TelemetryEvent } from '../events.js';

/** The name every flag evaluation summary carries. */
export const FLAG_EVALUATION_SUMMARY_EVENT = 'feature_flag.evaluation_summary';

/**
 * The flag key, variant label and Prometheus label value standing for "everything else": the overflow
 * bucket of a summarizer holding `maxKeys` keys, and the series beyond a metric's cap.
 */
export const SUMMARY_OTHER = '__other__';

/**
 * Attribute names of a summary. The flag's identity uses OpenTelemetry's `feature_flag.*` semantic
 * conventions (the names OpenFeature's telemetry uses), so that a summary exported as an OTLP log
 * record reads like the evaluations it counts; the figures are Trackpipe's own `trackpipe.summary.*`.
 * The same two names carry the flag's version and flag set on evaluation events (`attributes`).
 */
export const SummaryAttributes = {
  /** The flag's key ({@link SUMMARY_OTHER} in the overflow bucket). */
  KEY: 'feature_flag.key',
  /** The variant, when the provider reported one. */
  VARIANT: 'feature_flag.result.variant',
  /** The value the application received (objects and arrays as JSON values). */
  VALUE: 'feature_flag.result.value',
  /** The reason, lowercased as the semantic conventions enumerate it (`targeting_match`, `error`). */
  REASON: 'feature_flag.result.reason',
  /** The error code, lowercased (`flag_not_found`), on evaluations that failed. */
  ERROR_TYPE: 'error.type',
  /** The provider's name. */
  PROVIDER: 'feature_flag.provider.name',
  /** The flag's version (OpenFeature flag metadata `version`), when the evaluation carried one. */
  VERSION: 'feature_flag.version',
  /** The flag set (OpenFeature flag metadata `flagSetId`), when the evaluation carried one. */
  SET_ID: 'feature_flag.set.id',
  /** Evaluations counted in this summary (≥ 1). */
  COUNT: 'trackpipe.summary.count',
  /** Epoch ms of the earliest evaluation counted. */
  FIRST_TIMESTAMP: 'trackpipe.summary.first_timestamp',
  /** Epoch ms of the latest evaluation counted. */
  LAST_TIMESTAMP: 'trackpipe.summary.last_timestamp',
  /** Epoch ms at which the window opened; it closed at the event's `timestamp`. */
  WINDOW_START: 'trackpipe.summary.window_start',
  /** Estimated distinct targeting keys among the evaluations counted (HyperLogLog, ±6.5 %); absent when none carried one. */
  DISTINCT_TARGETING_KEYS: 'trackpipe.summary.distinct_targeting_keys',
  /** `true` on the overflow bucket: evaluations of keys that found no room (`maxKeys`), all flags together. */
  OVERFLOW: 'trackpipe.summary.overflow',
} as const;

/** The attributes of a summary; see {@link SummaryAttributes}. */
export type FlagEvaluationSummaryAttributes = {
  'feature_flag.key': string;
  'feature_flag.result.variant'?: string;
  'feature_flag.result.value'?: AttributeValue;
  'feature_flag.result.reason'?: string;
  'error.type'?: string;
  'feature_flag.provider.name'?: string;
  'feature_flag.version'?: AttributeValue;
  'feature_flag.set.id'?: AttributeValue;
  'trackpipe.summary.count': number;
  'trackpipe.summary.first_timestamp': number;
  'trackpipe.summary.last_timestamp': number;
  'trackpipe.summary.window_start': number;
  'trackpipe.summary.distinct_targeting_keys'?: number;
  'trackpipe.summary.overflow'?: true;
};

/**
 * How many evaluations of one flag had the same outcome (variant, value, reason, error, provider,
 * version, flag set) within one window. Everything is in `attributes`, so every exporter carries it
 * as it is, OTLP included (as a log record with these attributes). `timestamp` is the end of the window.
 */
export interface FlagEvaluationSummaryEvent extends TelemetryEvent {
  name: typeof FLAG_EVALUATION_SUMMARY_EVENT;
  timestamp: number;
  attributes: FlagEvaluationSummaryAttributes;
}

/** True when `event` is a flag evaluation summary. */
export function isFlagEvaluationSummary(event: TelemetryEvent): event is FlagEvaluationSummaryEvent {
  return event.name === FLAG_EVALUATION_SUMMARY_EVENT;
}
