// The broker is down when the exporter starts: the exporter keeps failing (retry) until it comes up,
// then delivers everything. This file starts a broker of its own, and stops it before the test.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchProcessor, type FlagEvaluationEvent, type Recorded } from '@trackpipe/core';
import { KafkaExporter } from '@trackpipe/exporter-kafka';
import { type KafkaBroker, removeBroker, startBroker, stopBroker } from '../../../tools/kafka/broker.js';
import { CLIENTS, balanced, consumeUntil, createTopic, evaluation, freshTopic, kafka, memoryLogger, tally, until } from './helpers/kafka.js';

const N = 5_000;

describe.runIf(kafka.cannotStartBrokers === null).each(CLIENTS)('KafkaExporter (client %s) when the broker is not up yet', (client) => {
  let broker: KafkaBroker | undefined;
  const topic = freshTopic('late');

  beforeAll(async () => {
    broker = await startBroker();
    await createTopic(broker.brokers, topic);
    await stopBroker(broker.dir);
  });

  afterAll(async () => {
    if (broker) await removeBroker(broker.dir);
  });

  it('retries while the broker is down and delivers every event once it is up', { timeout: 120_000 }, async () => {
    const { brokers, dir } = broker!;
    const logger = memoryLogger();
    const exporter = new KafkaExporter<Recorded<FlagEvaluationEvent>>({ brokers: brokers.split(','), topic, logger, client });
    const processor = new BatchProcessor(exporter, {
      logger,
      maxQueueSize: N,
      flushIntervalMs: 50,
      retry: { initialBackoffMs: 200, maxBackoffMs: 1_000, maxElapsedMs: 120_000 },
    });
    const ids = new Set<string>();
    for (let i = 0; i < N; i++) {
      const event = evaluation(i);
      ids.add(event.id);
      processor.record(event);
    }

    await until(() => processor.stats().failedExports.retryable >= 3, 'three exports failed for want of a broker');
    expect(processor.stats()).toMatchObject({ exported: 0, dropped: 0 });
    expect(balanced(processor.stats())).toBe(true);
    // kafkajs's own warnings reach the logger (@platformatic/kafka has none).
    if (client === 'kafkajs') expect(logger.lines.some((line) => line.includes('kafkajs'))).toBe(true);

    await startBroker(dir);
    const report = await processor.close({ timeoutMs: 60_000 });
    expect(report).toMatchObject({ complete: true, exported: N, dropped: 0 });
    expect(balanced(processor.stats())).toBe(true);

    const records = await consumeUntil(brokers, topic, ids);
    const { missing, duplicates, unexpected } = tally(records, ids);
    console.log(`late broker (${client}): ${records.length} records for ${N} events, ${duplicates} duplicates`);
    expect(missing).toEqual([]);
    expect(unexpected).toBe(0);
  });
});
