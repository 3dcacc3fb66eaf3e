// Summaries compose with the Kafka exporter: a SummarizingCollector in front of a BatchProcessor and
// the KafkaExporter writes one record per flag, variant and window, read back from a real broker.
import { BatchProcessor, SummarizingCollector, type TelemetryEvent, flagEvaluation, silentLogger } from '@trackpipe/core';
import { KafkaExporter } from '@trackpipe/exporter-kafka';
import { describe, expect, it } from 'vitest';
import { CLIENTS, consumeUntil, createTopic, freshTopic, kafka } from './helpers/kafka.js';

describe.runIf(kafka.brokers !== null).each(CLIENTS)('summaries through the KafkaExporter (client %s)', (client) => {
  it('writes one summary record per flag and variant, its counts equal to the evaluations, with the event-name header', { timeout: 60_000 }, async () => {
    const brokers = kafka.brokers!;
    const topic = freshTopic('summaries');
    await createTopic(brokers, topic);
    const processor = new BatchProcessor<TelemetryEvent>(new KafkaExporter<TelemetryEvent>({ brokers: brokers.split(','), topic, client }), { logger: silentLogger });
    const summaries = new SummarizingCollector(processor, { intervalMs: 60_000, logger: silentLogger });
    for (let i = 0; i < 300; i++) {
      summaries.record(flagEvaluation({ flagKey: 'checkout', value: i % 3 === 0, variant: i % 3 === 0 ? 'on' : 'off', reason: 'SPLIT', targetingKey: `user-${i % 40}` }));
    }
    const report = await summaries.close();
    expect(report.complete).toBe(true);
    const stats = summaries.stats();
    expect(stats.recorded).toBe(stats.exported + stats.dropped + stats.queued + stats.inFlight);

    const records = await consumeUntil(brokers, topic, 2);
    expect(records).toHaveLength(2);
    const counts: Record<string, unknown> = {};
    for (const record of records) {
      expect(record.headers['event-name']).toBe('feature_flag.evaluation_summary');
      const summary = JSON.parse(record.value) as TelemetryEvent;
      expect(summary.name).toBe('feature_flag.evaluation_summary');
      counts[summary.attributes!['feature_flag.result.variant'] as string] = summary.attributes!['trackpipe.summary.count'];
    }
    expect(counts).toEqual({ on: 100, off: 200 });
  });
});
