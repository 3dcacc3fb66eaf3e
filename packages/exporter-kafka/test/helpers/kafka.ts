// Helpers for the tests against a real broker: fresh topics, reading a topic back, event factories.
import { randomUUID } from 'node:crypto';
import kafkajs, { type Admin, type KafkaConfig, type PartitionMetadata } from 'kafkajs';
import { inject } from 'vitest';
import type { CollectorStats, FlagEvaluationEvent, Logger, Recorded } from '@trackpipe/core';
import { KAFKA_CLIENTS, type KafkaClientName } from '@trackpipe/exporter-kafka';

const { Kafka, Partitioners, logLevel } = kafkajs;

/** What the vitest global setup (tools/kafka/vitest-global-setup.ts) hands the Kafka tests. */
export const kafka = inject('kafka');

/** A record read back from the topic. */
export interface ConsumedRecord {
  readonly partition: number;
  /** The record's offset in its partition. */
  readonly offset: bigint;
  readonly key: string | null;
  readonly value: string;
  readonly headers: Record<string, string>;
}

const quiet: Pick<KafkaConfig, 'logLevel'> = { logLevel: logLevel.NOTHING };

/** A topic name no other test uses. */
export function freshTopic(label: string): string {
  return `trackpipe-${label}-${randomUUID().slice(0, 8)}`;
}

/** Runs `use` with a connected admin client of `brokers`, disconnected after. */
export async function withAdmin<T>(brokers: string, use: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Kafka({ clientId: 'trackpipe-test-admin', brokers: brokers.split(','), ...quiet }).admin();
  await admin.connect();
  try {
    return await use(admin);
  } finally {
    await admin.disconnect();
  }
}

/** Creates a topic (3 partitions unless told) and waits until it has leaders. */
export async function createTopic(
  brokers: string,
  topic: string,
  options: { partitions?: number; config?: Record<string, string> } = {},
): Promise<void> {
  await withAdmin(brokers, async (admin) => {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        {
          topic,
          numPartitions: options.partitions ?? 3,
          replicationFactor: 1,
          configEntries: Object.entries(options.config ?? {}).map(([name, value]) => ({ name, value })),
        },
      ],
    });
  });
}

/** A record written byte for byte: header values may be null (Kafka allows it; kafkajs's producer does not write it). */
export interface RawRecord {
  readonly key: string | null;
  readonly value: string | Buffer | null;
  readonly headers: readonly (readonly [string, string | Buffer | null])[];
}

/** Writes `records` to partition 0 of `topic` as they are, with @platformatic/kafka's producer (no serializers). */
export async function produceRecords(brokers: string, topic: string, records: readonly RawRecord[]): Promise<void> {
  const { Producer } = await import('@platformatic/kafka');
  const producer = new Producer({ clientId: 'trackpipe-test-raw', bootstrapBrokers: brokers.split(','), autocreateTopics: false });
  const bytes = (value: string | Buffer | null): Buffer | undefined => (value === null ? undefined : Buffer.from(value));
  try {
    await producer.send({
      acks: -1,
      messages: records.map((r) => ({
        topic,
        partition: 0,
        key: bytes(r.key),
        value: bytes(r.value),
        headers: new Map(r.headers.map(([name, value]) => [Buffer.from(name), bytes(value)] as [Buffer, Buffer | undefined])),
      })) as never,
    });
  } finally {
    await producer.close();
  }
}

/** The id inside a record value (events are JSON-encoded). */
export function idOf(record: ConsumedRecord): string {
  return (JSON.parse(record.value) as { id: string }).id;
}

/**
 * Reads `topic` from the beginning with a consumer group of its own, handing every record to `take`,
 * until `complete()` holds after a batch or `timeoutMs` passed; then waits `lingerMs` longer before
 * leaving the group.
 */
export async function readTopic(
  brokers: string,
  topic: string,
  take: (record: ConsumedRecord) => void,
  complete: () => boolean,
  timeoutMs: number,
  lingerMs = 0,
): Promise<void> {
  const consumer = new Kafka({ clientId: 'trackpipe-test-consumer', brokers: brokers.split(','), ...quiet }).consumer({
    groupId: `trackpipe-test-${randomUUID()}`,
    // Short long-polls: disconnect() waits for the fetch in flight.
    maxWaitTimeInMs: 250,
  });
  let done: () => void = () => undefined;
  const allSeen = new Promise<void>((resolve) => (done = resolve));
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        for (const message of batch.messages) {
          const headers: Record<string, string> = {};
          for (const [name, value] of Object.entries(message.headers ?? {})) headers[name] = String(value);
          take({
            partition: batch.partition,
            offset: BigInt(message.offset),
            key: message.key?.toString() ?? null,
            value: message.value?.toString() ?? '',
            headers,
          });
        }
        if (complete()) done();
      },
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([allSeen, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    if (lingerMs > 0) await new Promise((resolve) => setTimeout(resolve, lingerMs));
  } finally {
    await consumer.disconnect();
  }
}

/**
 * Reads `topic` from the beginning with a new consumer group until every id of `expected` has been seen
 * (or, given a number, that many records; or `timeoutMs` passed), then a moment longer to catch stray
 * duplicates. Returns every record read.
 */
export async function consumeUntil(
  brokers: string,
  topic: string,
  expected: ReadonlySet<string> | number,
  timeoutMs = 60_000,
): Promise<ConsumedRecord[]> {
  const records: ConsumedRecord[] = [];
  const missing = new Set(typeof expected === 'number' ? [] : expected);
  await readTopic(
    brokers,
    topic,
    (record) => {
      records.push(record);
      missing.delete(idOf(record));
    },
    () => (typeof expected === 'number' ? records.length >= expected : missing.size === 0),
    timeoutMs,
    500,
  );
  return records;
}

/** Counts how often each id arrived; returns the ids of `expected` that are missing and the duplicates. */
export function tally(records: readonly ConsumedRecord[], expected: ReadonlySet<string>): { missing: string[]; duplicates: number; unexpected: number } {
  const seen = new Map<string, number>();
  for (const record of records) {
    const id = idOf(record);
    seen.set(id, (seen.get(id) ?? 0) + 1);
  }
  let duplicates = 0;
  let unexpected = 0;
  for (const [id, count] of seen) {
    duplicates += count - 1;
    if (!expected.has(id)) unexpected++;
  }
  return { missing: [...expected].filter((id) => !seen.has(id)), duplicates, unexpected };
}

/** recorded = exported + dropped + queued + inFlight */
export function balanced(stats: CollectorStats): boolean {
  return stats.recorded === stats.exported + stats.dropped + stats.queued + stats.inFlight;
}

/** A flag evaluation with a fresh id; every third has a targeting key, every third only a flag key. */
export function evaluation(i: number): Recorded<FlagEvaluationEvent> {
  const event: FlagEvaluationEvent = {
    name: 'feature_flag.evaluation',
    id: `${randomUUID()}`,
    timestamp: Date.now(),
    flagKey: i % 3 === 2 ? '' : `flag-${i % 7}`,
    value: i % 2 === 0,
    variant: i % 2 === 0 ? 'on' : 'off',
  };
  if (i % 3 === 0) event.targetingKey = `user-${i % 100}`;
  return event as Recorded<FlagEvaluationEvent>;
}

/** The Kafka libraries the exporter can use: every broker test runs once with each. */
export const CLIENTS: readonly KafkaClientName[] = KAFKA_CLIENTS;

/**
 * The partition Java's default partitioner (and kafkajs's) picks for a key: murmur2 of its UTF-8
 * bytes, sign bit cleared, modulo the partition count. Computed with kafkajs's implementation.
 */
export function javaPartition(key: string, partitions: number): number {
  const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({ partitionId, leader: 0 })) as unknown as PartitionMetadata[];
  return Partitioners.DefaultPartitioner()({ topic: 't', partitionMetadata, message: { key, value: null } });
}

/** A logger that keeps what it is told, for assertions and for a summary on failure. */
export function memoryLogger(): Logger & { readonly lines: string[] } {
  const lines: string[] = [];
  return { lines, warn: (message) => lines.push(`warn ${message}`), error: (message) => lines.push(`error ${message}`) };
}

/** Waits until `condition` holds, polling; throws with `what` after `timeoutMs`. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
