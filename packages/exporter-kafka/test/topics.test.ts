// What the exporter asks the cluster about its topics (through the seam's optional describeTopics), and
// what it does with the answers: records without a key to a compacted topic are left out and rejected
// alone, and a topic that stays missing is reported once. The fake client stands in for the cluster.
import { describe, expect, it } from 'vitest';
import type { ExportBatch, ExportResult, Logger, TelemetryEvent } from '@trackpipe/core';
import { KafkaExporter, type KafkaExporterOptions, type KafkaTopicInfo } from '@trackpipe/exporter-kafka';
import { FakeKafkaClient, FakeKafkaError } from './helpers/fake-client.js';

type Event = TelemetryEvent & { id: string; k: string | null };

const live = (): AbortSignal => new AbortController().signal;

function memoryLogger(): Logger & { readonly lines: string[] } {
  const lines: string[] = [];
  return { lines, warn: (message) => lines.push(`warn ${message}`), error: (message) => lines.push(`error ${message}`) };
}

function batchOf(events: Event[]): ExportBatch<Event> {
  const encoded = events.map((e) => JSON.stringify(e));
  return { size: events.length, events, encoded, bytes: encoded.reduce((n, s) => n + Buffer.byteLength(s), 0) };
}

/** Events 0..n-1; those whose index is in `keyless` have no key. */
function events(n: number, keyless: readonly number[]): Event[] {
  return Array.from({ length: n }, (_, i) => ({ id: `id-${i}`, name: 'e', k: keyless.includes(i) ? null : `key-${i % 3}` }));
}

function setup(topics: FakeKafkaClient['topics'], options: Partial<KafkaExporterOptions<Event>> = {}) {
  const client = new FakeKafkaClient();
  client.topics = topics;
  const logger = memoryLogger();
  const exporter = new KafkaExporter<Event>({ topic: 'flags', client, logger, key: (e) => e.k, ...options });
  return { client, exporter, logger };
}

const ids = (client: FakeKafkaClient): string[] => client.records().map((r) => (JSON.parse(r.value) as Event).id);
const errorText = (result: ExportResult): string => ('error' in result && result.error instanceof Error ? result.error.message : '');

describe('KafkaExporter and a compacted topic', () => {
  it('leaves out the records without a key, rejects them alone with the reason, and sends the rest in order', async () => {
    const { client, exporter } = setup(new Map([['flags', { exists: true, compacted: true }]]));
    const result = await exporter.export(batchOf(events(6, [1, 4])), live());
    expect(result).toMatchObject({ code: 'reject', indexes: [1, 4] });
    expect(errorText(result)).toBe(
      'TRACKPIPE_ERR_EXPORT_REJECTED: exporter kafka: 2 events without a key not sent: topic "flags" is compacted (cleanup.policy=compact), and Kafka refuses records without a key there (INVALID_RECORD)',
    );
    expect(ids(client)).toEqual(['id-0', 'id-2', 'id-3', 'id-5']);
    // Asked once: the answer is kept.
    await exporter.export(batchOf(events(3, [0])), live());
    expect(client.described).toEqual([['flags']]);
  });

  it('sends no request when every record of the batch is refused, and says both reasons when another event is rejected too', async () => {
    const { client, exporter } = setup(new Map([['flags', { exists: true, compacted: true }]]), {
      key: (e) => {
        if (e.id === 'id-2') throw new Error('no key for this one');
        return e.k;
      },
    });
    const result = await exporter.export(batchOf(events(3, [0, 1])), live());
    expect(result).toMatchObject({ code: 'reject', indexes: [2, 0, 1] });
    expect(errorText(result)).toMatch(/^TRACKPIPE_ERR_EXPORT_REJECTED: exporter kafka: [^:]*no key for this one; 2 events without a key not sent: topic "flags" is compacted/);
    expect(client.requests()).toEqual([]);
  });

  it('sends records without a key as they are when the topic is not compacted, or cannot be described', async () => {
    const cases: FakeKafkaClient['topics'][] = [new Map([['flags', { exists: true, compacted: false }]]), new Map(), new Map([['*', 'error']]), undefined];
    for (const topics of cases) {
      const { client, exporter } = setup(topics);
      await expect(exporter.export(batchOf(events(4, [1])), live())).resolves.toEqual({ code: 'ok' });
      expect(ids(client)).toEqual(['id-0', 'id-1', 'id-2', 'id-3']);
    }
  });

  it('asks nothing when every record has a key', async () => {
    const { client, exporter } = setup(new Map([['flags', { exists: true, compacted: true }]]));
    await expect(exporter.export(batchOf(events(4, [])), live())).resolves.toEqual({ code: 'ok' });
    expect(client.described).toEqual([]);
  });

  it('describes again, and retries, a request refused for good that sent records without a key to a topic described as not compacted', async () => {
    const topics = new Map<string, KafkaTopicInfo>([['flags', { exists: true, compacted: false }]]);
    const { client, exporter } = setup(topics);
    await expect(exporter.export(batchOf(events(3, [1])), live())).resolves.toEqual({ code: 'ok' });
    // Switched to compact: the broker refuses the request (INVALID_RECORD, a permanent error).
    topics.set('flags', { exists: true, compacted: true });
    client.sendSteps.push(new FakeKafkaError('reject', 'INVALID_RECORD'));
    const batch = batchOf(events(3, [1]));
    await expect(exporter.export(batch, live())).resolves.toMatchObject({ code: 'retry' });
    await expect(exporter.export(batch, live())).resolves.toMatchObject({ code: 'reject', indexes: [1] });
    expect(client.described).toEqual([['flags'], ['flags']]);
    // Once: a refusal that comes back after the topic was described again is final.
    const other = setup(new Map<string, KafkaTopicInfo>([['flags', { exists: true, compacted: false }]]));
    other.client.sendSteps.push(new FakeKafkaError('reject'), new FakeKafkaError('reject'));
    await expect(other.exporter.export(batch, live())).resolves.toMatchObject({ code: 'retry' });
    await expect(other.exporter.export(batch, live())).resolves.toMatchObject({ code: 'reject' });
    expect((await other.exporter.export(batch, live())).code).toBe('ok');
  });
});

describe('KafkaExporter and a missing topic', () => {
  it('reports a topic once, by name, when the cluster describes it as missing after two failed requests', async () => {
    const topics = new Map<string, KafkaTopicInfo>([['flags', { exists: false, compacted: false }]]);
    const { client, exporter, logger } = setup(topics);
    const failing = (): void => void client.sendSteps.push(new FakeKafkaError('retry', 'unknown topic'));
    const batch = batchOf(events(2, []));
    for (let attempt = 0; attempt < 5; attempt++) {
      failing();
      await expect(exporter.export(batch, live())).resolves.toMatchObject({ code: 'retry' });
    }
    // Described before attempts 2 and 3, reported at the second answer "missing", and not asked about again.
    expect(client.described).toEqual([['flags'], ['flags']]);
    expect(logger.lines).toEqual([
      'warn exporter kafka: topic "flags" does not exist, and the cluster did not create it on first use (auto.create.topics.enable is off, or this client may not create topics): its batches are retried until the topic is created or the retry budget runs out',
    ]);
    // Created: delivered.
    topics.set('flags', { exists: true, compacted: false });
    await expect(exporter.export(batch, live())).resolves.toEqual({ code: 'ok' });
    await expect(exporter.export(batch, live())).resolves.toEqual({ code: 'ok' });
    expect(client.described).toHaveLength(2);
    expect(logger.lines).toHaveLength(1);
  });

  it('reports nothing for a topic missing once, then created (a topic the cluster creates on first use)', async () => {
    const topics = new Map<string, KafkaTopicInfo>([['flags', { exists: false, compacted: false }]]);
    const { client, exporter, logger } = setup(topics);
    const batch = batchOf(events(2, []));
    client.sendSteps.push(new FakeKafkaError('retry'), new FakeKafkaError('retry'));
    await expect(exporter.export(batch, live())).resolves.toMatchObject({ code: 'retry' });
    await expect(exporter.export(batch, live())).resolves.toMatchObject({ code: 'retry' });
    topics.set('flags', { exists: true, compacted: false });
    await expect(exporter.export(batch, live())).resolves.toEqual({ code: 'ok' });
    expect(logger.lines).toEqual([]);
  });

  it('asks nothing after a failure to connect, or about a topic already delivered to', async () => {
    const { client, exporter } = setup(new Map());
    const batch = batchOf(events(2, []));
    client.connectSteps.push(new FakeKafkaError('retry'));
    await expect(exporter.export(batch, live())).resolves.toMatchObject({ code: 'retry' });
    await expect(exporter.export(batch, live())).resolves.toEqual({ code: 'ok' });
    client.sendSteps.push(new FakeKafkaError('retry'));
    await expect(exporter.export(batch, live())).resolves.toMatchObject({ code: 'retry' });
    await expect(exporter.export(batch, live())).resolves.toEqual({ code: 'ok' });
    expect(client.described).toEqual([]);
  });
});
