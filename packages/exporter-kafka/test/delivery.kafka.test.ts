import { describe, expect, it } from 'vitest';
import { BatchProcessor, type FlagEvaluationEvent, type Recorded } from '@trackpipe/core';
import { KafkaExporter, defaultKafkaKey } from '@trackpipe/exporter-kafka';
import { CLIENTS, balanced, consumeUntil, createTopic, evaluation, freshTopic, idOf, javaPartition, kafka, memoryLogger, tally } from './helpers/kafka.js';

const N = 50_000;

describe.runIf(kafka.brokers !== null).each(CLIENTS)('KafkaExporter (client %s) against a real broker', (client) => {
  const brokers = kafka.brokers!;

  it(`delivers ${N} events through a BatchProcessor with the configured keys and headers`, { timeout: 120_000 }, async () => {
    const topic = freshTopic('delivery');
    await createTopic(brokers, topic);
    const logger = memoryLogger();
    const exporter = new KafkaExporter<Recorded<FlagEvaluationEvent>>({ brokers: brokers.split(','), topic, logger, schemaVersion: '3', client });
    const processor = new BatchProcessor(exporter, { logger, maxQueueSize: N, retry: { initialBackoffMs: 100, maxBackoffMs: 2_000 } });

    const sent = new Map<string, Recorded<FlagEvaluationEvent>>();
    for (let i = 0; i < N; i++) {
      const event = evaluation(i);
      sent.set(event.id, event);
      processor.record(event);
    }
    const report = await processor.close({ timeoutMs: 90_000 });
    expect(report).toMatchObject({ complete: true, exported: N, dropped: 0 });
    expect(balanced(processor.stats())).toBe(true);

    const records = await consumeUntil(brokers, topic, new Set(sent.keys()));
    const { missing, duplicates, unexpected } = tally(records, new Set(sent.keys()));
    console.log(`delivery (${client}): ${records.length} records read back for ${N} events; ${duplicates} duplicates`);
    expect(missing).toEqual([]);
    expect(unexpected).toBe(0);
    for (const record of records) {
      const event = sent.get(idOf(record))!;
      expect(record.key).toBe(defaultKafkaKey(event));
      expect(record.headers).toEqual({ 'event-name': 'feature_flag.evaluation', 'content-type': 'application/json', 'schema-version': '3' });
      expect(record.value).toBe(JSON.stringify(event));
    }
    // Every key kind is represented: targeting key, flag key, event id.
    expect(records.some((r) => r.key?.startsWith('user-'))).toBe(true);
    expect(records.some((r) => r.key?.startsWith('flag-'))).toBe(true);
    expect(records.some((r) => r.key !== null && sent.has(r.key))).toBe(true);
    // Records with one key share a partition: the one Java's default partitioner (and kafkajs's) picks,
    // so that other producers of the topic put that key on the same partition.
    const misplaced = records.filter((record) => record.partition !== javaPartition(record.key!, 3));
    expect(misplaced).toEqual([]);
  });

  it('delivers to a topic nobody created: the broker creates it on first use, and nothing is dropped meanwhile', { timeout: 90_000 }, async () => {
    const topic = freshTopic('autocreate'); // not created: the test broker has auto.create.topics.enable
    const processor = new BatchProcessor(new KafkaExporter<Recorded<FlagEvaluationEvent>>({ brokers: brokers.split(','), topic, client }), {
      logger: memoryLogger(),
    });
    const ids = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const event = evaluation(i);
      ids.add(event.id);
      processor.record(event);
    }
    const report = await processor.close({ timeoutMs: 60_000 });
    expect(report).toMatchObject({ complete: true, exported: 200, dropped: 0 });
    const { missing, unexpected } = tally(await consumeUntil(brokers, topic, ids), ids);
    expect(missing).toEqual([]);
    expect(unexpected).toBe(0);
  });
});
