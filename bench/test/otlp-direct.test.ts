import { type FlagEvaluationEvent, type Recorded, nextEventId } from '@trackpipe/core';
import { HttpExporter, encodeOtlpLogRecord, otlpEnvelope } from '@trackpipe/exporter-http';
import { describe, expect, it } from 'vitest';
import { encodeOtlpLogRecordDirect } from '../src/clients/otlp-direct.js';
import { BATCH_SIZE, flagEvaluationAt } from '../src/workload.js';

// The direct OTLP encoder began here as an experiment and now lives in @trackpipe/exporter-http
// (proven byte-identical to the object-building encoder in packages/exporter-http/test/identity.test.ts).
// What is left to check here: the bench uses the package's encoder, so the experiment client
// (`trackpipe-otlp-direct`: a custom serializer, event by event) and `trackpipe-otlp` (the package's
// format, batch at once) send the same bytes.

function workloadBatch(): Recorded<FlagEvaluationEvent>[] {
  return Array.from({ length: BATCH_SIZE }, (_, i) => {
    const timestamp = 1_764_098_000_000 + i;
    return { ...flagEvaluationAt(i, i % 2 === 0 ? 'p-' : undefined), id: nextEventId(timestamp), timestamp };
  });
}

describe('the bench OTLP clients', () => {
  it("use the package's record encoder, not a copy", () => {
    expect(encodeOtlpLogRecordDirect).toBe(encodeOtlpLogRecord);
  });

  it("build, event by event, the same body the package's otlp format builds at once for a workload batch", () => {
    const events = workloadBatch();
    const exporter = new HttpExporter<Recorded<FlagEvaluationEvent>>({ url: 'http://127.0.0.1:9/v1/logs', format: 'otlp', otlp: { serviceName: 'trackpipe-bench' } });
    const { prefix, suffix } = otlpEnvelope({ serviceName: 'trackpipe-bench' });
    const perEvent = Buffer.from(`${prefix}${events.map((e) => encodeOtlpLogRecordDirect(e)).join(',')}${suffix}`, 'utf8');
    const atOnce = Buffer.from(exporter.encodeBatch!(events));
    expect(atOnce.equals(perEvent)).toBe(true);
    expect(atOnce.byteLength).toBeGreaterThan(BATCH_SIZE * 500);
    void exporter.shutdown();
  });
});
