import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type TelemetryEvent, jsonEncoder } from '@trackpipe/core';
import { HttpExporter, type HttpExporterOptions, encodeOtlpLogRecord, otlpBatchEncoder, otlpEnvelope } from '@trackpipe/exporter-http';
import { anyEvent, anyString, attributes } from './helpers/arbitraries.js';
import * as reference from './helpers/otlp-reference.js';

// Byte identity of the batch encoders with what the exporter sent before them, over generated events.
// The reference for OTLP is the object-building encoder the package shipped until bc5573b
// (helpers/otlp-reference.ts); for JSON, the events stringified one by one and framed.

/** Generated cases per property (fixed seed-free: fast-check reports the seed of any failure). */
const RUNS = { records: 5_000, batches: 500, envelopes: 500, json: 1_000 } as const;

/** The reference's answer, or the error it threw: the direct encoder must agree on both. */
function outcome(fn: () => string): { text: string } | { threw: true } {
  try {
    return { text: fn() };
  } catch {
    return { threw: true };
  }
}

const otlpOptions = fc.record(
  {
    serviceName: anyString,
    resourceAttributes: attributes,
    scope: fc.record({ name: anyString, version: anyString }, { requiredKeys: ['name'] }),
  },
  { requiredKeys: [] },
);

function exporter(options: Omit<HttpExporterOptions<TelemetryEvent>, 'url'>): HttpExporter<TelemetryEvent> {
  return new HttpExporter<TelemetryEvent>({ url: 'http://127.0.0.1:9/', ...options });
}

describe('the direct OTLP encoder writes exactly what the object-building encoder wrote', () => {
  it(`for each of ${RUNS.records} generated events (escaping, numbers, nesting, collisions, times, trace context)`, () => {
    fc.assert(
      fc.property(anyEvent, (event) => {
        expect(outcome(() => encodeOtlpLogRecord(event))).toEqual(outcome(() => reference.encodeOtlpLogRecord(event)));
      }),
      { numRuns: RUNS.records },
    );
  });

  it(`for ${RUNS.envelopes} generated resources and scopes`, () => {
    fc.assert(
      fc.property(otlpOptions, (options) => {
        expect(otlpEnvelope(options)).toEqual(reference.otlpEnvelope(options));
      }),
      { numRuns: RUNS.envelopes },
    );
  });

  it(`for ${RUNS.batches} generated whole batches: the batch encoder's body is the reference body`, () => {
    const decoder = new TextDecoder('utf-8', { fatal: false });
    fc.assert(
      fc.property(otlpOptions, fc.array(anyEvent, { maxLength: 20 }), (options, events) => {
        const { prefix, suffix } = reference.otlpEnvelope(options);
        const expected = Buffer.from(`${prefix}${events.map((e) => reference.encodeOtlpLogRecord(e)).join(',')}${suffix}`, 'utf8');
        const actual = otlpBatchEncoder(options)(events);
        expect(Buffer.compare(Buffer.from(actual), expected)).toBe(0);
        // Lone surrogates become U+FFFD in UTF-8 either way; the text still parses.
        expect(() => JSON.parse(decoder.decode(actual)) as unknown).not.toThrow();
      }),
      { numRuns: RUNS.batches },
    );
  });

  it('writes recurring strings (kept once written) as the reference does, whichever field saw them first, also past the bound on kept strings', () => {
    // One string in several fields: variant and provider keep their case, reason and error code are
    // lowercased, the name and a context key are written as they are.
    const same = (i: number): TelemetryEvent =>
      ({
        name: 'STATIC',
        id: `id-${i}`,
        flagKey: `STATIC-${i}`, // ever new: past the bound after the first thousand
        variant: 'STATIC',
        reason: 'STATIC',
        errorCode: 'STATIC',
        provider: 'STATIC',
        context: { STATIC: 'STATIC' },
      }) as unknown as TelemetryEvent;
    for (let i = 0; i < 3000; i++) {
      const event = same(i);
      expect(encodeOtlpLogRecord(event)).toBe(reference.encodeOtlpLogRecord(event));
    }
    const reversed = { ...same(0), name: 'feature_flag.evaluation', reason: 'Static', variant: 'static' } as TelemetryEvent;
    expect(encodeOtlpLogRecord(reversed)).toBe(reference.encodeOtlpLogRecord(reversed));
  });

  it('throws where the reference threw: a BigInt where a string belongs, a cycle', () => {
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const events: TelemetryEvent[] = [
      { id: 1n as unknown as string, name: 'bigint.id' },
      { name: 'cycle', attributes: cyclic as TelemetryEvent['attributes'] },
    ];
    for (const event of events) {
      expect(() => reference.encodeOtlpLogRecord(event)).toThrow();
      expect(() => encodeOtlpLogRecord(event)).toThrow();
    }
  });

  it('writes a BigInt attribute value as its decimal string, as the reference did', () => {
    const event = { name: 'n', attributes: { big: 12n } } as unknown as TelemetryEvent;
    expect(encodeOtlpLogRecord(event)).toBe(reference.encodeOtlpLogRecord(event));
    expect(encodeOtlpLogRecord(event)).toContain('{"key":"big","value":{"stringValue":"12"}}');
  });
});

describe('the JSON batch encoder writes exactly the framed per-event body', () => {
  it.each([
    ['a bare array', undefined],
    ['an envelope', 'batch'],
    ['an envelope with a key that needs escaping', 'b"\\\u2028\ud800'],
  ])(`for ${RUNS.json} generated batches, as %s`, (_label, envelopeKey) => {
    const e = exporter({ format: 'json', ...(envelopeKey === undefined ? {} : { envelopeKey }) });
    const encodeBatch = e.encodeBatch;
    expect(encodeBatch).toBeTypeOf('function');
    const open = envelopeKey === undefined ? '[' : `{${JSON.stringify(envelopeKey)}:[`;
    const close = envelopeKey === undefined ? ']' : ']}';
    fc.assert(
      fc.property(fc.array(anyEvent, { maxLength: 20 }), (events) => {
        const framed = Buffer.from(`${open}${events.map((event) => jsonEncoder(event)).join(',')}${close}`, 'utf8');
        expect(Buffer.compare(Buffer.from(encodeBatch!(events)), framed)).toBe(0);
      }),
      { numRuns: RUNS.json },
    );
  });

  it('writes the framed per-event body when a toJSON that reads its key hides on Object.prototype or, not enumerable, on an event', () => {
    const encodeBatch = exporter({ format: 'json' }).encodeBatch!;
    const byKey = function (this: unknown, key: string): unknown {
      return { name: `key ${JSON.stringify(key)}` };
    };
    const framed = (events: readonly TelemetryEvent[]) => Buffer.from(`[${events.map((event) => jsonEncoder(event)).join(',')}]`, 'utf8');
    const hidden = { name: 'hidden' };
    Object.defineProperty(hidden, 'toJSON', { value: byKey, enumerable: false });
    const events: TelemetryEvent[] = [{ name: 'a' }, hidden, { name: 'c' }];
    expect(Buffer.from(encodeBatch(events)).toString()).toBe(framed(events).toString());
    const proto = Object.prototype as { toJSON?: unknown };
    proto.toJSON = byKey;
    try {
      const plain: TelemetryEvent[] = [{ name: 'a' }, { name: 'b' }];
      expect(Buffer.from(encodeBatch(plain)).toString()).toBe(framed(plain).toString());
      expect(framed(plain).toString()).toBe('[{"name":"key \\"\\""},{"name":"key \\"\\""}]');
    } finally {
      delete proto.toJSON;
    }
  });

  it('has no batch encoder for ndjson, a custom encoder or a custom serializer (they encode event by event)', () => {
    expect(exporter({ format: 'ndjson' }).encodeBatch).toBeUndefined();
    expect(exporter({ format: 'json', encoder: (event) => JSON.stringify({ n: event.name }) }).encodeBatch).toBeUndefined();
    expect(exporter({ format: { contentType: 'text/plain', body: (encoded) => encoded.join('\n') } }).encodeBatch).toBeUndefined();
    expect(exporter({ format: 'otlp' }).encodeBatch).toBeTypeOf('function');
  });
});
