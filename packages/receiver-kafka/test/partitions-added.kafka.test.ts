// Partitions added to a topic while the group reads it. Producers see them within their metadata age
// and write to them; a consumer group assigns partitions only when it rebalances, and kafkajs never
// rebalances for a topic that grew. Before the receiver watched the partition counts, the records
// written to the new partitions waited unread (and out of the lag figures) until some member happened
// to join or leave.
//
// Once in CI a record came twice here. It was in the topic twice: the test's producer (kafkajs, not
// idempotent then) sent the three records in one request, the broker refused the write to a
// partition just added ("not the leader", for a moment), kafkajs sent the whole request again, and
// the partitions written the first time got their record twice. The receiver delivered each offset
// once. produceRaw is idempotent now, and the test checks the log before asking exactly once.
import { afterEach, describe, expect, it } from 'vitest';
import { addPartitions, collectingReceiver, committedOffsets, createTopic, endOffsets, fresh, kafka, produceRaw, until } from './helpers/broker.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

const record = (id: string, partition: number) => ({ partition, key: id, value: JSON.stringify({ name: 'e', id }), headers: { 'content-type': 'application/json' } });

describe.runIf(kafka.brokers !== null)('KafkaReceiver when partitions are added to its topic', () => {
  it('rejoins the group once it sees the topic grew, so that the new partitions are read and committed', { timeout: 90_000 }, async () => {
    const brokers = kafka.brokers!;
    const topic = fresh('receiver-grow');
    const groupId = fresh('group');
    await createTopic(brokers, topic, 1);
    const { delivered, receiver, stop } = collectingReceiver(brokers, topic, groupId);
    cleanups.push(stop);
    await receiver.start();
    await produceRaw(brokers, topic, [record('before-0', 0)]);
    await until(() => delivered.length === 1, 'the first record to be delivered', 20_000);

    await addPartitions(brokers, topic, 3);
    await produceRaw(brokers, topic, [record('after-0', 0), record('after-1', 1), record('after-2', 2)]);
    await until(() => new Set(delivered.map((e) => e.id)).size === 4, 'the records of the new partitions to be delivered', 30_000);
    expect(receiver.stats().assignedPartitions).toBe(3);
    // The log holds each record once (the test's producer is idempotent: see produceRaw), so the
    // receiver must deliver each once, across the rejoin too.
    const ends = await endOffsets(brokers, topic);
    expect([...ends].sort(([a], [b]) => a - b)).toEqual([
      [0, 2n],
      [1, 1n],
      [2, 1n],
    ]);
    await until(async () => {
      const committed = await committedOffsets(brokers, groupId, topic);
      return [...ends].every(([partition, end]) => committed.get(partition) === end);
    }, 'the group to commit every partition to its end');
    expect(delivered.map((e) => e.id).sort()).toEqual(['after-0', 'after-1', 'after-2', 'before-0']);
  });
});
