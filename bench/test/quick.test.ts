import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ClientName, createClient } from '../src/clients/index.js';
import { Sink } from '../src/sink.js';
import { BATCH_SIZE, flagEvaluationAt } from '../src/workload.js';

// A tiny in-process version of the benchmark: the real sink and each real client, a few thousand
// events, and the check that matters for every figure the benchmark reports: the sink counted every id.
// Nothing here is timed.

const sink = new Sink();

beforeAll(async () => {
  await sink.start();
});

afterAll(async () => {
  await sink.stop();
});

async function deliver(client: ClientName, events: number, idPrefix: string) {
  sink.reset();
  const bench = createClient(client, { sinkUrl: sink.url, queueSize: events, batchSize: BATCH_SIZE });
  for (let i = 0; i < events; i++) bench.record(bench.prepare(flagEvaluationAt(i, idPrefix)));
  const outcome = await bench.shutdown(20_000);
  return { outcome, counts: sink.counts() };
}

describe('quick bench, in process', () => {
  it.each(['floor', 'trackpipe-json', 'trackpipe-otlp', 'trackpipe-otlp-direct', 'trackpipe-json-spool'] as const)('the sink counts every one of 5 000 events sent by %s', async (client) => {
    const { outcome, counts } = await deliver(client, 5_000, `${client}-`);
    expect(outcome.returned).toBe(true);
    expect(counts.distinct).toBe(5_000);
    expect(counts.duplicates).toBe(0);
    for (const i of [0, 511, 512, 2_500, 4_999]) expect(sink.has(`${client}-${i}`)).toBe(true);
    expect(outcome.reportedDrops).toBe(0);
  });

  it.each(['otel', 'posthog', 'segment'] as const)('the sink finds the id in every event %s sends (its own body format)', async (client) => {
    const { outcome, counts } = await deliver(client, 1_200, `${client}-`);
    expect(outcome.returned).toBe(true);
    expect(counts.events).toBe(1_200);
    expect(counts.distinct).toBe(1_200);
    expect(counts.malformed).toBe(0);
    expect(sink.has(`${client}-1199`)).toBe(true);
  });

  it('the sink also counts a gzip-compressed Trackpipe stream', async () => {
    const { counts } = await deliver('trackpipe-json-gzip', 2_000, 'gz-');
    expect(counts.distinct).toBe(2_000);
    expect(counts.gzipped).toBeGreaterThan(0);
  });
});
