import { createRequire } from 'node:module';
import type protobuf from 'protobufjs';
import { afterEach, describe, expect, it } from 'vitest';
import { type FlagEvaluationEvent, flagEvaluation, type Recorded, type TelemetryEvent } from '@trackpipe/core';
import { HttpExporter, encodeOtlpLogRecord, msToUnixNano } from '@trackpipe/exporter-http';
import { BATCH_PATHS, neverAborts } from './helpers/batch.js';
import { TestServer } from './helpers/test-server.js';

// The official OTLP definitions, as protobufjs code generated from opentelemetry-proto and published
// in @opentelemetry/otlp-transformer 0.214 (later versions replaced it with a hand-written encoder).
const generated = createRequire(import.meta.url)('@opentelemetry/otlp-transformer/build/src/generated/root.js') as {
  opentelemetry: { proto: { collector: { logs: { v1: { ExportLogsServiceRequest: protobuf.Type } } } } };
};
const { ExportLogsServiceRequest } = generated.opentelemetry.proto.collector.logs.v1;

let server: TestServer | undefined;
let exporter: HttpExporter<Recorded<TelemetryEvent>> | undefined;
afterEach(async () => {
  await exporter?.shutdown();
  await server?.stop();
});

/** Deep map over a JSON value. */
function mapJson(value: unknown, fn: (key: string, value: unknown) => unknown): unknown {
  if (Array.isArray(value)) return value.map((v) => mapJson(v, fn));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = fn(k, mapJson(v, fn));
    return out;
  }
  return value;
}

/**
 * OTLP/JSON differs from protobuf's canonical JSON in one point that matters here: trace and span ids
 * are hex, not base64. Turn them into bytes so that protobufjs reads them as the OTLP receiver does.
 */
function otlpJsonToProtoObject(json: unknown): unknown {
  return mapJson(json, (key, value) => ((key === 'traceId' || key === 'spanId') && typeof value === 'string' ? Buffer.from(value, 'hex') : value));
}

/** What a protobuf round trip gives back, in OTLP/JSON terms (int64 as strings, ids as hex). */
function expectedAfterRoundTrip(json: unknown): unknown {
  return mapJson(json, (key, value) => (key === 'intValue' && typeof value === 'number' ? String(value) : value));
}

function attributeMap(record: { attributes?: { key: string; value: unknown }[] }): Record<string, unknown> {
  return Object.fromEntries((record.attributes ?? []).map((kv) => [kv.key, kv.value]));
}

const ts = 1_717_000_000_123;
const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
const spanId = '00f067aa0ba902b7';

function sampleEvents(): Recorded<TelemetryEvent>[] {
  const evaluation = flagEvaluation({
    id: '0190f6a4-1b2c-7d3e-8f40-123456789abc',
    timestamp: ts,
    flagKey: 'new-checkout',
    value: { color: 'blue', steps: 3, ratio: 0.25, beta: true, tags: ['a', 'b'], none: null },
    variant: 'treatment',
    reason: 'TARGETING_MATCH',
    provider: 'flagd',
    targetingKey: 'user-42',
    context: { plan: 'pro', seats: 12 },
    attributes: { 'app.route': '/cart', 'feature_flag.key': 'shadowed' },
    traceId,
    spanId,
  }) as Recorded<FlagEvaluationEvent>;
  const failed = flagEvaluation({
    id: '0190f6a4-1b2c-7d3e-8f40-123456789abd',
    timestamp: ts + 1,
    flagKey: 'missing-flag',
    value: false,
    reason: 'ERROR',
    errorCode: 'FLAG_NOT_FOUND',
    provider: 'flagd',
  }) as Recorded<FlagEvaluationEvent>;
  const plain: Recorded<TelemetryEvent> = {
    id: '0190f6a4-1b2c-7d3e-8f40-123456789abe',
    name: 'checkout.completed',
    timestamp: ts + 2,
    attributes: { amount: 12.5, items: 3, currency: 'EUR' },
  };
  return [evaluation, failed, plain];
}

describe.each(BATCH_PATHS)('OTLP/HTTP JSON logs body, batch %s', (_path, batchFor) => {
  it('is a valid ExportLogsServiceRequest under the official OpenTelemetry protobuf definitions', async () => {
    server = await TestServer.start();
    exporter = new HttpExporter({ url: server.url('/v1/logs'), format: 'otlp', gzipThresholdBytes: false, otlp: { serviceName: 'shop' } });
    const result = await exporter.export(batchFor(exporter, sampleEvents()), neverAborts());
    expect(result.code).toBe('ok');
    const request = server.requests[0]!;
    expect(request.path).toBe('/v1/logs');
    expect(request.headers['content-type']).toBe('application/json');
    const json = request.json();

    const object = otlpJsonToProtoObject(json) as Record<string, unknown>;
    const message = ExportLogsServiceRequest.fromObject(object);
    expect(ExportLogsServiceRequest.verify(message)).toBeNull();
    const bytes = ExportLogsServiceRequest.encode(message).finish();
    const decoded = ExportLogsServiceRequest.decode(bytes);
    const back = ExportLogsServiceRequest.toObject(decoded, { longs: String, enums: Number, bytes: String, defaults: false });
    const backJson = mapJson(back, (key, value) =>
      (key === 'traceId' || key === 'spanId') && typeof value === 'string' ? Buffer.from(value, 'base64').toString('hex') : value,
    );
    // Every field survived the round trip: none was misnamed (protobufjs drops unknown fields silently).
    expect(backJson).toEqual(expectedAfterRoundTrip(json));
  });

  it('maps resource, scope, times, trace context and the feature_flag.* semantic conventions', async () => {
    server = await TestServer.start();
    exporter = new HttpExporter({
      url: server.url('/v1/logs'),
      format: 'otlp',
      otlp: { serviceName: 'shop', resourceAttributes: { 'deployment.environment.name': 'prod' }, scope: { name: 'shop-flags', version: '2.1.0' } },
    });
    await exporter.export(batchFor(exporter, sampleEvents()), neverAborts());
    const message = ExportLogsServiceRequest.decode(
      ExportLogsServiceRequest.encode(ExportLogsServiceRequest.fromObject(otlpJsonToProtoObject(server.requests[0]!.json()) as object)).finish(),
    );
    const request = ExportLogsServiceRequest.toObject(message, { longs: String, enums: Number, bytes: String }) as {
      resourceLogs: {
        resource: { attributes: { key: string; value: unknown }[] };
        scopeLogs: {
          scope: { name: string; version: string };
          logRecords: {
            timeUnixNano: string;
            observedTimeUnixNano: string;
            eventName: string;
            traceId: string;
            spanId: string;
            attributes: { key: string; value: unknown }[];
          }[];
        }[];
      }[];
    };
    expect(request.resourceLogs).toHaveLength(1);
    const resourceLogs = request.resourceLogs[0]!;
    expect(attributeMap(resourceLogs.resource)).toMatchObject({
      'service.name': { stringValue: 'shop' },
      'deployment.environment.name': { stringValue: 'prod' },
    });
    const scopeLogs = resourceLogs.scopeLogs[0]!;
    expect(scopeLogs.scope).toMatchObject({ name: 'shop-flags', version: '2.1.0' });
    const [evaluation, failed, plain] = scopeLogs.logRecords;

    expect(evaluation!.eventName).toBe('feature_flag.evaluation');
    expect(evaluation!.timeUnixNano).toBe((BigInt(ts) * 1_000_000n).toString());
    expect(evaluation!.observedTimeUnixNano).toBe(evaluation!.timeUnixNano);
    expect(Buffer.from(evaluation!.traceId, 'base64').toString('hex')).toBe(traceId);
    expect(Buffer.from(evaluation!.spanId, 'base64').toString('hex')).toBe(spanId);
    const attributes = attributeMap(evaluation!);
    expect(attributes).toMatchObject({
      'log.record.uid': { stringValue: '0190f6a4-1b2c-7d3e-8f40-123456789abc' },
      'event.name': { stringValue: 'feature_flag.evaluation' },
      'feature_flag.key': { stringValue: 'new-checkout' },
      'feature_flag.result.variant': { stringValue: 'treatment' },
      'feature_flag.result.reason': { stringValue: 'targeting_match' },
      'feature_flag.provider.name': { stringValue: 'flagd' },
      'feature_flag.context.id': { stringValue: 'user-42' },
      'app.route': { stringValue: '/cart' },
      'trackpipe.context.plan': { stringValue: 'pro' },
      'trackpipe.context.seats': { intValue: '12' },
    });
    expect(attributes['error.type']).toBeUndefined();
    // The structured flag value is a key-value list, not a string.
    const value = attributes['feature_flag.result.value'] as { kvlistValue: { values: { key: string; value: unknown }[] } };
    expect(attributeMap({ attributes: value.kvlistValue.values })).toEqual({
      color: { stringValue: 'blue' },
      steps: { intValue: '3' },
      ratio: { doubleValue: 0.25 },
      beta: { boolValue: true },
      tags: { arrayValue: { values: [{ stringValue: 'a' }, { stringValue: 'b' }] } },
      none: {},
    });
    // Attribute keys are unique: the semantic convention wins over a same-named free-form attribute.
    expect(evaluation!.attributes.filter((kv) => kv.key === 'feature_flag.key')).toHaveLength(1);

    expect(attributeMap(failed!)).toMatchObject({
      'feature_flag.key': { stringValue: 'missing-flag' },
      'feature_flag.result.value': { boolValue: false },
      'feature_flag.result.reason': { stringValue: 'error' },
      'error.type': { stringValue: 'flag_not_found' },
    });
    expect(failed!.traceId).toBeUndefined();

    expect(plain!.eventName).toBe('checkout.completed');
    expect(attributeMap(plain!)).toMatchObject({
      'log.record.uid': { stringValue: '0190f6a4-1b2c-7d3e-8f40-123456789abe' },
      amount: { doubleValue: 12.5 },
      items: { intValue: '3' },
      currency: { stringValue: 'EUR' },
    });
    expect(Object.keys(attributeMap(plain!)).some((k) => k.startsWith('feature_flag.'))).toBe(false);
  });
});

/** One attribute's OTLP value as the encoder writes it. */
function encodedValue(value: unknown): unknown {
  const record = JSON.parse(encodeOtlpLogRecord({ name: 'e', attributes: { v: value } } as TelemetryEvent)) as { attributes: { key: string; value: unknown }[] };
  return record.attributes.find((kv) => kv.key === 'v')?.value;
}

describe('OTLP mapping details', () => {
  it.each([
    ['a string', 'text', { stringValue: 'text' }],
    ['a boolean', true, { boolValue: true }],
    ['a safe integer', 7, { intValue: 7 }],
    ['-0', -0, { intValue: 0 }],
    ['a fraction', -0.5, { doubleValue: -0.5 }],
    ['an integer beyond 2^53', 2 ** 60, { doubleValue: 2 ** 60 }],
    ['NaN', Number.NaN, { doubleValue: 'NaN' }],
    ['Infinity', Number.POSITIVE_INFINITY, { doubleValue: 'Infinity' }],
    ['null', null, {}],
    ['an array', [1, 'a'], { arrayValue: { values: [{ intValue: 1 }, { stringValue: 'a' }] } }],
    ['an object', { k: [] }, { kvlistValue: { values: [{ key: 'k', value: { arrayValue: { values: [] } } }] } }],
  ])('encodes %s as an AnyValue', (_label, input, expected) => {
    expect(encodedValue(input)).toEqual(expected);
  });

  it('converts milliseconds to nanoseconds exactly, fractions included', () => {
    expect(msToUnixNano(0)).toBe('0');
    expect(msToUnixNano(1_717_000_000_123)).toBe('1717000000123000000');
    expect(msToUnixNano(1_717_000_000_123.5)).toBe('1717000000123500000');
    expect(msToUnixNano(Number.NaN)).toBeUndefined();
  });

  it.each<[string, unknown]>([
    ['a symbol', Symbol('renamed')],
    ['an object whose toJSON answers undefined', { toJSON: () => undefined }],
    ['a function', () => 'renamed'],
  ])('writes a valid body when an event\'s name became %s after record(): the record has no eventName, its batch is intact', (_label, name) => {
    const e = new HttpExporter<Recorded<TelemetryEvent>>({ url: 'http://127.0.0.1:9/v1/logs', format: 'otlp' });
    exporter = e;
    const list: Recorded<TelemetryEvent>[] = [1, 2, 3].map((i) => ({ id: `id-${i}`, name: 'e', timestamp: i }));
    (list[1] as { name: unknown }).name = name;
    const body = Buffer.from(e.encodeBatch!(list)).toString('utf8');
    const request = JSON.parse(body) as { resourceLogs: { scopeLogs: { logRecords: { eventName?: string }[] }[] }[] };
    const records = request.resourceLogs[0]!.scopeLogs[0]!.logRecords;
    expect(records.map((record) => record.eventName)).toEqual(['e', undefined, 'e']);
    expect(() => JSON.parse(encodeOtlpLogRecord(list[1]!)) as unknown).not.toThrow();
  });

  it('leaves out invalid or all-zero trace context', () => {
    const base = { id: 'x', name: 'e', timestamp: 1 };
    const record = (event: TelemetryEvent): { traceId?: string; spanId?: string } => JSON.parse(encodeOtlpLogRecord(event)) as { traceId?: string; spanId?: string };
    expect(record({ ...base, traceId: 'nothex', spanId: spanId }).traceId).toBeUndefined();
    expect(record({ ...base, traceId: '0'.repeat(32), spanId: spanId }).traceId).toBeUndefined();
    const upper = record({ ...base, traceId: traceId.toUpperCase(), spanId: '0'.repeat(16) });
    expect(upper.traceId).toBe(traceId);
    expect(upper.spanId).toBeUndefined();
  });
});
