import { type Attributes, type BatchEncoder, type FlagEvaluationEvent, type TelemetryEvent, isFlagEvaluation } from '@trackpipe/core';
import { framed } from './framing.js';

/**
 * OTLP/HTTP JSON encoding of Trackpipe events as OpenTelemetry log records (events), following the
 * OTLP JSON rules: lowerCamelCase field names, 64-bit integers as decimal strings, enums as numbers,
 * trace and span ids as lowercase hex (not base64).
 *
 * The text is written directly — constant key prefixes, `JSON.stringify` only on values — instead of
 * building the record as objects and stringifying them (3× slower). test/otlp-identity.test.ts proves
 * the text byte-identical to that object-building encoding over generated events.
 */

/** Options of the `otlp` body format. */
export interface OtlpOptions {
  /** The resource's `service.name`. Default `"unknown_service"` (OpenTelemetry's fallback). */
  serviceName?: string;
  /** More resource attributes, e.g. `{ "deployment.environment.name": "prod" }`. Default none. */
  resourceAttributes?: Attributes;
  /** The instrumentation scope of the log records. Default `{ name: "@trackpipe/exporter-http" }`. */
  scope?: { name: string; version?: string };
}

/**
 * Attribute names used for flag evaluations: OpenTelemetry's `feature_flag.*` semantic conventions
 * (the `feature_flag.evaluation` event; the same names OpenFeature's `createEvaluationEvent` uses).
 */
export const FlagAttributes = {
  KEY: 'feature_flag.key',
  VARIANT: 'feature_flag.result.variant',
  VALUE: 'feature_flag.result.value',
  REASON: 'feature_flag.result.reason',
  PROVIDER: 'feature_flag.provider.name',
  CONTEXT_ID: 'feature_flag.context.id',
  ERROR_TYPE: 'error.type',
} as const;

/** Log-record attribute carrying the Trackpipe event id (semconv `log.record.uid`): downstream dedup keys on it. */
export const EVENT_ID_ATTRIBUTE = 'log.record.uid';
/**
 * Also carries the event name as an attribute, for backends that predate the LogRecord `eventName`
 * field (OTLP 1.5); the field itself is always set.
 */
export const EVENT_NAME_ATTRIBUTE = 'event.name';
/** Prefix of the evaluation-context attributes copied from a flag evaluation's `context`. */
export const CONTEXT_ATTRIBUTE_PREFIX = 'trackpipe.context.';

const quote = JSON.stringify as (value: unknown) => string | undefined;

/** The JSON text of each constant attribute key, computed once. */
const KEY = {
  ID: quote(EVENT_ID_ATTRIBUTE) as string,
  NAME: quote(EVENT_NAME_ATTRIBUTE) as string,
  FLAG: quote(FlagAttributes.KEY) as string,
  VALUE: quote(FlagAttributes.VALUE) as string,
  VARIANT: quote(FlagAttributes.VARIANT) as string,
  REASON: quote(FlagAttributes.REASON) as string,
  PROVIDER: quote(FlagAttributes.PROVIDER) as string,
  CONTEXT_ID: quote(FlagAttributes.CONTEXT_ID) as string,
  ERROR_TYPE: quote(FlagAttributes.ERROR_TYPE) as string,
} as const;

const HEX_TRACE_ID = /^[0-9a-f]{32}$/i;
const HEX_SPAN_ID = /^[0-9a-f]{16}$/i;
const ZERO = /^0+$/;

/** `{"stringValue":…}`; `{}` when JSON has no text for the value (undefined). */
function stringValue(value: unknown): string {
  const text = quote(value);
  return text === undefined ? '{}' : `{"stringValue":${text}}`;
}

/** Texts a {@link TextCache} keeps at most: the first ones seen stay, later ones are written each time. */
const CACHE_LIMIT = 1024;
/** Longest string (UTF-16 code units) a {@link TextCache} keeps: recurring names are short, and 1 024 huge ones would be held for good. */
const CACHE_MAX_LENGTH = 256;

/**
 * The JSON texts of strings that recur from event to event — flag keys, variants, reasons, providers,
 * error codes, event names, context keys — written once each instead of once per event (a quarter
 * of the encoding's time for flag evaluations). Bounded: past {@link CACHE_LIMIT} strings, new ones
 * are written every time, so a field of unexpected cardinality costs what it cost before, and strings
 * longer than {@link CACHE_MAX_LENGTH} are never kept. Not for
 * per-event values (ids, targeting keys): they would fill it.
 */
class TextCache {
  readonly #texts = new Map<string, string>();
  readonly #write: (value: string) => string;

  constructor(write: (value: string) => string) {
    this.#write = write;
  }

  /** The text of `value`, from the cache when it is there. */
  get(value: string): string {
    let text = this.#texts.get(value);
    if (text === undefined) {
      text = this.#write(value);
      if (this.#texts.size < CACHE_LIMIT && value.length <= CACHE_MAX_LENGTH) this.#texts.set(value, text);
    }
    return text;
  }
}

const STRING_VALUES = new TextCache(stringValue);
/** Reasons and error codes are written lowercased, as the semantic conventions enumerate them. */
const LOWERCASED_VALUES = new TextCache((value) => stringValue(value.toLowerCase()));
const CONTEXT_KEYS = new TextCache((key) => quote(CONTEXT_ATTRIBUTE_PREFIX + key) as string);
const EVENT_NAMES = new TextCache((name) => `"eventName":${quote(name) as string},`);

/** `stringValue()` of a recurring field's value, cached when it is a string. */
function recurring(value: unknown): string {
  return typeof value === 'string' ? STRING_VALUES.get(value) : stringValue(value);
}

/**
 * An attribute value as an OTLP `AnyValue` in JSON: strings, booleans; safe integers as `intValue`,
 * other numbers as `doubleValue` (NaN and ±Infinity as strings); arrays as `arrayValue`, objects as
 * `kvlistValue`; null and undefined as the empty value `{}`. Anything else (bigint, symbol, function)
 * becomes its `String()`.
 */
function anyValue(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return `{"stringValue":${quote(value) as string}}`;
    case 'boolean':
      return value ? '{"boolValue":true}' : '{"boolValue":false}';
    case 'number':
      // A finite number's String() is its JSON text; -0 is a safe integer written "0", as JSON writes it.
      if (Number.isSafeInteger(value)) return `{"intValue":${value}}`;
      if (Number.isNaN(value)) return '{"doubleValue":"NaN"}';
      if (!Number.isFinite(value)) return value > 0 ? '{"doubleValue":"Infinity"}' : '{"doubleValue":"-Infinity"}';
      return `{"doubleValue":${value}}`;
    case 'object':
      if (value === null) return '{}';
      if (Array.isArray(value)) return `{"arrayValue":{"values":[${arrayValues(value as readonly unknown[])}]}}`;
      return `{"kvlistValue":{"values":[${keyValues(value as Readonly<Record<string, unknown>>)}]}}`;
    case 'undefined':
      return '{}';
    default:
      // Not an attribute value: keep something readable rather than fail.
      return stringValue(String(value));
  }
}

function arrayValues(list: readonly unknown[]): string {
  let out = '';
  for (let i = 0; i < list.length; i++) {
    if (i > 0) out += ',';
    // A hole stays a hole, which JSON writes as null (what mapping the array and stringifying it gives).
    out += i in list ? anyValue(list[i]) : 'null';
  }
  return out;
}

/** A record as OTLP key-values (the inside of the JSON array); `undefined` values are left out. */
function keyValues(record: Readonly<Record<string, unknown>>): string {
  let out = '';
  for (const key of Object.keys(record)) {
    const value = record[key];
    if (value === undefined) continue;
    if (out !== '') out += ',';
    out += `{"key":${quote(key) as string},"value":${anyValue(value)}}`;
  }
  return out;
}

/**
 * Where a record's attributes go. Without free-form `attributes` no two keys can be equal (the
 * constant keys differ, context keys carry their prefix), so the text is appended as it comes. With
 * them a key may repeat: like a Map, the first occurrence keeps its place and the last one its value.
 */
class AttributeList {
  text = '';
  readonly #byKey: Map<string, string> | undefined;

  constructor(mayRepeat: boolean) {
    this.#byKey = mayRepeat ? new Map() : undefined;
  }

  /** `keyJson` is the key as JSON text (equal keys have equal texts); `value` an AnyValue's JSON text. */
  add(keyJson: string, value: string): void {
    if (this.#byKey !== undefined) this.#byKey.set(keyJson, value);
    else this.text += `${this.text === '' ? '' : ','}{"key":${keyJson},"value":${value}}`;
  }

  toString(): string {
    if (this.#byKey === undefined) return this.text;
    let out = '';
    for (const [keyJson, value] of this.#byKey) out += `${out === '' ? '' : ','}{"key":${keyJson},"value":${value}}`;
    return out;
  }
}

function flagAttributes(event: FlagEvaluationEvent, list: AttributeList): void {
  const context = event.context;
  if (context !== undefined) {
    for (const key of Object.keys(context)) {
      const value = context[key];
      if (value !== undefined) list.add(CONTEXT_KEYS.get(key), anyValue(value));
    }
  }
  // Added last: the semantic-convention attributes win over same-named free-form ones.
  list.add(KEY.FLAG, recurring(event.flagKey));
  if (event.value !== undefined && event.value !== null) list.add(KEY.VALUE, anyValue(event.value));
  if (event.variant !== undefined) list.add(KEY.VARIANT, recurring(event.variant));
  // Lowercased, as the semantic conventions enumerate them (`targeting_match`, `flag_not_found`).
  if (event.reason !== undefined) list.add(KEY.REASON, lowercased(event.reason));
  if (event.provider !== undefined) list.add(KEY.PROVIDER, recurring(event.provider));
  if (event.targetingKey !== undefined) list.add(KEY.CONTEXT_ID, stringValue(event.targetingKey));
  if (event.errorCode !== undefined) list.add(KEY.ERROR_TYPE, lowercased(event.errorCode));
}

/** A reason or error code, lowercased; what is not a string goes through `toLowerCase()` as it comes (and may throw). */
function lowercased(value: unknown): string {
  return typeof value === 'string' ? LOWERCASED_VALUES.get(value) : stringValue((value as string).toLowerCase());
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
 * One event as an OTLP log record, in JSON. Every event gets its name (`eventName` and `event.name`),
 * its id (`log.record.uid`), its time (`timeUnixNano` = `observedTimeUnixNano`), its attributes, and
 * its trace context when valid. A flag evaluation also gets the `feature_flag.*` attributes and its
 * context as `trackpipe.context.*`. Other fields of custom event types are not mapped. Throws on
 * what cannot be written (a BigInt where a string belongs, a cycle): the event is then unserializable.
 */
export function encodeOtlpLogRecord(event: TelemetryEvent): string {
  const free = event.attributes;
  // Read once: a name changed after record() may be anything (a symbol, an object whose toJSON answers undefined).
  const name: unknown = event.name;
  const list = new AttributeList(free !== undefined);
  if (event.id !== undefined) list.add(KEY.ID, stringValue(event.id));
  list.add(KEY.NAME, recurring(name));
  if (free !== undefined) {
    for (const key of Object.keys(free)) {
      const value = free[key];
      if (value !== undefined) list.add(quote(key) as string, anyValue(value));
    }
  }
  if (isFlagEvaluation(event)) flagAttributes(event, list);

  // No text for the name (undefined, a symbol, a toJSON answering undefined): no eventName, as JSON.stringify leaves the field out.
  const nameText = typeof name === 'string' ? undefined : quote(name);
  const eventName = typeof name === 'string' ? EVENT_NAMES.get(name) : nameText === undefined ? '' : `"eventName":${nameText},`;
  let text = `{${eventName}"attributes":[${list.toString()}]`;
  const time = event.timestamp === undefined ? undefined : msToUnixNano(event.timestamp);
  // Trackpipe stamps events when they are recorded: that is also when they were observed.
  if (time !== undefined) text += `,"timeUnixNano":"${time}","observedTimeUnixNano":"${time}"`;
  if (typeof event.traceId === 'string' && HEX_TRACE_ID.test(event.traceId) && !ZERO.test(event.traceId)) {
    text += `,"traceId":"${event.traceId.toLowerCase()}"`;
    if (typeof event.spanId === 'string' && HEX_SPAN_ID.test(event.spanId) && !ZERO.test(event.spanId)) {
      text += `,"spanId":"${event.spanId.toLowerCase()}"`;
    }
  }
  return `${text}}`;
}

/**
 * The text around the encoded log records of one ExportLogsServiceRequest: one resource, one scope.
 * Computed once per exporter; the body is `prefix + records.join(",") + suffix`.
 */
export function otlpEnvelope(options: OtlpOptions = {}): { prefix: string; suffix: string } {
  const resource: Record<string, unknown> = {
    'service.name': options.serviceName ?? 'unknown_service',
    'telemetry.sdk.name': 'trackpipe',
    'telemetry.sdk.language': 'nodejs',
    ...options.resourceAttributes,
  };
  const scope = options.scope ?? { name: '@trackpipe/exporter-http' };
  const scopeJson = JSON.stringify(scope.version === undefined ? { name: scope.name } : { name: scope.name, version: scope.version });
  const prefix = `{"resourceLogs":[{"resource":{"attributes":[${keyValues(resource)}]},"scopeLogs":[{"scope":${scopeJson},"logRecords":[`;
  return { prefix, suffix: ']}]}]}' };
}

/** The `otlp` format's batch encoder: a whole ExportLogsServiceRequest, written into one buffer. */
export function otlpBatchEncoder(options: OtlpOptions = {}): BatchEncoder<TelemetryEvent> {
  const { prefix, suffix } = otlpEnvelope(options);
  const frame = { open: prefix, separator: ',', close: suffix };
  return (events) => {
    const records = new Array<string>(events.length);
    for (let i = 0; i < events.length; i++) records[i] = encodeOtlpLogRecord(events[i] as TelemetryEvent);
    return framed(frame, records);
  };
}
