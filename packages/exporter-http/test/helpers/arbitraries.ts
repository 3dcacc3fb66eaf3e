import fc from 'fast-check';
import { type AttributeValue, FLAG_EVALUATION_EVENT, type TelemetryEvent } from '@trackpipe/core';

/** Characters JSON must escape or that trip UTF-8: quotes, backslash, controls, lone surrogates, separators, astral. */
const TRICKY_CHARS = ['"', '\\', '/', '\u0000', '\u0001', '\b', '\t', '\n', '\f', '\r', '\u001f', '\u007f', '\u2028', '\u2029', '\ud800', '\udbff', '\udc00', '\udfff', '\ufeff', '\uffff', '😀', 'é', 'ß', '中', 'a', 'Z', '0', ' '];

/** Strings of every kind: any code point (well-formed), and mixes of the characters above (lone surrogates included). */
export const anyString: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.string({ unit: fc.constantFrom(...TRICKY_CHARS), maxLength: 12 }),
  fc.string({ maxLength: 12 }),
);

/** Numbers of every kind: -0, NaN, ±Infinity, safe and unsafe integers, fractions, extremes. */
export const anyNumber: fc.Arbitrary<number> = fc.oneof(
  fc.integer(),
  fc.maxSafeInteger(),
  fc.double(),
  fc.constantFrom(-0, 0, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 2 ** 53, 2 ** 53 + 2, -(2 ** 60), 1e21, 1e-7, 5e-324, 0.1, -1.5, Number.MAX_VALUE),
);

/** Attribute keys, now and then one that collides with a key the OTLP mapping sets itself. */
export const attributeKey: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: anyString },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      'log.record.uid',
      'event.name',
      'feature_flag.key',
      'feature_flag.result.value',
      'feature_flag.result.variant',
      'feature_flag.result.reason',
      'error.type',
      'trackpipe.context.plan',
      '__proto__',
      'constructor',
      '0',
      '',
    ),
  },
);

/** Attribute values: scalars, nested arrays (sparse ones too) and objects, null, and undefined entries. */
export const attributeValue: fc.Arbitrary<AttributeValue> = fc.letrec<{ value: AttributeValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    anyString,
    anyNumber,
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.sparseArray<AttributeValue>(tie('value'), { maxLength: 4 }),
    fc.dictionary(attributeKey, fc.option(tie('value'), { nil: undefined }), { maxKeys: 4 }) as fc.Arbitrary<{ [key: string]: AttributeValue }>,
  ),
})).value;

/** Attribute records, some values `undefined` (which the mapping leaves out). */
export const attributes: fc.Arbitrary<Record<string, AttributeValue>> = fc.dictionary(attributeKey, fc.option(attributeValue, { nil: undefined }), {
  maxKeys: 5,
}) as fc.Arbitrary<Record<string, AttributeValue>>;

const hex = (length: number): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), minLength: length, maxLength: length });

/** Trace ids: valid (lower or upper case), all zero, malformed, absent. */
export const traceId: fc.Arbitrary<string | undefined> = fc.oneof(hex(32), fc.constant('0'.repeat(32)), hex(31), anyString, fc.constant(undefined));
/** Span ids: valid, all zero, malformed, absent. */
export const spanId: fc.Arbitrary<string | undefined> = fc.oneof(hex(16), fc.constant('0'.repeat(16)), hex(17), anyString, fc.constant(undefined));

/** Timestamps: whole and fractional milliseconds, huge, zero and -0, negative, NaN, ±Infinity, absent. */
export const timestamp: fc.Arbitrary<number | undefined> = fc.oneof(
  fc.integer({ min: 0, max: 4_102_444_800_000 }),
  fc.double({ min: 0, max: 4_102_444_800_000, noNaN: true }),
  fc.constantFrom(0, -0, -1, 1_717_000_000_123.5, 0.0000001, 1e20, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, Number.NaN, Number.POSITIVE_INFINITY, Number.MAX_VALUE),
  fc.constant(undefined),
);

/** A plain event: any name, optional id, time, attributes and trace context. */
const plainEvent: fc.Arbitrary<TelemetryEvent> = fc.record(
  { id: anyString, name: anyString.filter((n) => n !== FLAG_EVALUATION_EVENT), timestamp, attributes, traceId, spanId },
  { requiredKeys: ['name'] },
);

/** A flag evaluation: every optional field present or absent, any value (null and undefined included). */
const flagEvent: fc.Arbitrary<TelemetryEvent> = fc.record(
  {
    id: anyString,
    name: fc.constant(FLAG_EVALUATION_EVENT),
    timestamp,
    flagKey: anyString,
    value: fc.oneof(attributeValue, fc.constant(undefined), fc.constant(null)),
    variant: anyString,
    reason: fc.oneof(anyString, fc.constantFrom('TARGETING_MATCH', 'ERROR', 'STATIC', 'Split')),
    errorCode: fc.oneof(anyString, fc.constantFrom('FLAG_NOT_FOUND', 'PARSE_ERROR')),
    provider: anyString,
    targetingKey: anyString,
    context: attributes,
    attributes,
    traceId,
    spanId,
  },
  { requiredKeys: ['name', 'flagKey'] },
);

/** Any event the OTLP mapping may meet: plain events and flag evaluations. */
export const anyEvent: fc.Arbitrary<TelemetryEvent> = fc.oneof(plainEvent, flagEvent);
