// Records written in transactions: each transaction ends with a control record (its commit or abort
// marker), and the records of an aborted one are never handed over (kafkajs reads committed only).
// kafkajs moves its position past a batch holding nothing to hand over without telling the listener:
// before the receiver heard of it, a partition ending in a marker or an aborted transaction was never
// committed to its end, so its lag stayed above 0 for ever and every new owner fetched the tail again.
import kafkajs from 'kafkajs';
import { afterEach, describe, expect, it } from 'vitest';
import { collectingReceiver, committedOffsets, createTopic, endOffsets, fresh, kafka, until } from './helpers/broker.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

/** Writes each group of ids in one transaction to the partition, committing or aborting it. */
async function transactions(brokers: string, topic: string, partition: number, groups: readonly { ids: readonly string[]; commit: boolean }[]): Promise<void> {
  const producer = new kafkajs.Kafka({ clientId: 'trackpipe-test-tx', brokers: brokers.split(','), logLevel: kafkajs.logLevel.NOTHING }).producer({
    transactionalId: fresh('tx'),
    idempotent: true,
    maxInFlightRequests: 1,
  });
  await producer.connect();
  try {
    for (const { ids, commit } of groups) {
      const tx = await producer.transaction();
      await tx.send({ topic, messages: ids.map((id) => ({ partition, key: id, value: JSON.stringify({ name: 'e', id }) })) });
      if (commit) await tx.commit();
      else await tx.abort();
    }
  } finally {
    await producer.disconnect();
  }
}

describe.runIf(kafka.brokers !== null)('KafkaReceiver reading transactional records', () => {
  it('hands over committed transactions only and commits past their markers and aborted records, to the end of each partition', { timeout: 90_000 }, async () => {
    const brokers = kafka.brokers!;
    const topic = fresh('receiver-tx');
    const groupId = fresh('group');
    await createTopic(brokers, topic, 2);
    // Partition 1 holds an aborted transaction only: no fetch of it has anything to hand over.
    await transactions(brokers, topic, 1, [{ ids: ['z-0', 'z-1', 'z-2'], commit: false }]);
    await transactions(brokers, topic, 0, [
      { ids: ['a-0', 'a-1', 'a-2'], commit: true },
      { ids: ['x-0', 'x-1'], commit: false },
      { ids: ['b-0'], commit: true },
      { ids: ['y-0', 'y-1', 'y-2'], commit: false },
    ]);
    const { delivered, receiver, stop } = collectingReceiver(brokers, topic, groupId);
    cleanups.push(stop);
    await receiver.start();
    await until(() => delivered.length === 4, 'the committed records to be delivered', 20_000);
    const end = (await endOffsets(brokers, topic)).get(0)!;
    expect(end).toBe(13n); // 9 records and 4 markers
    await until(async () => {
      const committed = await committedOffsets(brokers, groupId, topic);
      return committed.get(0) === end && committed.get(1) === 4n;
    }, 'the group to commit both partitions to their ends', 20_000);
    await until(() => receiver.stats().lag.every((l) => l.records === 0), 'the lag to read 0');
    expect(delivered.map((e) => e.id)).toEqual(['a-0', 'a-1', 'a-2', 'b-0']);
    expect(receiver.stats()).toMatchObject({ handed: 4, dropped: { undecodable: 0, invalid: 0 } });
  });
});
