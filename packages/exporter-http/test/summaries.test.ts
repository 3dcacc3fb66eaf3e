// Summaries compose with the HTTP exporter: a SummarizingCollector in front of a BatchProcessor and
// the HttpExporter sends one summary per flag, variant and window, over a real HTTP server, in the
// JSON format and as OTLP log records (the mapping packages/core/src/summaries/README.md states).
import { BatchProcessor, SummarizingCollector, type TelemetryEvent, flagEvaluation, silentLogger } from '@trackpipe/core';
import { HttpExporter } from '@trackpipe/exporter-http';
import { afterEach, describe, expect, it } from 'vitest';
import { TestServer } from './helpers/test-server.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

/** 300 evaluations: flag `checkout` on for every third user, `search` always `v2`. */
function evaluate(summaries: SummarizingCollector): void {
  for (let i = 0; i < 150; i++) {
    summaries.record(flagEvaluation({ flagKey: 'checkout', value: i % 3 === 0, variant: i % 3 === 0 ? 'on' : 'off', reason: 'SPLIT', targetingKey: `user-${i % 50}`, provider: 'flagd' }));
    summaries.record(flagEvaluation({ flagKey: 'search', value: 'v2', variant: 'v2', reason: 'STATIC', targetingKey: `user-${i % 50}` }));
  }
}

type AnyValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean };
interface OtlpRecord {
  eventName: string;
  timeUnixNano: string;
  attributes: { key: string; value: AnyValue }[];
}

describe('summaries through the HTTP exporter', () => {
  it('JSON: one summary per flag and variant, counts equal to the evaluations, the accounting identity kept', async () => {
    server = await TestServer.start();
    const processor = new BatchProcessor<TelemetryEvent>(new HttpExporter({ url: server.url(), gzipThresholdBytes: false }), { logger: silentLogger });
    const summaries = new SummarizingCollector(processor, { intervalMs: 60_000, logger: silentLogger });
    evaluate(summaries);
    const report = await summaries.close();
    expect(report.complete).toBe(true);
    const sent = server.requests.flatMap((r) => r.json() as TelemetryEvent[]);
    const counts = Object.fromEntries(sent.map((e) => [`${e.attributes!['feature_flag.key'] as string}/${e.attributes!['feature_flag.result.variant'] as string}`, e.attributes!['trackpipe.summary.count']]));
    expect(counts).toEqual({ 'checkout/on': 50, 'checkout/off': 100, 'search/v2': 150 });
    expect(sent.every((e) => e.name === 'feature_flag.evaluation_summary')).toBe(true);
    const stats = summaries.stats();
    expect(stats.recorded).toBe(300);
    expect(stats.recorded).toBe(stats.exported + stats.dropped + stats.queued + stats.inFlight);
  });

  it('OTLP: each summary is a log record named feature_flag.evaluation_summary, timed at the end of its window, with its counts as int attributes', async () => {
    server = await TestServer.start();
    const processor = new BatchProcessor<TelemetryEvent>(new HttpExporter({ url: server.url('/v1/logs'), format: 'otlp', gzipThresholdBytes: false }), { logger: silentLogger });
    const summaries = new SummarizingCollector(processor, { intervalMs: 60_000, logger: silentLogger });
    const before = Date.now();
    evaluate(summaries);
    await summaries.close();
    const records = server.requests.flatMap((r) => {
      const body = r.json() as { resourceLogs: { scopeLogs: { logRecords: OtlpRecord[] }[] }[] };
      return body.resourceLogs.flatMap((l) => l.scopeLogs.flatMap((s) => s.logRecords));
    });
    expect(records).toHaveLength(3);
    const byKey = new Map<string, Map<string, AnyValue>>();
    for (const record of records) {
      expect(record.eventName).toBe('feature_flag.evaluation_summary');
      expect(BigInt(record.timeUnixNano)).toBeGreaterThanOrEqual(BigInt(before) * 1_000_000n);
      const attributes = new Map(record.attributes.map((a) => [a.key, a.value]));
      byKey.set(`${attributes.get('feature_flag.key')?.stringValue}/${attributes.get('feature_flag.result.variant')?.stringValue}`, attributes);
    }
    expect([...byKey.keys()].sort()).toEqual(['checkout/off', 'checkout/on', 'search/v2']);
    expect(Number(byKey.get('checkout/on')!.get('trackpipe.summary.count')!.intValue)).toBe(50);
    expect(Number(byKey.get('search/v2')!.get('trackpipe.summary.count')!.intValue)).toBe(150);
    expect(byKey.get('checkout/on')!.get('feature_flag.result.reason')).toEqual({ stringValue: 'split' });
    expect(byKey.get('checkout/on')!.get('feature_flag.provider.name')).toEqual({ stringValue: 'flagd' });
    expect(byKey.get('checkout/on')!.get('feature_flag.result.value')).toEqual({ boolValue: true });
    // 50 distinct users for each key: an estimate (HyperLogLog), within 10 % here.
    const distinct = Number(byKey.get('search/v2')!.get('trackpipe.summary.distinct_targeting_keys')!.intValue);
    expect(distinct).toBeGreaterThanOrEqual(45);
    expect(distinct).toBeLessThanOrEqual(55);
  });
});
