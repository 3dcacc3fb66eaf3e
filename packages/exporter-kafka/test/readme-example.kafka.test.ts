// The example of README.md ("Quick start"), kept runnable against the test broker: change both together.
import { describe, expect, it } from 'vitest';
import { BatchProcessor, type FlagEvaluationEvent, flagEvaluation } from '@trackpipe/core';
import { KafkaExporter } from '@trackpipe/exporter-kafka';
import { consumeUntil, freshTopic, kafka } from './helpers/kafka.js';

async function quickStart(topic: string) {
  // ---- README: Quick start ----
  const exporter = new KafkaExporter({
    brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','),
    topic, // e.g. 'flag-evaluations'
  });
  const collector = new BatchProcessor<FlagEvaluationEvent>(exporter);

  collector.record(flagEvaluation({ flagKey: 'new-checkout', value: true, variant: 'on', targetingKey: 'user-42' }));

  const report = await collector.close(); // delivers what is queued, then disconnects
  // ---- end ----
  return report;
}

describe.runIf(kafka.brokers !== null)('README quick start', () => {
  it('delivers the evaluation to the topic, keyed by the targeting key', { timeout: 60_000 }, async () => {
    const topic = freshTopic('readme');
    expect(process.env.KAFKA_BROKERS).toBe(kafka.brokers);
    const report = await quickStart(topic);
    expect(report).toMatchObject({ complete: true, exported: 1, dropped: 0 });
    const records = await consumeUntil(kafka.brokers!, topic, 1, 30_000);
    expect(records).toHaveLength(1);
    const [record] = records;
    expect(record).toMatchObject({ key: 'user-42', headers: { 'event-name': 'feature_flag.evaluation' } });
    expect(JSON.parse(record!.value)).toMatchObject({ flagKey: 'new-checkout', value: true, variant: 'on' });
  });
});
