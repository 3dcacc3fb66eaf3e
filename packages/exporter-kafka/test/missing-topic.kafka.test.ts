// A topic that does not exist, on a cluster that does not create topics on first use: the exporter
// retries its batches within the processor's budget (the topic may be created meanwhile), and says so
// in the log once, naming the topic. This file starts a broker of its own, with auto-creation off.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchProcessor, type FlagEvaluationEvent, type Recorded } from '@trackpipe/core';
import { KafkaExporter } from '@trackpipe/exporter-kafka';
import { type KafkaBroker, removeBroker, startBroker, stopBroker } from '../../../tools/kafka/broker.js';
import { CLIENTS, balanced, consumeUntil, createTopic, evaluation, freshTopic, kafka, memoryLogger, tally } from './helpers/kafka.js';

describe.runIf(kafka.cannotStartBrokers === null)('KafkaExporter and a topic that does not exist, without auto-creation', () => {
  let broker: KafkaBroker | undefined;

  beforeAll(async () => {
    // broker.sh writes server.properties on the first start only: stop, turn auto-creation off, start again.
    broker = await startBroker();
    await stopBroker(broker.dir);
    const file = join(broker.dir, 'server.properties');
    const properties = await readFile(file, 'utf8');
    expect(properties).toContain('auto.create.topics.enable=true');
    await writeFile(file, properties.replace('auto.create.topics.enable=true', 'auto.create.topics.enable=false'));
    await startBroker(broker.dir);
  }, 120_000);

  afterAll(async () => {
    if (broker) await removeBroker(broker.dir);
  });

  it.each(CLIENTS)('client %s: retries within the budget, logs the missing topic once by name, and delivers once it exists', { timeout: 90_000 }, async (client) => {
    const { brokers } = broker!;
    const topic = freshTopic('missing');
    const logger = memoryLogger();
    const exporter = new KafkaExporter<Recorded<FlagEvaluationEvent>>({ brokers: brokers.split(','), topic, client, logger });
    const processor = new BatchProcessor(exporter, { logger, flushIntervalMs: 50, retry: { initialBackoffMs: 100, maxBackoffMs: 300, maxElapsedMs: 4_000 } });

    for (let i = 0; i < 20; i++) processor.record(evaluation(i));
    const first = await processor.flush({ timeoutMs: 30_000 });
    expect(first).toMatchObject({ complete: true, exported: 0, dropped: 20, droppedByReason: { retries_exhausted: 20 } });
    expect(processor.stats().failedExports.retryable).toBeGreaterThan(1);
    const missing = logger.lines.filter((line) => line.includes(`topic "${topic}" does not exist`));
    expect(missing).toHaveLength(1);
    expect(missing[0]).toMatch(/^warn exporter kafka: .*auto\.create\.topics\.enable.*retried until the topic is created/);

    // Created later: the same exporter delivers to it.
    await createTopic(brokers, topic);
    const ids = new Set<string>();
    for (let i = 0; i < 20; i++) {
      const event = evaluation(i);
      ids.add(event.id);
      processor.record(event);
    }
    const report = await processor.close({ timeoutMs: 30_000 });
    expect(report).toMatchObject({ complete: true, exported: 20, dropped: 0 });
    expect(balanced(processor.stats())).toBe(true);
    const { missing: lost, unexpected } = tally(await consumeUntil(brokers, topic, ids, 20_000), ids);
    expect(lost).toEqual([]);
    expect(unexpected).toBe(0);
    // Said once, for the whole time the topic was missing.
    expect(logger.lines.filter((line) => line.includes(`topic "${topic}" does not exist`))).toHaveLength(1);
  });
});
