// Record batches in every compression Kafka has. A producer picks its codec (librdkafka and the Java
// client offer snappy, lz4 and zstd), and a topic's `compression.type` makes the broker recompress
// whatever it is sent: the receiver must read them all. kafkajs decodes only gzip by itself; before
// the receiver registered the others, such a batch failed the whole fetch, and kafkajs restarted the
// consumer (leaving and rejoining the group) for ever, with nothing read. The broker's batches are
// written by Kafka's own Java codecs (snappy-java, lz4-java, zstd-jni), as a Java producer writes them.
import { BatchProcessor, FunctionExporter, type Recorded, type TelemetryEvent, silentLogger } from '@trackpipe/core';
import { afterEach, describe, expect, it } from 'vitest';
import { KafkaReceiver } from '../src/index.js';
import { committedOffsets, createTopicWith, endOffsets, fresh, kafka, produce, until } from './helpers/broker.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

// zstd on every Node: by zlib where Node has zstd (22.15+), in pure JavaScript on Node 20 (where, before
// fzstd was registered, every zstd fetch failed and kafkajs restarted the consumer for ever).
const codecs = ['snappy', 'lz4', 'zstd'];

describe.runIf(kafka.brokers !== null)('KafkaReceiver reading compressed record batches', () => {
  it.each(codecs)('reads and commits batches the broker stores %s-compressed', { timeout: 90_000 }, async (codec) => {
    const brokers = kafka.brokers!;
    const topic = fresh(`receiver-${codec}`);
    const groupId = fresh('group');
    await createTopicWith(brokers, topic, { partitions: 2, config: { 'compression.type': codec } });
    const events: TelemetryEvent[] = Array.from({ length: 500 }, (_, i) => ({ name: 'e', id: `${codec}-${i}`, targetingKey: `user-${i % 7}`, attributes: { text: 'x'.repeat(i % 50) } }));
    await produce(brokers, topic, events);
    const delivered: Recorded<TelemetryEvent>[] = [];
    const processor = new BatchProcessor<TelemetryEvent>(new FunctionExporter<Recorded<TelemetryEvent>>((batch) => void delivered.push(...batch)), {
      flushIntervalMs: 50,
      logger: silentLogger,
    });
    const lines: string[] = [];
    const said = (m: string, fields?: unknown) => void lines.push(`${m} ${JSON.stringify(fields)}`);
    const logger = { warn: said, error: said };
    const receiver = new KafkaReceiver({ brokers: brokers.split(','), topic, groupId, commitIntervalMs: 200, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 500, logger }, processor);
    cleanups.push(async () => {
      await receiver.stop({ timeoutMs: 5_000 });
      await processor.close({ timeoutMs: 2_000 });
    });
    await receiver.start();
    await until(() => new Set(delivered.map((e) => e.id)).size === 500, `every ${codec} event to be delivered`, 30_000);
    const ends = await endOffsets(brokers, topic);
    await until(async () => {
      const committed = await committedOffsets(brokers, groupId, topic);
      return [...ends].every(([partition, end]) => committed.get(partition) === end);
    }, 'the group to commit every partition to its end');
    expect(delivered).toHaveLength(500);
    expect(receiver.stats()).toMatchObject({ handed: 500, dropped: { undecodable: 0, invalid: 0 } });
    // A group's first join on a fresh broker may meet its coordinator still loading (a retriable error kafkajs restarts on, once): not a decoding failure.
    expect(lines.filter((l) => l.includes('stopped on an error') && !l.includes("coordinator is loading"))).toEqual([]);
  });
});
