// The receiver against the real broker (kafkajs behind the seam): what the Kafka exporter writes is
// read back whole, poison records are committed past, and a graceful stop hands partitions over
// without a record read twice.
import { BatchProcessor, FunctionExporter, type Recorded, type TelemetryEvent, silentLogger } from '@trackpipe/core';
import { afterEach, describe, expect, it } from 'vitest';
import { KafkaReceiver, type KafkaReceiverOptions } from '../src/index.js';
import { committedOffsets, createTopic, endOffsets, fresh, groupMembers, kafka, produce, produceRaw, produceRecords, until } from './helpers/broker.js';

type Event = Recorded<TelemetryEvent>;

/** A pipeline whose destination writes down every event it gets, in order. */
function pipeline(): { processor: BatchProcessor<TelemetryEvent>; delivered: Event[] } {
  const delivered: Event[] = [];
  const processor = new BatchProcessor<TelemetryEvent>(new FunctionExporter<Event>((events) => void delivered.push(...events)), {
    flushIntervalMs: 50,
    maxConcurrentExports: 1,
    logger: silentLogger,
  });
  return { processor, delivered };
}

/** Events of `keys` keys, each with its own sequence numbers, interleaved. */
function sequenced(count: number, keys: number, tag: string): TelemetryEvent[] {
  return Array.from({ length: count }, (_, i) => ({
    name: 'feature_flag.evaluation',
    id: `${tag}-${i}`,
    flagKey: 'f',
    value: true,
    targetingKey: `user-${i % keys}`,
    attributes: { seq: Math.floor(i / keys) },
  }));
}

/** Keys whose sequence numbers went down in delivery order (first copies only). */
function outOfOrder(delivered: readonly Event[]): string[] {
  const last = new Map<string, number>();
  const seen = new Set<string>();
  const bad = new Set<string>();
  for (const event of delivered) {
    if (seen.has(event.id)) continue;
    seen.add(event.id);
    const key = String((event as { targetingKey?: unknown }).targetingKey);
    const seq = (event.attributes as { seq: number }).seq;
    if ((last.get(key) ?? -1) > seq) bad.add(key);
    last.set(key, seq);
  }
  return [...bad];
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

function receiver(options: Partial<KafkaReceiverOptions> & { topic: string; groupId: string }, processor: BatchProcessor<TelemetryEvent>): KafkaReceiver {
  const r = new KafkaReceiver({ brokers: kafka.brokers!.split(','), commitIntervalMs: 200, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 500, logger: silentLogger, ...options }, processor);
  cleanups.push(async () => {
    await r.stop({ timeoutMs: 5_000 });
    await processor.close({ timeoutMs: 2_000 });
  });
  return r;
}

describe.runIf(kafka.brokers !== null)('KafkaReceiver on a real broker', () => {
  it('reads every event the Kafka exporter wrote, in order per key, commits past poison records and never reads them again', { timeout: 120_000 }, async () => {
    const brokers = kafka.brokers!;
    const topic = fresh('receiver-poison');
    const groupId = fresh('group');
    await createTopic(brokers, topic, 3);
    const events = sequenced(2_000, 40, 'p');
    await produce(brokers, topic, events.slice(0, 1_500));
    await produceRaw(brokers, topic, [
      { key: 'user-1', value: 'this is not JSON' },
      { key: 'user-2', value: null },
      { key: 'user-3', value: Buffer.from([0xc3, 0x28, 0xa0, 0xa1]) },
      { key: 'user-4', value: '{"name":"x"}', headers: { 'content-type': 'application/x-protobuf' } },
      // The header twice: kafkajs hands both over; the second is not JSON.
      { key: 'user-5', value: '{"name":"x"}', headers: { 'content-type': ['application/json', 'application/x-protobuf'] } },
    ]);
    // A content-type header without a value (Kafka allows it; kafkajs hands it over as null), alone and after a JSON one.
    await produceRecords(brokers, topic, [
      { key: 'user-6', value: '{"name":"x","id":"null-header"}', headers: [['content-type', null]] },
      { key: 'user-7', value: '{"name":"x","id":"null-header-2"}', headers: [['content-type', 'application/json'], ['content-type', null]] },
    ]);
    await produce(brokers, topic, events.slice(1_500));

    const a = pipeline();
    const first = receiver({ topic, groupId }, a.processor);
    await first.start();
    await until(() => a.delivered.length >= 2_000, 'every event to be delivered');
    const ends = await endOffsets(brokers, topic);
    await until(async () => {
      const committed = await committedOffsets(brokers, groupId, topic);
      return [...ends].every(([partition, end]) => committed.get(partition) === end);
    }, 'the group to commit every partition up to its end, poison records included');
    expect(new Set(a.delivered.map((e) => e.id)).size).toBe(2_000);
    expect(a.delivered).toHaveLength(2_000);
    expect(outOfOrder(a.delivered)).toEqual([]);
    expect(first.stats()).toMatchObject({ handed: 2_000, dropped: { undecodable: 7, invalid: 0 }, assignedPartitions: 3 });
    // The lag is read every lagIntervalMs: the reading after the last commit says 0 for every partition.
    await until(() => first.stats().lag.every((l) => l.records === 0), 'the lag to read 0 on every partition');
    expect(await first.stop({ timeoutMs: 10_000 })).toMatchObject({ drained: true, committed: true });

    // A new member of the group finds nothing left to read: no poison record is retried.
    const b = pipeline();
    const second = receiver({ topic, groupId }, b.processor);
    await second.start();
    await until(() => second.stats().assignedPartitions === 3, 'the second member to join');
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(second.stats().consumed).toEqual({});
    expect(b.delivered).toEqual([]);
  });

  it('hands partitions over on a graceful stop: the leaving member drains and commits first, so nothing is read twice', { timeout: 120_000 }, async () => {
    const brokers = kafka.brokers!;
    const topic = fresh('receiver-handover');
    const groupId = fresh('group');
    await createTopic(brokers, topic, 4);
    const a = pipeline();
    const b = pipeline();
    const ra = receiver({ topic, groupId }, a.processor);
    const rb = receiver({ topic, groupId }, b.processor);
    await ra.start();
    await rb.start();
    await until(() => ra.stats().assignedPartitions + rb.stats().assignedPartitions === 4 && ra.stats().assignedPartitions > 0 && rb.stats().assignedPartitions > 0, 'both members to own partitions');

    const events = sequenced(6_000, 60, 'h');
    const producing = produce(brokers, topic, events);
    await until(() => a.delivered.length + b.delivered.length >= 1_500, 'a quarter to be delivered');
    const stopped = await ra.stop({ timeoutMs: 10_000 });
    expect(stopped).toMatchObject({ drained: true, committed: true });
    await producing;
    await until(() => new Set([...a.delivered, ...b.delivered].map((e) => e.id)).size === 6_000, 'every event to be delivered');
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // stray duplicates would arrive now
    const all = [...a.delivered, ...b.delivered];
    expect(all).toHaveLength(6_000);
    expect(a.delivered.length).toBeGreaterThan(0);
    expect(rb.stats().assignedPartitions).toBe(4);
    // Order per key across the handover: the stopped member's share, then the rest.
    expect(outOfOrder([...a.delivered, ...b.delivered])).toEqual([]);
  });

  it('leaves no member in the group when stop() comes while start() is still connecting or joining', { timeout: 60_000 }, async () => {
    const brokers = kafka.brokers!;
    const topic = fresh('receiver-stop-early');
    await createTopic(brokers, topic, 2);
    const groups: string[] = [];
    // Early in the connect, in the join, and around the first fetch (kafkajs may crash and restart there).
    for (const delayMs of [0, 30, 120]) {
      const groupId = fresh('group');
      groups.push(groupId);
      const { processor } = pipeline();
      const r = receiver({ topic, groupId, maxWaitTimeMs: 100 }, processor);
      const started = r.start().then(
        () => 'resolved',
        (e: unknown) => e,
      );
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      expect(await r.stop({ timeoutMs: 10_000 })).toMatchObject({ drained: true, committed: true });
      expect(await started).toBe('resolved');
      expect(r.running).toBe(false);
    }
    // A client left connecting or restarting would join within this time (the first join takes about half a second).
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    for (const groupId of groups) expect(await groupMembers(brokers, groupId)).toBe(0);
  });

  it('fails to start, naming sessionTimeoutMs, when the broker refuses the session timeout (kafkajs gives up after start would have resolved)', { timeout: 60_000 }, async () => {
    const brokers = kafka.brokers!;
    const topic = fresh('receiver-session');
    const groupId = fresh('group');
    await createTopic(brokers, topic, 1);
    const { processor } = pipeline();
    // The broker allows 6 000 to 300 000 ms by default.
    const r = receiver({ topic, groupId, sessionTimeoutMs: 1_000, heartbeatIntervalMs: 300 }, processor);
    const error = await r.start().then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error).toMatchObject({ code: 'TRACKPIPE_ERR_RECEIVER_UNAVAILABLE' });
    expect(error?.message).toContain(`could not join group ${groupId}: sessionTimeoutMs: the broker refuses it`);
    expect(r.running).toBe(false);
    expect(await groupMembers(brokers, groupId)).toBe(0);
  });
});
