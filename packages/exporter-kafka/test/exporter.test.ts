import { describe, expect, it } from 'vitest';
import {
  BatchProcessor,
  type ExportBatch,
  type FlagEvaluationEvent,
  type Recorded,
  type TelemetryEvent,
  silentLogger,
} from '@trackpipe/core';
import { KafkaExporter, defaultKafkaKey } from '@trackpipe/exporter-kafka';
import { Deferred, FakeKafkaClient, FakeKafkaError } from './helpers/fake-client.js';

type Event = Recorded<TelemetryEvent & Partial<Pick<FlagEvaluationEvent, 'flagKey' | 'targetingKey'>>>;

function batchOf(events: Event[], encode = (e: Event) => JSON.stringify(e)): ExportBatch<Event> {
  const encoded = events.map(encode);
  return { events, encoded, bytes: encoded.reduce((n, s) => n + Buffer.byteLength(s), 0) };
}

function event(i: number, fields: Partial<Event> = {}): Event {
  return { id: `id-${i}`, name: 'feature_flag.evaluation', timestamp: 1_700_000_000_000 + i, ...fields };
}

const live = (): AbortSignal => new AbortController().signal;

function setup(options: Partial<ConstructorParameters<typeof KafkaExporter<Event>>[0]> = {}) {
  const client = new FakeKafkaClient();
  const exporter = new KafkaExporter<Event>({ topic: 'flags', client, logger: silentLogger, ...options });
  return { client, exporter };
}

describe('KafkaExporter records', () => {
  it('sends batch.encoded[i] as the value, unchanged, with key and headers per event', async () => {
    const { client, exporter } = setup();
    const events = [event(1, { targetingKey: 'user-1', flagKey: 'f' }), event(2, { flagKey: 'checkout' }), event(3)];
    // An encoder's output that JSON.stringify would never produce: proves the exporter does not re-serialize.
    const batch = batchOf(events, (e) => `<<${e.id}>>`);
    await expect(exporter.export(batch, live())).resolves.toEqual({ code: 'ok' });
    expect(client.records()).toEqual([
      { key: 'user-1', value: '<<id-1>>', headers: { 'event-name': 'feature_flag.evaluation', 'content-type': 'application/json', 'schema-version': '1' } },
      { key: 'checkout', value: '<<id-2>>', headers: { 'event-name': 'feature_flag.evaluation', 'content-type': 'application/json', 'schema-version': '1' } },
      { key: 'id-3', value: '<<id-3>>', headers: { 'event-name': 'feature_flag.evaluation', 'content-type': 'application/json', 'schema-version': '1' } },
    ]);
    expect(client.producers[0]!.sent[0]!.map((t) => t.topic)).toEqual(['flags']);
  });

  it('groups records by the topic function and applies the key function and header options', async () => {
    const { client, exporter } = setup({
      topic: (e) => (e.name === 'checkout' ? 'orders' : 'flags'),
      key: (e) => (e.id.endsWith('2') ? null : `k-${e.id}`),
      contentType: 'application/x-ndjson',
      schemaVersion: '7',
    });
    const events = [event(1), { ...event(2), name: 'checkout' }, event(3)];
    await expect(exporter.export(batchOf(events), live())).resolves.toEqual({ code: 'ok' });
    const send = client.producers[0]!.sent[0]!;
    expect(send.map((t) => [t.topic, t.records.map((r) => r.key)])).toEqual([
      ['flags', ['k-id-1', 'k-id-3']],
      ['orders', [null]],
    ]);
    expect(send[1]!.records[0]!.headers).toEqual({ 'event-name': 'checkout', 'content-type': 'application/x-ndjson', 'schema-version': '7' });
  });

  it('rejects only the events whose topic function throws and sends the rest', async () => {
    const { client, exporter } = setup({
      topic: (e) => {
        if (e.id === 'id-2') throw new Error('no topic for this one');
        return 'flags';
      },
    });
    const result = await exporter.export(batchOf([event(1), event(2), event(3)]), live());
    expect(result).toMatchObject({ code: 'reject', indexes: [1] });
    expect(client.records().map((r) => r.value)).toEqual([JSON.stringify(event(1)), JSON.stringify(event(3))]);
  });

  it('keys by targeting key, else flag key, else event id', () => {
    expect(defaultKafkaKey(event(1, { targetingKey: 'u', flagKey: 'f' }))).toBe('u');
    expect(defaultKafkaKey(event(1, { targetingKey: '', flagKey: 'f' }))).toBe('f');
    expect(defaultKafkaKey(event(1))).toBe('id-1');
  });

  it('answers too_large without sending when a record exceeds maxRecordBytes', async () => {
    const { client, exporter } = setup({ maxRecordBytes: 100 });
    const big = event(2, { attributes: { blob: 'x'.repeat(200) } });
    await expect(exporter.export(batchOf([event(1), big, event(3)]), live())).resolves.toMatchObject({ code: 'too_large' });
    await expect(exporter.export(batchOf([big]), live())).resolves.toMatchObject({ code: 'too_large' });
    expect(client.producers).toHaveLength(0);
    await expect(exporter.export(batchOf([event(1), event(3)]), live())).resolves.toEqual({ code: 'ok' });
  });

  it('refuses a missing topic and missing brokers with TRACKPIPE_ERR_OPTIONS_INVALID', () => {
    expect(() => new KafkaExporter({ topic: '', brokers: ['127.0.0.1:9092'] })).toThrow(
      expect.objectContaining({ code: 'TRACKPIPE_ERR_OPTIONS_INVALID' }),
    );
    expect(() => new KafkaExporter({ topic: 't', brokers: [] })).toThrow(expect.objectContaining({ code: 'TRACKPIPE_ERR_OPTIONS_INVALID' }));
  });
});

describe('KafkaExporter connection', () => {
  it('connects lazily on the first export and reuses the producer afterwards', async () => {
    const { client, exporter } = setup();
    expect(client.producers).toHaveLength(0);
    await exporter.export(batchOf([event(1)]), live());
    await exporter.export(batchOf([event(2)]), live());
    expect(client.producers).toHaveLength(1);
    expect(client.producers[0]!.connects).toBe(1);
    expect(client.producers[0]!.sent).toHaveLength(2);
  });

  it('answers retry on a connection error, drops the producer and connects a new one on the next export', async () => {
    const { client, exporter } = setup();
    client.sendSteps.push('ok', new FakeKafkaError('retry'), 'ok');
    await expect(exporter.export(batchOf([event(1)]), live())).resolves.toEqual({ code: 'ok' });
    await expect(exporter.export(batchOf([event(2)]), live())).resolves.toMatchObject({ code: 'retry' });
    expect(client.producers[0]!.disconnects).toBe(1);
    await expect(exporter.export(batchOf([event(2)]), live())).resolves.toEqual({ code: 'ok' });
    expect(client.producers).toHaveLength(2);
    expect(client.producers[1]!.connects).toBe(1);
    expect(client.records().map((r) => r.key)).toEqual(['id-1', 'id-2']);
  });

  it('answers retry when connecting fails, and tries a new producer next time', async () => {
    const { client, exporter } = setup();
    client.connectSteps.push(new FakeKafkaError('retry'), 'ok');
    await expect(exporter.export(batchOf([event(1)]), live())).resolves.toMatchObject({ code: 'retry' });
    await expect(exporter.export(batchOf([event(1)]), live())).resolves.toEqual({ code: 'ok' });
    expect(client.producers.map((p) => p.connects)).toEqual([1, 1]);
  });

  it.each([
    ['too_large', 'too_large'],
    ['reject', 'reject'],
  ] as const)('answers %s when the client classifies the failure so', async (kind, code) => {
    const { client, exporter } = setup();
    client.sendSteps.push(new FakeKafkaError(kind));
    await expect(exporter.export(batchOf([event(1), event(2)]), live())).resolves.toMatchObject({ code });
  });

  it('answers retry for a failure on a producer another export abandoned meanwhile', async () => {
    const { client, exporter } = setup();
    const first = new Deferred();
    const second = new Deferred();
    client.sendSteps.push(first, second);
    const a = exporter.export(batchOf([event(1)]), live());
    const b = exporter.export(batchOf([event(2)]), live());
    await Promise.resolve();
    first.reject(new FakeKafkaError('retry'));
    await expect(a).resolves.toMatchObject({ code: 'retry' });
    // What a producer that is being disconnected says; classified alone it would be a rejection.
    second.reject(new FakeKafkaError('reject'));
    await expect(b).resolves.toMatchObject({ code: 'retry' });
  });

  it('stops waiting when the signal aborts, answers retry, drops the producer and ignores the late completion', async () => {
    const { client, exporter } = setup();
    const hung = new Deferred();
    client.sendSteps.push(hung, 'ok');
    const controller = new AbortController();
    const pending = exporter.export(batchOf([event(1)]), controller.signal);
    controller.abort(new Error('export timeout'));
    await expect(pending).resolves.toMatchObject({ code: 'retry' });
    expect(client.producers[0]!.disconnects).toBe(1);
    hung.resolve();
    await expect(exporter.export(batchOf([event(2)]), live())).resolves.toEqual({ code: 'ok' });
    expect(client.producers).toHaveLength(2);
  });

  it('answers instead of throwing when the client throws synchronously', async () => {
    const client = new FakeKafkaClient();
    client.producer = () => {
      throw new FakeKafkaError('retry');
    };
    const exporter = new KafkaExporter<Event>({ topic: 'flags', client, logger: silentLogger });
    await expect(exporter.export(batchOf([event(1)]), live())).resolves.toMatchObject({ code: 'retry' });
    client.classify = () => {
      throw new Error('classifier bug');
    };
    await expect(exporter.export(batchOf([event(1)]), live())).resolves.toMatchObject({ code: 'reject' });
  });

  it('does not send when the signal is already aborted', async () => {
    const { client, exporter } = setup();
    const controller = new AbortController();
    controller.abort();
    await expect(exporter.export(batchOf([event(1)]), controller.signal)).resolves.toMatchObject({ code: 'retry' });
    expect(client.producers).toHaveLength(0);
  });

  it('disconnects once on shutdown and answers reject afterwards without connecting again', async () => {
    const { client, exporter } = setup();
    await exporter.export(batchOf([event(1)]), live());
    await Promise.all([exporter.shutdown(), exporter.shutdown()]);
    await exporter.shutdown();
    expect(client.producers[0]!.disconnects).toBe(1);
    await expect(exporter.export(batchOf([event(2)]), live())).resolves.toMatchObject({ code: 'reject' });
    expect(client.producers).toHaveLength(1);
    expect(client.records()).toHaveLength(1);
  });

  it('delivers every event through a BatchProcessor across a connection loss', async () => {
    const { client, exporter } = setup();
    client.sendSteps.push('ok', new FakeKafkaError('retry'));
    const processor = new BatchProcessor<Event>(exporter, {
      logger: silentLogger,
      maxBatchSize: 10,
      maxConcurrentExports: 1,
      retry: { initialBackoffMs: 1, maxBackoffMs: 5 },
    });
    for (let i = 0; i < 50; i++) processor.record({ name: 'e', id: `id-${i}`, timestamp: 1 });
    const report = await processor.close({ timeoutMs: 10_000 });
    expect(report).toMatchObject({ complete: true, exported: 50, dropped: 0 });
    expect(new Set(client.records().map((r) => r.key)).size).toBe(50);
    expect(client.producers.length).toBe(2);
    expect(client.producers.every((p) => p.disconnects === 1)).toBe(true);
  });
});
