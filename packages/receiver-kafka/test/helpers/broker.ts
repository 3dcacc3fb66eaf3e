// Helpers for tests against the real broker (vitest `kafka` project): topics, producing the way
// applications do (BatchProcessor + KafkaExporter), raw records, and the group's offsets.
import { randomUUID } from 'node:crypto';
import { BatchProcessor, type TelemetryEvent, silentLogger } from '@trackpipe/core';
import { KafkaExporter } from '@trackpipe/exporter-kafka';
import kafkajs, { type Admin, type Message } from 'kafkajs';
import { inject } from 'vitest';

const { Kafka, logLevel } = kafkajs;

/** What the vitest global setup (tools/kafka/vitest-global-setup.ts) hands the Kafka tests. */
export const kafka = inject('kafka');

/** A topic (or group) name no other test uses. */
export function fresh(label: string): string {
  return `trackpipe-${label}-${randomUUID().slice(0, 8)}`;
}

async function withAdmin<T>(brokers: string, use: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Kafka({ clientId: 'trackpipe-test-admin', brokers: brokers.split(','), logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    return await use(admin);
  } finally {
    await admin.disconnect();
  }
}

/** Creates a topic with `partitions` partitions and waits for its leaders. */
export async function createTopic(brokers: string, topic: string, partitions: number): Promise<void> {
  await withAdmin(brokers, (admin) => admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }] }));
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

/** Produces raw records (anything: for poison records). */
export async function produceRaw(brokers: string, topic: string, messages: Message[]): Promise<void> {
  const producer = new Kafka({ clientId: 'trackpipe-test-raw', brokers: brokers.split(','), logLevel: logLevel.NOTHING }).producer();
  await producer.connect();
  try {
    await producer.send({ topic, acks: -1, messages });
  } finally {
    await producer.disconnect();
  }
}

/** Waits until `condition` holds, polling; throws with `what` after `timeoutMs`. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Reads `topic` from the beginning with a group of its own until `count` records were read: each record's id (from its JSON value), partition and offset. */
export async function readBack(brokers: string, topic: string, count: number, timeoutMs = 60_000): Promise<Map<string, { partition: number; offset: bigint }>> {
  const consumer = new Kafka({ clientId: 'trackpipe-test-reader', brokers: brokers.split(','), logLevel: logLevel.NOTHING }).consumer({
    groupId: fresh('reader'),
    maxWaitTimeInMs: 250,
  });
  const found = new Map<string, { partition: number; offset: bigint }>();
  let read = 0;
  let done: () => void = () => undefined;
  const complete = new Promise<void>((resolve) => (done = resolve));
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        for (const message of batch.messages) {
          read++;
          try {
            const id = (JSON.parse(message.value?.toString() ?? '') as { id?: unknown }).id;
            if (typeof id === 'string') found.set(id, { partition: batch.partition, offset: BigInt(message.offset) });
          } catch {
            // not an event (a poison record): no id to map
          }
        }
        if (read >= count) done();
      },
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([complete, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  } finally {
    await consumer.disconnect();
  }
  return found;
}
