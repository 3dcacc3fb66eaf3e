import { type AttributeValue, type Attributes, isFlagEvaluation, type TelemetryEvent } from '@trackpipe/core';

/**
 * The oracle for the OTLP encoder: a frozen copy of the object-building encoding that
 * `src/otlp.ts` shipped until commit bc5573b (build each log record as objects — a Map of attributes,
 * key-value objects, AnyValue objects — and hand them to JSON.stringify). The package now writes the
 * same text directly; test/otlp-identity.test.ts checks the two byte for byte. Do not "fix" this
 * file: it is the reference, not the implementation.
 */

/** An OTLP `AnyValue` in its JSON form. `{}` is the empty value (null). */
export type OtlpAnyValue =
  | { stringValue: string }
  | { boolValue: boolean }
  | { intValue: number }
  | { doubleValue: number | 'NaN' | 'Infinity' | '-Infinity' }
  | { arrayValue: { values: OtlpAnyValue[] } }
  | { kvlistValue: { values: OtlpKeyValue[] } }
  | Record<string, never>;

/** An OTLP `KeyValue` in its JSON form. */
export interface OtlpKeyValue {
  key: string;
  value: OtlpAnyValue;
}

/** An OTLP `LogRecord` in its JSON form, as this exporter writes it. */
export interface OtlpLogRecord {
  timeUnixNano?: string;
  observedTimeUnixNano?: string;
  eventName: string;
  attributes: OtlpKeyValue[];
  traceId?: string;
  spanId?: string;
}

const HEX_TRACE_ID = /^[0-9a-f]{32}$/i;
const HEX_SPAN_ID = /^[0-9a-f]{16}$/i;
const ZERO = /^0+$/;

/** Converts an attribute value to an OTLP `AnyValue` (objects become key-value lists). */
export function toAnyValue(value: AttributeValue | undefined): OtlpAnyValue {
  switch (typeof value) {
    case 'string':
      return { stringValue: value };
    case 'boolean':
      return { boolValue: value };
    case 'number':
      if (Number.isSafeInteger(value)) return { intValue: value };
      if (Number.isNaN(value)) return { doubleValue: 'NaN' };
      if (!Number.isFinite(value)) return { doubleValue: value > 0 ? 'Infinity' : '-Infinity' };
      return { doubleValue: value };
    case 'object':
      if (value === null) return {};
      if (Array.isArray(value)) return { arrayValue: { values: (value as readonly AttributeValue[]).map((v) => toAnyValue(v)) } };
      return { kvlistValue: { values: toKeyValues(value as Attributes) } };
    case 'undefined':
      return {};
    default:
      // Not an AttributeValue (bigint, symbol, function): keep something readable rather than fail.
      return { stringValue: String(value) };
  }
}

/** Converts a record to OTLP key-values; `undefined` values are left out. */
export function toKeyValues(attributes: Readonly<Record<string, AttributeValue | undefined>>): OtlpKeyValue[] {
  const out: OtlpKeyValue[] = [];
  for (const key of Object.keys(attributes)) {
    const value = attributes[key];
    if (value !== undefined) out.push({ key, value: toAnyValue(value) });
  }
  return out;
}

/** Epoch milliseconds (possibly fractional) as a decimal string of nanoseconds, exactly. */
export function msToUnixNano(ms: number): string | undefined {
  if (!Number.isFinite(ms) || ms < 0) return undefined;
  // Whole milliseconds (what record() assigns): no BigInt needed.
  if (Number.isSafeInteger(ms)) return ms === 0 ? '0' : `${ms}000000`;
  const whole = Math.floor(ms);
  const fraction = Math.round((ms - whole) * 1e6);
  return (BigInt(whole) * 1_000_000n + BigInt(fraction)).toString();
}

/**
 * Maps one event to an OTLP log record. Every event gets its name (`eventName` and `event.name`), its
 * id (`log.record.uid`), its time, its attributes, and its trace context when valid. A flag
 * evaluation also gets the `feature_flag.*` attributes; reason and error code are lowercased, as the
 * semantic conventions enumerate them (`targeting_match`, `flag_not_found`). Other fields of custom
 * event types are not mapped.
 */
export function toOtlpLogRecord(event: TelemetryEvent): OtlpLogRecord {
  const attributes = new Map<string, OtlpAnyValue>();
  if (event.id !== undefined) attributes.set('log.record.uid', { stringValue: event.id });
  attributes.set('event.name', { stringValue: event.name });
  if (event.attributes !== undefined) {
    for (const { key, value } of toKeyValues(event.attributes)) attributes.set(key, value);
  }
  if (isFlagEvaluation(event)) {
    if (event.context !== undefined) {
      for (const { key, value } of toKeyValues(event.context)) attributes.set('trackpipe.context.' + key, value);
    }
    // Set last: the semantic-convention attributes win over same-named free-form ones.
    attributes.set('feature_flag.key', { stringValue: event.flagKey });
    if (event.value !== undefined && event.value !== null) attributes.set('feature_flag.result.value', toAnyValue(event.value));
    if (event.variant !== undefined) attributes.set('feature_flag.result.variant', { stringValue: event.variant });
    if (event.reason !== undefined) attributes.set('feature_flag.result.reason', { stringValue: event.reason.toLowerCase() });
    if (event.provider !== undefined) attributes.set('feature_flag.provider.name', { stringValue: event.provider });
    if (event.targetingKey !== undefined) attributes.set('feature_flag.context.id', { stringValue: event.targetingKey });
    if (event.errorCode !== undefined) attributes.set('error.type', { stringValue: event.errorCode.toLowerCase() });
  }
  const record: OtlpLogRecord = { eventName: event.name, attributes: [] };
  const time = event.timestamp === undefined ? undefined : msToUnixNano(event.timestamp);
  if (time !== undefined) {
    record.timeUnixNano = time;
    // Trackpipe stamps events when they are recorded: that is also when they were observed.
    record.observedTimeUnixNano = time;
  }
  for (const [key, value] of attributes) record.attributes.push({ key, value });
  if (typeof event.traceId === 'string' && HEX_TRACE_ID.test(event.traceId) && !ZERO.test(event.traceId)) {
    record.traceId = event.traceId.toLowerCase();
    if (typeof event.spanId === 'string' && HEX_SPAN_ID.test(event.spanId) && !ZERO.test(event.spanId)) {
      record.spanId = event.spanId.toLowerCase();
    }
  }
  return record;
}

/** The `otlp` format's encoder: one event to one OTLP log record as JSON text. */
export function encodeOtlpLogRecord(event: TelemetryEvent): string {
  return JSON.stringify(toOtlpLogRecord(event));
}

/**
 * The text around the encoded log records of one ExportLogsServiceRequest: one resource, one scope.
 * Computed once per exporter; the body is `prefix + records.join(",") + suffix`.
 */
export function otlpEnvelope(options: { serviceName?: string; resourceAttributes?: Attributes; scope?: { name: string; version?: string } } = {}): { prefix: string; suffix: string } {
  const resource: Record<string, AttributeValue> = {
    'service.name': options.serviceName ?? 'unknown_service',
    'telemetry.sdk.name': 'trackpipe',
    'telemetry.sdk.language': 'nodejs',
    ...options.resourceAttributes,
  };
  const scope = options.scope ?? { name: '@trackpipe/exporter-http' };
  const scopeJson = JSON.stringify(scope.version === undefined ? { name: scope.name } : { name: scope.name, version: scope.version });
  const prefix = `{"resourceLogs":[{"resource":{"attributes":${JSON.stringify(toKeyValues(resource))}},"scopeLogs":[{"scope":${scopeJson},"logRecords":[`;
  return { prefix, suffix: ']}]}]}' };
}
