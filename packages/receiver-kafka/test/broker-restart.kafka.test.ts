// The broker is killed (SIGKILL) while the receiver reads, and started again with the same data on the
// same ports: the receiver reconnects by itself, and every event reaches the pipeline (at least once)
// with the group's offsets committed to the end. The test starts a broker of its own, so that killing
// it cannot disturb the other Kafka tests.
import { BatchProcessor, FunctionExporter, type Recorded, type TelemetryEvent, silentLogger } from '@trackpipe/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KafkaBroker, removeBroker, startBroker, stopBroker } from '../../../tools/kafka/broker.js';
import { KafkaReceiver } from '../src/index.js';
import { committedOffsets, createTopic, endOffsets, fresh, kafka, produce, until } from './helpers/broker.js';

const events = (tag: string, count: number): TelemetryEvent[] =>
  Array.from({ length: count }, (_, i) => ({ name: 'feature_flag.evaluation', id: `${tag}-${i}`, targetingKey: `user-${i % 30}` }));

describe.runIf(kafka.cannotStartBrokers === null)('KafkaReceiver when the broker is killed mid-stream', () => {
  let broker: KafkaBroker | undefined;
  beforeAll(async () => {
    broker = await startBroker();
  });
  afterAll(async () => {
    if (broker) await removeBroker(broker.dir);
  });

  it('reconnects once it is back and delivers every event, committing to the end', { timeout: 150_000 }, async () => {
    const { brokers, dir } = broker!;
    const topic = fresh('receiver-restart');
    const groupId = fresh('group');
    await createTopic(brokers, topic, 3);
    await produce(brokers, topic, events('before', 3_000));
    const delivered: Recorded<TelemetryEvent>[] = [];
    // A destination a little slower than the broker, so that the kill comes mid-stream.
    const processor = new BatchProcessor<TelemetryEvent>(
      new FunctionExporter<Recorded<TelemetryEvent>>(async (batch) => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        delivered.push(...batch);
      }),
      { flushIntervalMs: 50, maxConcurrentExports: 1, maxBatchSize: 100, logger: silentLogger },
    );
    const receiver = new KafkaReceiver(
      { brokers: brokers.split(','), topic, groupId, commitIntervalMs: 200, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1_000, logger: silentLogger },
      processor,
    );
    try {
      await receiver.start();
      await until(() => delivered.length >= 1_000, 'a third to be delivered');
      await stopBroker(dir, { kill: true });
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      await startBroker(dir);
      await produce(brokers, topic, events('after', 3_000));
      await until(() => new Set(delivered.map((e) => e.id)).size === 6_000, 'every event to be delivered', 90_000);
      const ends = await endOffsets(brokers, topic);
      await until(async () => {
        const committed = await committedOffsets(brokers, groupId, topic);
        return [...ends].every(([partition, end]) => committed.get(partition) === end);
      }, 'the group to commit every partition to its end');
      expect(receiver.running).toBe(true);
      expect(receiver.stats()).toMatchObject({ assignedPartitions: 3, dropped: { undecodable: 0, invalid: 0 } });
      console.log(`receiver, broker killed: ${delivered.length} deliveries for 6000 events`);
    } finally {
      await receiver.stop({ timeoutMs: 5_000 });
      await processor.close({ timeoutMs: 2_000 });
    }
  });
});
