import { type AttributeValue, type TelemetryEvent, isFlagEvaluation } from '@trackpipe/core';
import { CONTEXT_ATTRIBUTE_PREFIX, encodeOtlpLogRecord, msToUnixNano, toAnyValue } from '@trackpipe/exporter-http';

// An experiment (see what-we-tried.md), not part of the comparison: the OTLP log-record encoding of
// @trackpipe/exporter-http written as text directly, instead of building the record as objects (a Map,
// an array of key-values, a BigInt for the time) and handing that to JSON.stringify. For a flag
// evaluation without free-form attributes it produces exactly the same text as encodeOtlpLogRecord
// (test/otlp-direct.test.ts checks this); anything else goes to encodeOtlpLogRecord.

const quote = JSON.stringify;
const HEX_TRACE_ID = /^[0-9a-f]{32}$/i;
const HEX_SPAN_ID = /^[0-9a-f]{16}$/i;
const ZERO = /^0+$/;

function anyValue(value: AttributeValue): string {
  if (typeof value === 'string') return `{"stringValue":${quote(value)}}`;
  if (typeof value === 'boolean') return value ? '{"boolValue":true}' : '{"boolValue":false}';
  return quote(toAnyValue(value));
}

function stringAttribute(key: string, value: string): string {
  return `,{"key":"${key}","value":{"stringValue":${quote(value)}}}`;
}

/** Epoch ms as nanoseconds, as msToUnixNano, without a BigInt for whole milliseconds. */
function unixNano(ms: number): string | undefined {
  return Number.isSafeInteger(ms) && ms > 0 ? `${ms}000000` : msToUnixNano(ms);
}

/** The same text as `encodeOtlpLogRecord(event)`, written directly. */
export function encodeOtlpLogRecordDirect(event: TelemetryEvent): string {
  if (!isFlagEvaluation(event) || event.attributes !== undefined) return encodeOtlpLogRecord(event);
  let attributes = event.id === undefined ? '' : `{"key":"log.record.uid","value":{"stringValue":${quote(event.id)}}},`;
  attributes += `{"key":"event.name","value":{"stringValue":${quote(event.name)}}}`;
  const context = event.context;
  if (context !== undefined) {
    for (const key of Object.keys(context)) {
      const value = context[key];
      if (value !== undefined) attributes += `,{"key":${quote(CONTEXT_ATTRIBUTE_PREFIX + key)},"value":${anyValue(value)}}`;
    }
  }
  attributes += stringAttribute('feature_flag.key', event.flagKey);
  if (event.value !== undefined && event.value !== null) attributes += `,{"key":"feature_flag.result.value","value":${anyValue(event.value)}}`;
  if (event.variant !== undefined) attributes += stringAttribute('feature_flag.result.variant', event.variant);
  if (event.reason !== undefined) attributes += stringAttribute('feature_flag.result.reason', event.reason.toLowerCase());
  if (event.provider !== undefined) attributes += stringAttribute('feature_flag.provider.name', event.provider);
  if (event.targetingKey !== undefined) attributes += stringAttribute('feature_flag.context.id', event.targetingKey);
  if (event.errorCode !== undefined) attributes += stringAttribute('error.type', event.errorCode.toLowerCase());
  let text = `{"eventName":${quote(event.name)},"attributes":[${attributes}]`;
  const time = event.timestamp === undefined ? undefined : unixNano(event.timestamp);
  if (time !== undefined) text += `,"timeUnixNano":"${time}","observedTimeUnixNano":"${time}"`;
  if (typeof event.traceId === 'string' && HEX_TRACE_ID.test(event.traceId) && !ZERO.test(event.traceId)) {
    text += `,"traceId":"${event.traceId.toLowerCase()}"`;
    if (typeof event.spanId === 'string' && HEX_SPAN_ID.test(event.spanId) && !ZERO.test(event.spanId)) text += `,"spanId":"${event.spanId.toLowerCase()}"`;
  }
  return `${text}}`;
}
