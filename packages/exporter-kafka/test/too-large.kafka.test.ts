import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BatchProcessor, type FlagEvaluationEvent, type Recorded, type TrackpipeError } from '@trackpipe/core';
import { KafkaExporter } from '@trackpipe/exporter-kafka';
import { CLIENTS, balanced, consumeUntil, createTopic, evaluation, freshTopic, kafka, memoryLogger, tally } from './helpers/kafka.js';

const N = 300;
const LIMIT = 4_096;

describe.runIf(kafka.brokers !== null).each(CLIENTS)('KafkaExporter (client %s) and the topic size limit', (client) => {
  const brokers = kafka.brokers!;

  it.each([
    ['the broker refuses it', undefined],
    ['maxRecordBytes catches it before sending', LIMIT],
  ])('splits the batch and drops only the event above max.message.bytes as too_large when %s', { timeout: 60_000 }, async (how, maxRecordBytes) => {
    const topic = freshTopic('too-large');
    await createTopic(brokers, topic, { config: { 'max.message.bytes': String(LIMIT) } });
    const logger = memoryLogger();
    const errors: TrackpipeError[] = [];
    const exporter = new KafkaExporter<Recorded<FlagEvaluationEvent>>({ brokers: brokers.split(','), topic, logger, maxRecordBytes, client });
    const processor = new BatchProcessor(exporter, { logger, onError: (e) => errors.push(e), retry: { initialBackoffMs: 100 } });

    const ids = new Set<string>();
    let giantId = '';
    for (let i = 0; i < N; i++) {
      const event = evaluation(i);
      if (i === N / 2) {
        // Random bytes do not compress: gzip cannot bring this record under the limit.
        event.context = { blob: randomBytes(LIMIT * 3).toString('base64') };
        giantId = event.id;
      } else {
        ids.add(event.id);
      }
      processor.record(event);
    }
    const report = await processor.close({ timeoutMs: 45_000 });
    const stats = processor.stats();
    expect(report).toMatchObject({ complete: true, exported: N - 1, dropped: 1, droppedByReason: { too_large: 1 } });
    expect(balanced(stats)).toBe(true);
    expect(errors.map((e) => e.code)).toEqual(['TRACKPIPE_ERR_EXPORT_TOO_LARGE']);
    expect(errors[0]!.message).toContain(giantId);

    const records = await consumeUntil(brokers, topic, ids);
    const { missing, duplicates, unexpected } = tally(records, ids);
    console.log(`too large (${client}, ${how}): ${records.length} records for ${N - 1} deliverable events, ${duplicates} duplicates`);
    expect(missing).toEqual([]);
    expect(unexpected).toBe(0);
    // A broker-side refusal may come after other partitions of the same request were written, so the
    // halves can repeat records; caught before sending, nothing is sent twice.
    if (maxRecordBytes !== undefined) expect(duplicates).toBe(0);
  });
});
