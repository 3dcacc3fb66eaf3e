// Helpers for tests against the real broker (vitest `kafka` project): topics, producing the way
// applications do (BatchProcessor + KafkaExporter), raw records, and the group's offsets. What is not
// particular to the receiver (the broker, names, admin, reading a topic back, polling) comes from the
// exporter's broker-test helpers.
import { BatchProcessor, FunctionExporter, type Recorded, type TelemetryEvent, silentLogger } from '@trackpipe/core';
import { KafkaExporter } from '@trackpipe/exporter-kafka';
import kafkajs, { type CompressionTypes, type Message } from 'kafkajs';
import { KafkaReceiver } from '../../src/index.js';
import { createTopic as createTopicWith, readTopic, withAdmin } from '../../../exporter-kafka/test/helpers/kafka.js';

const { Kafka, logLevel } = kafkajs;

// `fresh`: a topic (or group) name no other test uses.
export { freshTopic as fresh, kafka, produceRecords, until } from '../../../exporter-kafka/test/helpers/kafka.js';

/** Creates a topic with `partitions` partitions and waits for its leaders. */
export async function createTopic(brokers: string, topic: string, partitions: number): Promise<void> {
  await createTopicWith(brokers, topic, { partitions });
}

/** Log end offsets by partition. */
export async function endOffsets(brokers: string, topic: string): Promise<Map<number, bigint>> {
  const offsets = await withAdmin(brokers, (admin) => admin.fetchTopicOffsets(topic));
  return new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
}

/** The group's committed offsets by partition (-1n: none). */
export async function committedOffsets(brokers: string, groupId: string, topic: string): Promise<Map<number, bigint>> {
  const offsets = await withAdmin(brokers, (admin) => admin.fetchOffsets({ groupId, topics: [topic] }));
  return new Map((offsets[0]?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
}

/** How many members the group has now. */
export async function groupMembers(brokers: string, groupId: string): Promise<number> {
  const { groups } = await withAdmin(brokers, (admin) => admin.describeGroups([groupId]));
  return groups[0]?.members.length ?? 0;
}

/** Produces events as an application does: a BatchProcessor in front of a KafkaExporter (keys: targetingKey, else flagKey, else id). */
export async function produce(brokers: string, topic: string, events: readonly TelemetryEvent[]): Promise<void> {
  const processor = new BatchProcessor<TelemetryEvent>(new KafkaExporter({ brokers: brokers.split(','), topic, logger: silentLogger }), {
    maxQueueSize: Math.max(10_000, events.length),
    logger: silentLogger,
  });
  for (const event of events) processor.record(event);
  const report = await processor.close({ timeoutMs: 60_000 });
  if (!report.complete || processor.stats().exported !== events.length) throw new Error(`producing failed: ${JSON.stringify(report)}`);
}

/**
 * Produces raw records (anything: for poison records), each once. The producer is idempotent: one
 * produce request carries every partition of the send, and a partition the broker refuses for a
 * moment (a partition just added: "not the leader") fails the whole request, which kafkajs sends
 * again; without idempotence the partitions written the first time got their records twice. One
 * send is one record batch per partition, compressed with `compression` when given.
 */
export async function produceRaw(brokers: string, topic: string, messages: Message[], compression?: CompressionTypes): Promise<void> {
  const producer = new Kafka({ clientId: 'trackpipe-test-raw', brokers: brokers.split(','), logLevel: logLevel.NOTHING }).producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages, ...(compression === undefined ? {} : { compression }) });
  } finally {
    await producer.disconnect();
  }
}

/** Reads `topic` from the beginning with a group of its own until `count` records were read: each record's id (from its JSON value), partition and offset. */
export async function readBack(brokers: string, topic: string, count: number, timeoutMs = 60_000): Promise<Map<string, { partition: number; offset: bigint }>> {
  const found = new Map<string, { partition: number; offset: bigint }>();
  let read = 0;
  await readTopic(
    brokers,
    topic,
    ({ partition, offset, value }) => {
      read++;
      try {
        const id = (JSON.parse(value) as { id?: unknown }).id;
        if (typeof id === 'string') found.set(id, { partition, offset });
      } catch {
        // not an event (a poison record): no id to map
      }
    },
    () => read >= count,
    timeoutMs,
  );
  return found;
}

/** Creates a topic with topic configs (e.g. `compression.type`) and waits for its leaders. */
export { createTopicWith };

/** Grows a topic to `count` partitions. */
export async function addPartitions(brokers: string, topic: string, count: number): Promise<void> {
  await withAdmin(brokers, (admin) => admin.createPartitions({ topicPartitions: [{ topic, count }] }));
}

/**
 * A KafkaReceiver on `topic` in `groupId` (commits and lag readings every 200 ms) over a
 * BatchProcessor whose exporter keeps what it delivers in `delivered`; `stop()` stops both.
 */
export function collectingReceiver(brokers: string, topic: string, groupId: string) {
  const delivered: Recorded<TelemetryEvent>[] = [];
  const processor = new BatchProcessor<TelemetryEvent>(new FunctionExporter<Recorded<TelemetryEvent>>((batch) => void delivered.push(...batch)), {
    flushIntervalMs: 50,
    logger: silentLogger,
  });
  const receiver = new KafkaReceiver(
    { brokers: brokers.split(','), topic, groupId, commitIntervalMs: 200, lagIntervalMs: 200, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 500, logger: silentLogger },
    processor,
  );
  const stop = async (): Promise<void> => {
    await receiver.stop({ timeoutMs: 5_000 });
    await processor.close({ timeoutMs: 2_000 });
  };
  return { delivered, receiver, stop };
}
