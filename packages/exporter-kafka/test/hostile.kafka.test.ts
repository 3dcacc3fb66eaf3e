// Hostile events, keys and topics in one stream, against the real broker, with each client: every
// event that can be delivered is, and each hostile one is dropped alone, with its reason — never its
// batch, never the batches sent with it, and never retried for ever.
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { BatchProcessor, type TelemetryEvent, type TrackpipeError } from '@trackpipe/core';
import { KafkaExporter } from '@trackpipe/exporter-kafka';
import { CLIENTS, balanced, consumeUntil, createTopic, freshTopic, idOf, kafka, memoryLogger, tally } from './helpers/kafka.js';

const LIMIT = 4_096;
const N = 240;

type HostileEvent = TelemetryEvent & { hostile?: string; payload?: unknown };

/** One of each kind of hostile event, and what becomes of it. */
function hostileEvents(): { event: HostileEvent; after?: (event: HostileEvent) => void }[] {
  const cycle: Record<string, unknown> = {};
  cycle.self = cycle;
  const hostile = (kind: string, payload?: unknown): HostileEvent => ({ name: 'hostile', hostile: kind, payload });
  return [
    // unserializable (the processor's encoder throws)
    { event: hostile('bigint', 10n) },
    { event: hostile('cycle', cycle) },
    { event: hostile('tojson-throws', { toJSON: () => { throw new Error('toJSON throws'); } }) },
    // too_large (random bytes do not compress: above max.message.bytes even gzipped)
    { event: hostile('giant-value', randomBytes(LIMIT * 3).toString('base64')) },
    { event: hostile('giant-key') },
    // rejected alone
    { event: hostile('topic-throws') },
    { event: hostile('topic-internal') },
    { event: hostile('topic-metadata-log') },
    { event: hostile('key-throws') },
    { event: hostile('key-number') },
    { event: hostile('name-changed'), after: (event) => ((event as { name: unknown }).name = 42) },
  ];
}

describe.runIf(kafka.brokers !== null).each(CLIENTS)('KafkaExporter (client %s) and hostile events, keys and topics', (client) => {
  const brokers = kafka.brokers!;

  it('delivers every other event and drops each hostile one alone, with its reason', { timeout: 60_000 }, async () => {
    const topic = freshTopic('hostile');
    await createTopic(brokers, topic, { config: { 'max.message.bytes': String(LIMIT) } });
    const logger = memoryLogger();
    const errors: TrackpipeError[] = [];
    const exporter = new KafkaExporter<HostileEvent>({
      brokers: brokers.split(','),
      client,
      logger,
      // Left to the broker: the giant value and the giant key are refused by the cluster.
      maxRecordBytes: Infinity,
      topic: (event) => {
        if (event.hostile === 'topic-throws') throw new Error('the topic function throws');
        if (event.hostile === 'topic-internal') return '__consumer_offsets';
        if (event.hostile === 'topic-metadata-log') return '__cluster_metadata';
        return topic;
      },
      key: (event) => {
        if (event.hostile === 'key-throws') throw new Error('the key function throws');
        if (event.hostile === 'key-number') return 42 as unknown as string;
        if (event.hostile === 'giant-key') return randomBytes(LIMIT * 3).toString('base64');
        return event.id ?? null;
      },
      // Like the default, but it does not check the name: the exporter reads it again for its header.
      encoder: (event) => JSON.stringify(event),
    });
    const processor = new BatchProcessor<HostileEvent>(exporter, { logger, onError: (e) => errors.push(e), retry: { initialBackoffMs: 50, maxElapsedMs: 20_000 } });

    const ids = new Set<string>();
    const hostile = hostileEvents();
    let surrogateId = '';
    for (let i = 0; i < N; i++) {
      const event: HostileEvent = { name: 'ok', id: randomUUID(), payload: i === 7 ? 'a lone \ud800 surrogate' : i };
      if (i === 7) surrogateId = event.id!;
      ids.add(event.id!);
      processor.record(event);
      const h = hostile[i % 20 === 10 ? (i - 10) / 20 : -1];
      if (h !== undefined) {
        processor.record(h.event);
        h.after?.(h.event);
      }
    }
    const report = await processor.close({ timeoutMs: 30_000 });
    expect(report).toMatchObject({
      complete: true,
      exported: N,
      dropped: hostileEvents().length,
      droppedByReason: { unserializable: 3, too_large: 2, rejected: 6 },
    });
    expect(balanced(processor.stats())).toBe(true);
    // Each drop was reported, with its reason.
    expect(errors.filter((e) => e.code === 'TRACKPIPE_ERR_EXPORT_TOO_LARGE')).toHaveLength(2);
    expect(errors.filter((e) => e.code === 'TRACKPIPE_ERR_EVENT_UNSERIALIZABLE')).toHaveLength(3);
    expect(errors.filter((e) => e.code === 'TRACKPIPE_ERR_EXPORT_REJECTED').length).toBeGreaterThan(0);

    const records = await consumeUntil(brokers, topic, ids, 20_000);
    const { missing, unexpected } = tally(records, ids);
    expect(missing).toEqual([]);
    expect(unexpected).toBe(0);
    const surrogate = records.find((r) => idOf(r) === surrogateId)!;
    expect((JSON.parse(surrogate.value) as HostileEvent).payload).toBe('a lone \ud800 surrogate');
  });
});
