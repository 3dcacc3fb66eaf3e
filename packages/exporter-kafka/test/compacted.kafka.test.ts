// A compacted topic (cleanup.policy=compact) refuses a record batch holding a record without a key
// (INVALID_RECORD), which fails every record of that partition's batch. The exporter reads the topic's
// policy and refuses keyless events to it up front, alone: every keyed event arrives, once, in order per key.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BatchProcessor, type TelemetryEvent, type TrackpipeError } from '@trackpipe/core';
import { KafkaExporter } from '@trackpipe/exporter-kafka';
import kafkajs from 'kafkajs';
import {
  CLIENTS,
  type ConsumedRecord,
  balanced,
  consumeUntil,
  createTopic,
  freshTopic,
  idOf,
  kafka,
  memoryLogger,
  produceRecords,
  tally,
  until,
  withAdmin,
} from './helpers/kafka.js';

const N = 600;
const KEYS = 24;

type KeyedEvent = TelemetryEvent & { k: string | null; seq: number };

/** Records N events: every 7th without a key, the others over KEYS keys (on all 3 partitions), each key with its own sequence from `next`. */
function recordMixed(processor: BatchProcessor<KeyedEvent>, next: Map<string, number>, keyed: Set<string>, keyless: Set<string>): void {
  for (let i = 0; i < N; i++) {
    const k = i % 7 === 3 ? null : `key-${i % KEYS}`;
    const seq = k === null ? -1 : (next.get(k) ?? 0);
    if (k !== null) next.set(k, seq + 1);
    const event: KeyedEvent = { name: 'ok', id: randomUUID(), k, seq };
    (k === null ? keyless : keyed).add(event.id!);
    processor.record(event);
  }
}

/** Checks that, in offset order within each partition, the first copy of each event of a key comes in sequence 0, 1, 2, ... */
function expectKeysInOrder(records: readonly ConsumedRecord[]): void {
  const sorted = [...records].sort((a, b) => a.partition - b.partition || (a.offset < b.offset ? -1 : 1));
  const next = new Map<string, number>();
  const seen = new Set<string>();
  for (const record of sorted) {
    const { id, k, seq } = JSON.parse(record.value) as KeyedEvent;
    if (k === null || seen.has(id!)) continue;
    seen.add(id!);
    expect(record.key).toBe(k);
    expect(seq).toBe(next.get(k) ?? 0);
    next.set(k, seq + 1);
  }
}

describe.runIf(kafka.brokers !== null).each(CLIENTS)('KafkaExporter (client %s) and a compacted topic', (client) => {
  const brokers = kafka.brokers!;

  /** A processor with the exporter (keys from `k`) writing to `topic`, and the errors it reports. */
  const pipeline = (topic: string) => {
    const logger = memoryLogger();
    const errors: TrackpipeError[] = [];
    const exporter = new KafkaExporter<KeyedEvent>({ brokers: brokers.split(','), client, logger, topic, key: (event) => event.k });
    const processor = new BatchProcessor<KeyedEvent>(exporter, {
      logger,
      onError: (e) => errors.push(e),
      maxBatchSize: 50,
      retry: { initialBackoffMs: 50, maxElapsedMs: 10_000 },
    });
    return { processor, errors };
  };

  it('drops exactly the events without a key, with the reason, and delivers every keyed one once, in order per key', { timeout: 60_000 }, async () => {
    const topic = freshTopic('compacted');
    await createTopic(brokers, topic, { config: { 'cleanup.policy': 'compact' } });
    const { processor, errors } = pipeline(topic);

    const keyed = new Set<string>();
    const keyless = new Set<string>();
    recordMixed(processor, new Map(), keyed, keyless);
    const report = await processor.close({ timeoutMs: 30_000 });
    expect(report).toMatchObject({ complete: true, exported: keyed.size, dropped: keyless.size, droppedByReason: { rejected: keyless.size } });
    expect(balanced(processor.stats())).toBe(true);
    const refusals = errors.filter((e) => e.code === 'TRACKPIPE_ERR_EXPORT_REJECTED');
    expect(refusals.length).toBeGreaterThan(0);
    for (const error of refusals) expect(error.message).toMatch(new RegExp(`without a key.*topic "${topic}".*compact`));

    const records = await consumeUntil(brokers, topic, keyed, 20_000);
    const { missing, duplicates, unexpected } = tally(records, keyed);
    expect(missing).toEqual([]);
    expect(duplicates).toBe(0);
    expect(unexpected).toBe(0);
    expect(records.filter((r) => keyless.has(idOf(r)))).toEqual([]);
    expectKeysInOrder(records);
    expect(new Set(records.map((r) => r.partition)).size).toBe(3);
  });

  it('notices a topic switched to compact while it runs: the refused batch is retried, without the events that have no key', { timeout: 90_000 }, async () => {
    const topic = freshTopic('compacted-later');
    await createTopic(brokers, topic);
    const { processor, errors } = pipeline(topic);
    const next = new Map<string, number>();
    const before = new Set<string>();
    recordMixed(processor, next, before, before);
    expect(await processor.flush({ timeoutMs: 30_000 })).toMatchObject({ complete: true, exported: N, dropped: 0 });

    await withAdmin(brokers, (admin) =>
      admin.alterConfigs({
        validateOnly: false,
        resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }],
      }),
    );
    // Until the broker applies it, a record without a key still goes in (then read back, and left aside).
    const probe = JSON.stringify({ id: 'probe', k: null, seq: -1 });
    await until(
      () => produceRecords(brokers, topic, [{ key: null, value: probe, headers: [] }]).then(() => false, () => true),
      'the broker refuses a record without a key',
      30_000,
    );

    const keyed = new Set<string>();
    const keyless = new Set<string>();
    recordMixed(processor, next, keyed, keyless);
    const report = await processor.close({ timeoutMs: 30_000 });
    expect(report).toMatchObject({ complete: true, exported: keyed.size, dropped: keyless.size, droppedByReason: { rejected: keyless.size } });
    expect(balanced(processor.stats())).toBe(true);
    expect(errors.filter((e) => e.code === 'TRACKPIPE_ERR_EXPORT_REJECTED').every((e) => /without a key.*compact/.test(e.message))).toBe(true);

    const expected = new Set([...before, ...keyed]);
    const records = (await consumeUntil(brokers, topic, expected, 20_000)).filter((r) => idOf(r) !== 'probe');
    const { missing, unexpected } = tally(records, expected);
    expect(missing).toEqual([]);
    expect(unexpected).toBe(0);
    // The first request after the switch was refused whole: records it wrote to other partitions may come twice.
    expectKeysInOrder(records);
  });
});
