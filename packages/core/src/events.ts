/** A value that can be carried as an event attribute (JSON-compatible, like OpenTelemetry attributes). */
export type AttributeValue =
  | string
  | number
  | boolean
  | null
  | readonly AttributeValue[]
  | { readonly [key: string]: AttributeValue };

/** Attributes of an event: a flat or nested JSON-compatible record. */
export type Attributes = Record<string, AttributeValue>;

/** The event every Trackpipe collector accepts. */
export interface TelemetryEvent {
  /**
   * Unique, time-ordered id (UUIDv7). Assigned by `record()` when absent; downstream dedup keys on it,
   * so a retried event keeps its id.
   */
  id?: string;
  /** What happened, e.g. `feature_flag.evaluation` or `checkout.completed`. Required, non-empty. */
  name: string;
  /** Epoch milliseconds. Assigned by `record()` when absent. */
  timestamp?: number;
  /** Free-form attributes. Keep personal data out, or hash it. */
  attributes?: Attributes;
  /** W3C trace id of the span active at record time, when trace enrichment is on. */
  traceId?: string;
  /** W3C span id of the span active at record time, when trace enrichment is on. */
  spanId?: string;
}

/** The name every flag evaluation event carries. */
export const FLAG_EVALUATION_EVENT = 'feature_flag.evaluation';

/** One feature-flag evaluation, the event Trackpipe is built around. */
export interface FlagEvaluationEvent extends TelemetryEvent {
  name: typeof FLAG_EVALUATION_EVENT;
  /** The flag's key. */
  flagKey: string;
  /** The value the evaluation returned. */
  value: AttributeValue;
  /** The variant name, when the provider reports one. */
  variant?: string;
  /** Why this value was returned (OpenFeature reasons: STATIC, TARGETING_MATCH, SPLIT, DEFAULT, ERROR, ...). */
  reason?: string;
  /** Error code when the evaluation failed (OpenFeature error codes: FLAG_NOT_FOUND, PARSE_ERROR, ...). */
  errorCode?: string;
  /** The evaluation context's targeting key (usually a user or session id). */
  targetingKey?: string;
  /** The name of the provider that evaluated the flag. */
  provider?: string;
  /** Evaluation-context attributes that were allowed to be copied. */
  context?: Attributes;
}

/** An event after `record()`: id and timestamp are always present. */
export type Recorded<E extends TelemetryEvent> = E & { id: string; timestamp: number };

/** Builds a {@link FlagEvaluationEvent} with its `name` set. */
export function flagEvaluation(fields: Omit<FlagEvaluationEvent, 'name'>): FlagEvaluationEvent {
  return { name: FLAG_EVALUATION_EVENT, ...fields };
}

/** True when `event` is a flag evaluation event. */
export function isFlagEvaluation(event: TelemetryEvent): event is FlagEvaluationEvent {
  return event.name === FLAG_EVALUATION_EVENT;
}
