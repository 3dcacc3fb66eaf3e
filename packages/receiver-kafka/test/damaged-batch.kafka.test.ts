// A record batch kafkajs cannot decode. Before the receiver decoded record sets batch by batch, such
// a batch failed the decoding of the whole fetch response: kafkajs threw (naming no partition or
// offset), restarted the consumer, fetched the same batch and failed again, for ever, and nothing of
// that fetch was read. A proxy between the receiver and the broker (test/helpers/damaging-proxy.ts)
// damages one batch in every Fetch response that holds it: its record count says 1 000 records where
// there are 2, so that decoding runs past its end; with the CRC left as it was (bytes damaged on the
// way) or computed again over the damaged bytes (a broker that means it).
import { BatchProcessor, FunctionExporter, type Recorded, type TelemetryEvent, silentLogger } from '@trackpipe/core';
import kafkajs from 'kafkajs';
import { afterEach, describe, expect, it } from 'vitest';
import { KafkaReceiver } from '../src/index.js';
import { committedOffsets, createTopic, endOffsets, fresh, kafka, produceRaw, until } from './helpers/broker.js';
import { damagingProxy, fixCrc } from './helpers/damaging-proxy.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

const { CompressionTypes } = kafkajs;
const MARK = Buffer.from('DAMAGE-ME');
/** Where a v2 record batch keeps its record count. */
const RECORD_COUNT_AT = 57;
const record = (id: string) => ({ key: id, value: JSON.stringify({ name: 'e', id }), headers: { 'content-type': 'application/json' } });

/** A receiver in `groupId` reading `topic` through `brokers` into a processor: what it delivered, and what it logged as errors. Stopped after the test. */
async function startReceiver(brokers: string[], topic: string, groupId: string) {
  const delivered: Recorded<TelemetryEvent>[] = [];
  const processor = new BatchProcessor<TelemetryEvent>(new FunctionExporter<Recorded<TelemetryEvent>>((batch) => void delivered.push(...batch)), {
    flushIntervalMs: 50,
    logger: silentLogger,
  });
  const errors: { message: string; fields: Record<string, unknown> | undefined }[] = [];
  const logger = { warn: () => undefined, error: (message: string, fields?: Record<string, unknown>) => void errors.push({ message, fields }) };
  const receiver = new KafkaReceiver({ brokers, topic, groupId, commitIntervalMs: 200, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 500, logger }, processor);
  cleanups.push(async () => {
    await receiver.stop({ timeoutMs: 5_000 });
    await processor.close({ timeoutMs: 2_000 });
  });
  await receiver.start();
  return { delivered, errors, receiver };
}

describe.runIf(kafka.brokers !== null)('KafkaReceiver reading a record batch it cannot decode', () => {
  it.each([
    ['does not match (bytes damaged on the way)', false, 'its CRC does not match'],
    ['matches (a broker that sends the damaged bytes as they are)', true, 'its CRC matches'],
  ])('skips the batch whose CRC %s: counted, logged with its offsets, committed past; the batches around it are read', { timeout: 60_000 }, async (_, crcFixed, crcSays) => {
    const brokers = kafka.brokers!;
    const topic = fresh('receiver-damaged');
    const groupId = fresh('group');
    await createTopic(brokers, topic, 1);
    // Three sends, three batches: offsets 0-2, 3-4 (the damaged one), 5-7.
    await produceRaw(brokers, topic, ['a-0', 'a-1', 'a-2'].map(record));
    await produceRaw(brokers, topic, [record('DAMAGE-ME-0'), record('DAMAGE-ME-1')]);
    await produceRaw(brokers, topic, ['c-0', 'c-1', 'c-2'].map(record));
    let damaged = 0;
    const proxy = await damagingProxy(brokers, (batch, where) => {
      if (where.topic !== topic || !batch.includes(MARK)) return;
      batch.writeInt32BE(1000, RECORD_COUNT_AT);
      if (crcFixed) fixCrc(batch);
      damaged++;
    });
    cleanups.push(() => proxy.close());

    const { delivered, errors, receiver } = await startReceiver([proxy.address], topic, groupId);
    const ends = await endOffsets(brokers, topic);
    expect(ends.get(0)).toBe(8n);
    await until(async () => (await committedOffsets(brokers, groupId, topic)).get(0) === 8n, 'the group to commit the partition to its end', 20_000);

    expect(damaged).toBeGreaterThan(0);
    expect(delivered.map((e) => e.id).sort()).toEqual(['a-0', 'a-1', 'a-2', 'c-0', 'c-1', 'c-2']);
    expect(receiver.stats()).toMatchObject({ handed: 6, dropped: { undecodable: 0, invalid: 0, corrupt: 1 } });
    const skipped = errors.filter((e) => e.message.includes('skipped a record batch that cannot be decoded'));
    expect(skipped).toHaveLength(1);
    expect(skipped[0]!.fields).toMatchObject({ topic, partition: 0 });
    expect(String(skipped[0]!.fields!.problem)).toContain('offsets 3 to 4');
    expect(String(skipped[0]!.fields!.problem)).toContain(crcSays);
  });

  it('skips a decompression bomb (one gzip batch of 70 KB that inflates to 70 MiB) as corrupt, without inflating it; the batches around it are read', { timeout: 60_000 }, async () => {
    const brokers = kafka.brokers!;
    const topic = fresh('receiver-bomb');
    const groupId = fresh('group');
    await createTopic(brokers, topic, 1);
    // Offsets 0, then 1-70 (70 records of 1 MiB of zeros: one gzip batch), then 71.
    await produceRaw(brokers, topic, [record('before')]);
    await produceRaw(brokers, topic, Array.from({ length: 70 }, (_, i) => ({ key: `bomb-${i}`, value: Buffer.alloc(1024 * 1024) })), CompressionTypes.GZIP);
    await produceRaw(brokers, topic, [record('after')]);

    const { delivered, errors, receiver } = await startReceiver(brokers.split(','), topic, groupId);
    expect((await endOffsets(brokers, topic)).get(0)).toBe(72n);
    await until(async () => (await committedOffsets(brokers, groupId, topic)).get(0) === 72n, 'the group to commit the partition to its end', 30_000);

    expect(delivered.map((e) => e.id).sort()).toEqual(['after', 'before']);
    // Inflated, its 70 records would have been dropped one by one as undecodable (not JSON).
    expect(receiver.stats()).toMatchObject({ handed: 2, dropped: { undecodable: 0, invalid: 0, corrupt: 1 } });
    const skipped = errors.filter((e) => e.message.includes('skipped a record batch that cannot be decoded'));
    expect(skipped).toHaveLength(1);
    expect(String(skipped[0]!.fields!.problem)).toContain('offsets 1 to 70');
    expect(String(skipped[0]!.fields!.problem)).toContain('gzip: the batch decompresses to more than the 64 MiB a batch may have');
  });
});
