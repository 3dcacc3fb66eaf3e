// The example of README.md ("Quick start"), kept runnable against the test broker: change both together
// (the test checks that the README still holds these lines).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BatchProcessor, NdjsonExporter, type TelemetryEvent } from '@trackpipe/core';
import { describe, expect, it } from 'vitest';
import { KafkaReceiver } from '../src/index.js';
import { createTopic, fresh, kafka, produce, until } from './helpers/broker.js';

const readme = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '../README.md'), 'utf8');

async function quickStart(topic: string, groupId: string, path: string) {
  // ---- README: Quick start (topic, groupId and path are the test's) ----
  const pipeline = new BatchProcessor(new NdjsonExporter({ destination: { path } }), { maxConcurrentExports: 1 });
  const receiver = new KafkaReceiver({ brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','), topic, groupId }, pipeline);
  await receiver.start();
  const stop = async () => {
    await receiver.stop({ timeoutMs: 10_000 });
    await pipeline.close();
  };
  // ---- end ----
  return { receiver, stop };
}

describe.runIf(kafka.brokers !== null)('README quick start', () => {
  it('writes every event of the topic to the NDJSON file, then stops with everything committed', { timeout: 90_000 }, async () => {
    for (const line of [
      "const pipeline = new BatchProcessor(new NdjsonExporter({ destination: { path: 'events.ndjson' } }), { maxConcurrentExports: 1 });",
      'await receiver.start();',
      'await receiver.stop({ timeoutMs: 10_000 });',
      'await pipeline.close();',
    ]) {
      expect(readme).toContain(line);
    }
    const dir = mkdtempSync(join(tmpdir(), 'trackpipe-receiver-readme-'));
    try {
      const topic = fresh('readme');
      await createTopic(kafka.brokers!, topic, 3);
      const path = join(dir, 'events.ndjson');
      const { receiver, stop } = await quickStart(topic, fresh('group'), path);
      const events: TelemetryEvent[] = Array.from({ length: 50 }, (_, i) => ({ name: 'feature_flag.evaluation', id: `readme-${i}`, attributes: { i } }));
      await produce(kafka.brokers!, topic, events);
      await until(() => receiver.stats().handed === 50, 'the receiver to take every event');
      await stop();
      const lines = readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string });
      expect(lines.map((l) => l.id).sort()).toEqual(events.map((e) => e.id).sort());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
