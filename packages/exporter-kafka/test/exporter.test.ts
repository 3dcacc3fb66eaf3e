import { generateKeyPairSync } from 'node:crypto';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  BatchProcessor,
  type ExportBatch,
  type ExportResult,
  type FlagEvaluationEvent,
  type Recorded,
  type TelemetryEvent,
  type TrackpipeError,
  silentLogger,
} from '@trackpipe/core';
import { type KafkaClient, KafkaExporter, type KafkaExporterOptions, type KafkaFailureKind, type ProducerSeam, defaultKafkaKey } from '@trackpipe/exporter-kafka';
import { Deferred, FakeKafkaClient, FakeKafkaError, WrittenThenFailed } from './helpers/fake-client.js';

type Event = Recorded<TelemetryEvent & Partial<Pick<FlagEvaluationEvent, 'flagKey' | 'targetingKey'>>>;

function batchOf(events: Event[], encode = (e: Event) => JSON.stringify(e)): ExportBatch<Event> {
  const encoded = events.map(encode);
  return { size: events.length, events, encoded, bytes: encoded.reduce((n, s) => n + Buffer.byteLength(s), 0) };
}

function event(i: number, fields: Partial<Event> = {}): Event {
  return { id: `id-${i}`, name: 'feature_flag.evaluation', timestamp: 1_700_000_000_000 + i, ...fields };
}

const live = (): AbortSignal => new AbortController().signal;
/** Lets pending promise callbacks run. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
/** What a processor does before it sends a batch again: waits (at least until the next turn of the event loop). */
const backoff = settle;

function setup(options: Partial<KafkaExporterOptions<Event>> = {}) {
  const client = new FakeKafkaClient();
  const exporter = new KafkaExporter<Event>({ topic: 'flags', client, logger: silentLogger, ...options });
  return { client, exporter };
}

const keys = (client: FakeKafkaClient): (string | null)[] => client.records().map((r) => r.key);
const errorText = (result: ExportResult): string => ('error' in result && result.error instanceof Error ? result.error.message : '');

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

  it('rejects only the events whose topic function returns a name Kafka refuses (the cluster would fail the whole request) and sends the rest', async () => {
    const bad = ['bad topic', 'x'.repeat(250), '.', '..', 'flags/2', 'f\u00e9', 'a\u0000b'];
    const { client, exporter } = setup({ topic: (e) => (e.id === 'id-0' ? 'flags' : (bad[Number(e.id.slice(3)) - 1] ?? `ok.${'y'.repeat(246)}`)) });
    const events = [event(0), ...bad.map((_, i) => event(i + 1)), event(bad.length + 1)];
    const result = await exporter.export(batchOf(events), live());
    expect(result).toMatchObject({ code: 'reject', indexes: bad.map((_, i) => i + 1) });
    expect(errorText(result)).toContain('a name Kafka refuses');
    expect(errorText(result)).not.toContain('bad topic');
    expect(client.producers[0]!.sent[0]!.map((t) => [t.topic.length, t.records.length])).toEqual([
      [5, 1],
      [249, 1],
    ]);
  });

  it("rejects only the events whose topic function names one of Kafka's internal topics (refused for the whole request, or crashing @platformatic/kafka) and sends the rest", async () => {
    const internal = ['__consumer_offsets', '__transaction_state', '__share_group_state', '__cluster_metadata'];
    const { client, exporter } = setup({ topic: (e) => internal[Number(e.id.slice(3)) - 1] ?? '__consumer_offsets_not' });
    const events = [event(0), ...internal.map((_, i) => event(i + 1))];
    const result = await exporter.export(batchOf(events), live());
    expect(result).toMatchObject({ code: 'reject', indexes: [1, 2, 3, 4] });
    expect(errorText(result)).toContain('an internal topic');
    expect(client.producers[0]!.sent[0]!.map((t) => [t.topic, t.records.length])).toEqual([['__consumer_offsets_not', 1]]);
  });

  it("rejects only an event whose name is no longer a string when it is sent (read by a getter, or changed after record()), and sends the rest", async () => {
    const { client, exporter } = setup();
    const throwing = event(2);
    Object.defineProperty(throwing, 'name', { get: () => { throw new Error('the name getter throws'); } });
    const changed = { ...event(3), name: 42 } as unknown as Event;
    const result = await exporter.export(batchOf([event(1), throwing, changed, event(4)], (e) => `<<${e.id}>>`), live());
    expect(result).toMatchObject({ code: 'reject', indexes: [1, 2] });
    expect(errorText(result)).toContain('the name getter throws');
    expect(client.records().map((r) => [r.value, r.headers['event-name']])).toEqual([
      ['<<id-1>>', 'feature_flag.evaluation'],
      ['<<id-4>>', 'feature_flag.evaluation'],
    ]);
  });

  it('masks the SASL password and tokens in the error of a key or topic function that throws, and keeps no reference to what it threw', async () => {
    const password = 'hunter2-sasl-password';
    const { exporter } = setup({
      sasl: { mechanism: 'plain', username: 'svc', password },
      key: () => {
        throw new Error(`cannot key: connect with password ${password} and Authorization: Bearer abc.def.ghi`);
      },
    });
    const result = await exporter.export(batchOf([event(1)]), live());
    expect(result).toMatchObject({ code: 'reject', indexes: [0] });
    expect(errorText(result)).toContain('cannot key');
    expect(errorText(result)).not.toContain(password);
    expect(errorText(result)).not.toContain('abc.def.ghi');
    expect((result as { error: Error }).error.cause).toBeUndefined();
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

  it('answers too_large without sending when a record key and value together exceed maxRecordBytes (a huge key too)', async () => {
    const { client, exporter } = setup({ maxRecordBytes: 150, key: (e) => (e.id === 'id-2' ? 'k'.repeat(200) : e.id) });
    await expect(exporter.export(batchOf([event(1), event(2), event(3)]), live())).resolves.toMatchObject({ code: 'too_large' });
    const alone = await exporter.export(batchOf([event(2)]), live());
    expect(alone).toMatchObject({ code: 'too_large' });
    expect(errorText(alone)).toMatch(/a record of \d+ bytes \(key and value\) exceeds maxRecordBytes \(150\)/);
    expect(client.producers).toHaveLength(0);
    await expect(exporter.export(batchOf([event(1), event(3)]), live())).resolves.toEqual({ code: 'ok' });
  });

  it('declares itself ordered, so that the processor keeps batch order across retries', () => {
    expect(setup().exporter.ordered).toBe(true);
  });
});

describe('KafkaExporter options', () => {
  it.each<[string, Record<string, unknown>, string]>([
    ['an empty topic', { topic: '', brokers: ['127.0.0.1:9092'] }, 'topic: must not be empty'],
    ['no brokers', { topic: 't' }, 'brokers: is required'],
    ['an empty broker list', { topic: 't', brokers: [] }, 'brokers: must have at least 1 item'],
    ['an empty broker', { topic: 't', brokers: ['a:1', ''] }, 'brokers[1]: must not be empty'],
    ['an unknown client name', { topic: 't', brokers: ['a:1'], client: 'rdkafka' }, 'client: must be "kafkajs", "platformatic" or a KafkaClient'],
    ['a zero timeout', { topic: 't', brokers: ['a:1'], requestTimeoutMs: 0 }, 'requestTimeoutMs: must be > 0'],
    ['maxRecordBytes below 1', { topic: 't', brokers: ['a:1'], maxRecordBytes: 0 }, 'maxRecordBytes: must be >= 1'],
    ['a misspelt option', { topic: 't', brokers: ['a:1'], gzipp: true }, 'gzipp: unknown key'],
    ['a SASL mechanism neither client takes here', { topic: 't', brokers: ['a:1'], sasl: { mechanism: 'gssapi', username: 'u', password: 'p' } }, 'sasl.mechanism: must be one of'],
    ['a broker without a port', { topic: 't', brokers: ['a:1', 'kafka-1'] }, 'brokers[1]: must be "host:port"'],
    ['a broker with a port out of range', { topic: 't', brokers: ['kafka-1:65536'] }, 'brokers[0]: must be "host:port"'],
    ['a broker with a scheme', { topic: 't', brokers: ['kafka://kafka-1:9092'] }, 'brokers[0]: must be "host:port"'],
    ['two brokers in one entry', { topic: 't', brokers: ['k1:9092,k2:9092'] }, 'brokers[0]: must be "host:port"'],
    ['a broker with a space', { topic: 't', brokers: [' k1:9092'] }, 'brokers[0]: must be "host:port"'],
    ['a topic name Kafka refuses', { topic: 'flag evaluations', brokers: ['a:1'] }, 'topic: must be a Kafka topic name'],
    ['a topic name too long for Kafka', { topic: 'x'.repeat(250), brokers: ['a:1'] }, 'topic: must be a Kafka topic name'],
    ["one of Kafka's internal topics", { topic: '__consumer_offsets', brokers: ['a:1'] }, 'topic: must be a Kafka topic name'],
    ['a timeout longer than a timer can wait (it would fire at once)', { topic: 't', brokers: ['a:1'], connectionTimeoutMs: 2 ** 31 }, 'connectionTimeoutMs: must be at most 2147483647'],
    ['an infinite request timeout', { topic: 't', brokers: ['a:1'], requestTimeoutMs: Infinity }, 'requestTimeoutMs: must be a number'],
  ])('refuses %s with TRACKPIPE_ERR_OPTIONS_INVALID naming the field', (_label, options, problem) => {
    let error: unknown;
    try {
      new KafkaExporter(options as unknown as KafkaExporterOptions);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'TRACKPIPE_ERR_OPTIONS_INVALID' });
    expect((error as Error).message).toContain(problem);
  });

  it('refuses TLS options Node cannot use (a key that does not read, a wrong passphrase) at start, naming ssl and never the key', () => {
    const secret = 'hunter2-private-key-material';
    const { privateKey } = generateKeyPairSync('rsa', {
      modulusLength: 1024,
      privateKeyEncoding: { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: secret },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    for (const ssl of [{ key: `-----BEGIN PRIVATE KEY-----\n${secret}\n-----END PRIVATE KEY-----` }, { key: privateKey, passphrase: 'wrong' }]) {
      for (const client of ['platformatic', 'kafkajs'] as const) {
        let error: TrackpipeError | undefined;
        try {
          new KafkaExporter({ topic: 't', brokers: ['a:1'], client, ssl });
        } catch (e) {
          error = e as TrackpipeError;
        }
        expect(error).toMatchObject({ code: 'TRACKPIPE_ERR_OPTIONS_INVALID', message: expect.stringContaining('ssl: Node cannot use these TLS options (ERR_OSSL_') as unknown });
        expect(JSON.stringify([error?.message, error?.details])).not.toContain(secret);
      }
    }
    expect(() => new KafkaExporter({ topic: 't', brokers: ['a:1'], ssl: { key: privateKey, passphrase: secret } })).not.toThrow();
  });

  it('never echoes an option value in its errors, not even a SASL password', () => {
    const secret = 'hunter2-do-not-print';
    expect(() => new KafkaExporter({ topic: 't', brokers: ['a:1'], sasl: { mechanism: 'plain', username: '', password: secret } })).toThrow(
      expect.objectContaining({ message: expect.not.stringContaining(secret) as unknown }),
    );
  });

  it('refuses options it cannot read (a getter that throws, a revoked proxy) with TRACKPIPE_ERR_OPTIONS_INVALID, never repeating what was thrown', () => {
    const secret = 'hunter2-do-not-print';
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    const unreadable: [string, unknown][] = [
      ['a getter that throws', { topic: 't', brokers: ['a:1'], get sasl(): never { throw new Error(secret); } }],
      ['a password getter that throws', { topic: 't', brokers: ['a:1'], sasl: { mechanism: 'plain', username: 'u', get password(): never { throw new Error(secret); } } }],
      ['a revoked client', { topic: 't', client: revoked.proxy }],
      ['revoked options', revoked.proxy],
    ];
    for (const [label, options] of unreadable) {
      let error: unknown;
      try {
        new KafkaExporter(options as KafkaExporterOptions<Event>);
      } catch (thrown) {
        error = thrown;
      }
      expect(error, label).toMatchObject({ code: 'TRACKPIPE_ERR_OPTIONS_INVALID', message: expect.stringContaining('KafkaExporter: the options could not be read') as unknown });
      expect((error as Error).message, label).not.toContain(secret);
      expect((error as Error).cause, label).toBeUndefined();
    }
  });

  it('builds a client object of its own only from brokers, and takes a KafkaClient without them', () => {
    expect(new KafkaExporter({ topic: 't', brokers: ['127.0.0.1:9092'], client: 'platformatic' }).name).toBe('kafka');
    expect(new KafkaExporter({ topic: 't', client: new FakeKafkaClient(), name: 'audit' }).name).toBe('audit');
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
    await backoff();
    await expect(exporter.export(batchOf([event(2)]), live())).resolves.toEqual({ code: 'ok' });
    expect(client.producers).toHaveLength(2);
    expect(client.producers[1]!.connects).toBe(1);
    expect(keys(client)).toEqual(['id-1', 'id-2']);
  });

  it('answers retry when connecting fails, and tries a new producer next time', async () => {
    const { client, exporter } = setup();
    client.connectSteps.push(new FakeKafkaError('retry'), 'ok');
    await expect(exporter.export(batchOf([event(1)]), live())).resolves.toMatchObject({ code: 'retry' });
    await backoff();
    await expect(exporter.export(batchOf([event(1)]), live())).resolves.toEqual({ code: 'ok' });
    expect(client.producers.map((p) => p.connects)).toEqual([1, 1]);
  });

  it.each([
    ['too_large', 'too_large'],
    ['reject', 'reject'],
  ] as const)('answers %s when the client classifies the failure of a single batch so', async (kind, code) => {
    const { client, exporter } = setup();
    client.sendSteps.push(new FakeKafkaError(kind));
    await expect(exporter.export(batchOf([event(1), event(2)]), live())).resolves.toMatchObject({ code });
  });

  it('stops waiting when the signal aborts, answers retry, drops the producer and ignores the late completion', async () => {
    const { client, exporter } = setup();
    const hung = new Deferred();
    client.sendSteps.push(hung, 'ok');
    const controller = new AbortController();
    const pending = exporter.export(batchOf([event(1)]), controller.signal);
    await settle();
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
    await backoff();
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

  it('answers retry for a batch waiting when shutdown comes, and never sends it', async () => {
    const { client, exporter } = setup();
    const hung = new Deferred();
    client.sendSteps.push(hung);
    const first = exporter.export(batchOf([event(1)]), live());
    await settle();
    const waiting = exporter.export(batchOf([event(2)]), live());
    const shutdown = exporter.shutdown();
    await expect(waiting).resolves.toMatchObject({ code: 'retry' });
    hung.reject(new FakeKafkaError('reject', 'the producer is disconnected'));
    // A failure on a session shut down under it says nothing about the batch.
    await expect(first).resolves.toMatchObject({ code: 'retry' });
    await shutdown;
    expect(client.requests()).toHaveLength(1);
  });
});

describe('KafkaExporter send path', () => {
  it('sends exports started in the same tick in one request, in the order they were started', async () => {
    const { client, exporter } = setup();
    const results = await Promise.all([1, 2, 3].map((i) => exporter.export(batchOf([event(i), event(i + 10)]), live())));
    expect(results).toEqual([{ code: 'ok' }, { code: 'ok' }, { code: 'ok' }]);
    expect(client.requests()).toHaveLength(1);
    expect(keys(client)).toEqual(['id-1', 'id-11', 'id-2', 'id-12', 'id-3', 'id-13']);
  });

  it('keeps one request in flight and sends the exports that arrive meanwhile together in the next, each answered on its own', async () => {
    const { client, exporter } = setup({ topic: (e) => (e.id === 'id-4' ? 'other' : 'flags') });
    const first = new Deferred();
    client.sendSteps.push(first, 'ok');
    const a = exporter.export(batchOf([event(1)]), live());
    await settle();
    const b = exporter.export(batchOf([event(2), event(3)]), live());
    const c = exporter.export(batchOf([event(4), event(5)]), live());
    await settle();
    expect(client.requests()).toHaveLength(1);
    first.resolve();
    await expect(Promise.all([a, b, c])).resolves.toEqual([{ code: 'ok' }, { code: 'ok' }, { code: 'ok' }]);
    const requests = client.requests();
    expect(requests).toHaveLength(2);
    expect(requests[1]!.map((t) => [t.topic, t.records.map((r) => r.key)])).toEqual([
      ['flags', ['id-2', 'id-3', 'id-5']],
      ['other', ['id-4']],
    ]);
    expect(client.maxActive).toBe(1);
  });

  it('answers retry for the batches waiting behind a failed request and sends none of them after it', async () => {
    const { client, exporter } = setup();
    const first = new Deferred();
    client.sendSteps.push(first);
    const a = exporter.export(batchOf([event(1)]), live());
    await settle();
    const b = exporter.export(batchOf([event(2)]), live());
    const c = exporter.export(batchOf([event(3)]), live());
    first.reject(new FakeKafkaError('reject', 'INVALID_RECORD'));
    expect(await a).toMatchObject({ code: 'reject' });
    const [rb, rc] = await Promise.all([b, c]);
    expect(rb).toMatchObject({ code: 'retry' });
    expect(rc).toMatchObject({ code: 'retry' });
    expect(errorText(rb)).toContain('not sent, because a batch before it was not delivered');
    await settle();
    expect(client.requests()).toHaveLength(1);
    expect(client.records()).toEqual([]);
  });

  it('refuses, unsent, a batch that arrives in the same turn of the event loop as a failure, and sends those that come later', async () => {
    const { client, exporter } = setup();
    client.sendSteps.push(new FakeKafkaError('retry'), 'ok');
    await expect(exporter.export(batchOf([event(1)]), live())).resolves.toMatchObject({ code: 'retry' });
    // A processor with two exports in flight may start the next batch before it hears of the failure.
    const early = await exporter.export(batchOf([event(2)]), live());
    expect(early).toMatchObject({ code: 'retry' });
    expect(errorText(early)).toContain('not sent, because a batch before it was not delivered');
    await backoff();
    await expect(exporter.export(batchOf([event(1)]), live())).resolves.toEqual({ code: 'ok' });
    await expect(exporter.export(batchOf([event(2)]), live())).resolves.toEqual({ code: 'ok' });
    expect(keys(client)).toEqual(['id-1', 'id-2']);
    expect(client.requests()).toHaveLength(3);
  });

  it('removes a waiting batch whose signal aborts, unsent, with the batches behind it, and sends those before it', async () => {
    const { client, exporter } = setup();
    const first = new Deferred();
    client.sendSteps.push(first, 'ok', 'ok');
    const a = exporter.export(batchOf([event(1)]), live());
    await settle();
    const controller = new AbortController();
    const b = exporter.export(batchOf([event(2)]), live());
    const c = exporter.export(batchOf([event(3)]), controller.signal);
    const d = exporter.export(batchOf([event(4)]), live());
    controller.abort(new Error('export timeout'));
    await expect(c).resolves.toMatchObject({ code: 'retry' });
    // d may not overtake c, which goes back to the processor.
    await expect(d).resolves.toMatchObject({ code: 'retry' });
    first.resolve();
    await expect(Promise.all([a, b])).resolves.toEqual([{ code: 'ok' }, { code: 'ok' }]);
    await backoff();
    await expect(exporter.export(batchOf([event(3)]), live())).resolves.toEqual({ code: 'ok' });
    expect(keys(client)).toEqual(['id-1', 'id-2', 'id-3']);
    expect(client.producers).toHaveLength(1);
  });

  it('after an abort in flight, starts the next request only once the aborted one settled, on a new producer', async () => {
    const { client, exporter } = setup();
    const hung = new Deferred();
    client.sendSteps.push(hung, 'ok');
    const controller = new AbortController();
    const a = exporter.export(batchOf([event(1)]), controller.signal);
    await settle();
    const b = exporter.export(batchOf([event(2)]), live());
    controller.abort(new Error('export timeout'));
    await expect(a).resolves.toMatchObject({ code: 'retry' });
    await settle();
    expect(client.requests()).toHaveLength(1); // b waits for the aborted request
    hung.resolve(); // it was written after all
    await expect(b).resolves.toEqual({ code: 'ok' });
    expect(keys(client)).toEqual(['id-1', 'id-2']);
    expect(client.producers).toHaveLength(2);
    expect(client.maxActive).toBe(1);
  });

  it('answers retry (not too_large) for each batch of a coalesced request refused as too large, and coalesces less afterwards', async () => {
    const { client, exporter } = setup();
    const first = new Deferred();
    client.sendSteps.push(first, new FakeKafkaError('too_large'), 'ok', 'ok');
    const a = exporter.export(batchOf([event(1)]), live());
    await settle();
    const b = exporter.export(batchOf([event(2)]), live());
    const c = exporter.export(batchOf([event(3)]), live());
    first.resolve();
    expect(await a).toEqual({ code: 'ok' });
    const [rb, rc] = await Promise.all([b, c]);
    expect(rb).toMatchObject({ code: 'retry' });
    expect(rc).toMatchObject({ code: 'retry' });
    expect(errorText(rb)).toContain('a request of 2 batches was too large');
    // Sent again (as the processor would), they no longer fit in one request together.
    await backoff();
    await expect(Promise.all([exporter.export(batchOf([event(2)]), live()), exporter.export(batchOf([event(3)]), live())])).resolves.toEqual([
      { code: 'ok' },
      { code: 'ok' },
    ]);
    expect(client.requests().map((r) => r.flatMap((t) => t.records.map((x) => x.key)))).toEqual([['id-1'], ['id-2', 'id-3'], ['id-2'], ['id-3']]);
  });
});

describe('KafkaExporter and a record the cluster refuses as too large', () => {
  /** A cluster that refuses, as too large, every request holding a record whose value or key is longer than `limit`. */
  class SizeLimitedClient implements KafkaClient {
    refused = 0;
    constructor(private readonly limit: number) {}
    producer(): ProducerSeam {
      return {
        connect: () => Promise.resolve(),
        send: (topics) => {
          const records = topics.flatMap((t) => t.records);
          const refused = records.some((r) => r.value.length > this.limit || (r.key ?? '').length > this.limit);
          if (refused) this.refused++;
          return refused ? Promise.reject(new FakeKafkaError('too_large')) : Promise.resolve();
        },
        disconnect: () => Promise.resolve(),
      };
    }
    classify(error: unknown): KafkaFailureKind {
      return error instanceof FakeKafkaError ? error.kind : 'reject';
    }
  }

  it.each([
    ['value', { attributes: { blob: 'x'.repeat(5_000) } }],
    ['key', { targetingKey: 'k'.repeat(5_000) }],
  ])('splits a batch down to the event whose %s is too large with one refused request per halving (its halves neither refused unsent nor sent together again), and delivers the rest', async (_, fields) => {
    const client = new SizeLimitedClient(1_000);
    const exporter = new KafkaExporter<Event>({ topic: 'flags', client, logger: silentLogger, maxRecordBytes: Infinity });
    const processor = new BatchProcessor<Event>(exporter, { logger: silentLogger, retry: { initialBackoffMs: 5, maxBackoffMs: 20 } });
    for (let i = 0; i < 64; i++) processor.record(event(i, i === 41 ? fields : {}));
    const report = await processor.close({ timeoutMs: 10_000 });
    expect(report).toMatchObject({ complete: true, exported: 63, dropped: 1, droppedByReason: { too_large: 1 } });
    // Per halving, one refused request (of the half holding the event), and one retry: the other half,
    // which waited behind it. The halves were neither refused unsent nor sent together again.
    expect(client.refused).toBe(Math.log2(64) + 1);
    expect(processor.stats().retries).toBeLessThanOrEqual(Math.log2(64));
  });

  it('takes at once a batch refused unsent and sent again in the same turn (a processor retrying without backoff), instead of refusing it for ever', async () => {
    const { client, exporter } = setup();
    client.sendSteps.push(new FakeKafkaError('reject'));
    const b = batchOf([event(2)]);
    // The processor started b before it heard of a's failure: b is refused; a is dropped (reject), so
    // the processor sends b again at once, within this turn of the event loop.
    const answers = await exporter.export(batchOf([event(1)]), live()).then(async (a) => {
      const results: ExportResult[] = [a];
      for (let i = 0; i < 20 && results.at(-1)?.code !== 'ok'; i++) results.push(await exporter.export(b, live()));
      return results;
    });
    expect(answers.map((r) => r.code)).toEqual(['reject', 'retry', 'ok']);
    expect(keys(client)).toEqual(['id-2']);
  });
});

describe('KafkaExporter auth failures', () => {
  const PASSWORD = 'hunter2-sasl-password';

  afterEach(() => {
    vi.useRealTimers();
  });

  it('answers retry flagged auth, with a redacted error that never holds the password', async () => {
    const { client, exporter } = setup({ sasl: { mechanism: 'scram-sha-512', username: 'svc', password: PASSWORD } });
    client.nextStep = () => new FakeKafkaError('auth', `SASL SCRAM authentication failed for svc (password ${PASSWORD})`);
    const results: ExportResult[] = [];
    for (let i = 0; i < 3; i++) {
      results.push(await exporter.export(batchOf([event(i)]), live()));
      await backoff();
    }
    expect(results.every((r) => r.code === 'retry' && r.auth === true)).toBe(true);
    expect(results.every((r) => 'error' in r && (r.error as TrackpipeError).code === 'TRACKPIPE_ERR_EXPORT_RETRYABLE')).toBe(true);
    expect(results.every((r) => 'error' in r && (r.error as TrackpipeError).details.auth === true)).toBe(true);
    const everything = results.map(errorText).join('\n');
    expect(everything).toContain('the cluster refused the credentials');
    expect(everything).toContain('[REDACTED]');
    expect(everything).not.toContain(PASSWORD);
  });

  it('answers reject flagged auth when retryAuthFailures is false', async () => {
    const { client, exporter } = setup({ retryAuthFailures: false });
    client.sendSteps.push(new FakeKafkaError('auth'));
    await expect(exporter.export(batchOf([event(1)]), live())).resolves.toMatchObject({ code: 'reject', auth: true });
  });

  it('delivers everything through a BatchProcessor once the credentials are fixed, losing nothing', async () => {
    const { client, exporter } = setup();
    let refusals = 3;
    client.nextStep = () => (refusals-- > 0 ? new FakeKafkaError('auth') : 'ok');
    const processor = new BatchProcessor<Event>(exporter, { logger: silentLogger, maxBatchSize: 10, retry: { initialBackoffMs: 1, maxBackoffMs: 5 } });
    for (let i = 0; i < 30; i++) processor.record({ name: 'e', id: `id-${i}`, timestamp: 1 });
    const report = await processor.close({ timeoutMs: 10_000 });
    expect(report).toMatchObject({ complete: true, exported: 30, dropped: 0 });
    expect(processor.stats().failedExports.auth).toBeGreaterThan(0);
    expect(new Set(keys(client)).size).toBe(30);
  });
});

describe('KafkaExporter order per key', () => {
  /**
   * What the processor promises an `ordered` exporter (a stand-in for the far side of that contract):
   * up to `concurrency` exports in flight, in order; a batch answered `retry` goes back in its place and
   * is sent again before every batch after it.
   */
  async function orderedDriver(
    exporter: KafkaExporter<Event>,
    batches: Event[][],
    options: { concurrency: number; abortEvery: number; random: () => number },
  ): Promise<void> {
    const { concurrency, abortEvery, random } = options;
    const pending = batches.map((events, seq) => ({ seq, events }));
    let inFlight = 0;
    let attempts = 0;
    await new Promise<void>((resolve, reject) => {
      const pump = (): void => {
        if (pending.length === 0 && inFlight === 0) resolve();
        // One export per turn of the event loop, so that exports arrive while a request is in flight.
        if (inFlight < concurrency && pending.length > 0) {
          const next = pending.shift()!;
          inFlight++;
          const controller = new AbortController();
          if (++attempts % abortEvery === 0) setImmediate(() => controller.abort(new Error('export timeout')));
          exporter.export(batchOf(next.events), controller.signal).then((result) => {
            inFlight--;
            if (result.code === 'retry') {
              pending.push(next);
              pending.sort((x, y) => x.seq - y.seq);
              setImmediate(pump); // a backoff: at least until the next turn of the event loop
            } else if (result.code === 'ok') {
              // Like the processor, the next export may start as soon as a result is in: a few
              // promise callbacks later, interleaved with the exporter's own.
              let later = Promise.resolve();
              for (let hops = Math.floor(random() * 8); hops > 0; hops--) later = later.then(() => undefined);
              void later.then(pump);
            } else {
              reject(new Error(`unexpected ${result.code}`));
            }
          }, reject);
          setImmediate(pump);
        }
      };
      pump();
    });
  }

  /** A seeded draw in [0, 1) (a linear congruential generator): the same failures for the same seed. */
  const seeded = (seed: number): (() => number) => {
    let state = seed;
    return () => (state = (state * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  };

  it.each(Array.from({ length: 10 }, (_, i) => i + 1))('keeps every key in order under random failures, lost acknowledgements and aborts (seed %i)', async (seed) => {
    const random = seeded(seed);
    const { client, exporter } = setup({ key: (e) => e.targetingKey ?? null });
    // A request fails at once (before writing, or after: a lost acknowledgement), succeeds at once, or
    // takes a turn or two of the event loop to succeed or fail.
    client.nextStep = () => {
      const outcome = random();
      if (outcome < 0.1) return new FakeKafkaError('retry');
      if (outcome < 0.2) return new WrittenThenFailed(new FakeKafkaError('retry'));
      if (outcome < 0.4) return 'ok';
      const step = new Deferred();
      const answer = (): void => (outcome < 0.5 ? step.reject(new FakeKafkaError('retry')) : step.resolve());
      setImmediate(() => (random() < 0.5 ? answer() : setImmediate(answer)));
      return step;
    };
    const KEYS = 10;
    const PER_KEY = 40;
    const events: Event[] = [];
    for (let n = 0; n < PER_KEY; n++) for (let k = 0; k < KEYS; k++) events.push(event(n * KEYS + k, { targetingKey: `user-${k}`, attributes: { seq: n } }));
    const batches: Event[][] = [];
    for (let i = 0; i < events.length; i += 7) batches.push(events.slice(i, i + 7));

    await orderedDriver(exporter, batches, { concurrency: 3, abortEvery: 9, random });

    const firstSeen = new Map<string, number[]>();
    const seen = new Set<string>();
    for (const record of client.records()) {
      const parsed = JSON.parse(record.value) as Event;
      if (seen.has(parsed.id)) continue; // a duplicate: a consumer deduplicating on id skips it
      seen.add(parsed.id);
      const list = firstSeen.get(record.key!) ?? [];
      list.push(parsed.attributes!.seq as number);
      firstSeen.set(record.key!, list);
    }
    expect(seen.size).toBe(events.length);
    for (const [, sequence] of firstSeen) expect(sequence).toEqual([...sequence].sort((x, y) => x - y));
    expect(client.maxActive).toBe(1);
  });

  it.each([1, 2, 3, 4, 5])('keeps every key in order through a BatchProcessor retrying with no backoff, under random failures, lost acknowledgements and refusals as too large (seed %i)', async (seed) => {
    const random = seeded(seed);
    const { client, exporter } = setup({ key: (e) => e.targetingKey ?? null });
    client.nextStep = () => {
      const outcome = random();
      if (outcome < 0.1) return new FakeKafkaError('retry');
      if (outcome < 0.15) return new FakeKafkaError('too_large');
      if (outcome < 0.25) return new WrittenThenFailed(new FakeKafkaError('retry'));
      if (outcome < 0.5) return 'ok';
      const step = new Deferred();
      setImmediate(() => (outcome < 0.6 ? step.reject(new FakeKafkaError('retry')) : step.resolve()));
      return step;
    };
    // Retries (and the halves of a split batch) go out at once, in the promise callbacks of the failure.
    const processor = new BatchProcessor<Event>(exporter, { logger: silentLogger, maxBatchSize: 8, flushIntervalMs: 1, retry: { initialBackoffMs: 0, maxBackoffMs: 0 } });
    const KEYS = 10;
    const PER_KEY = 30;
    for (let n = 0; n < PER_KEY; n++) {
      for (let k = 0; k < KEYS; k++) processor.record(event(n * KEYS + k, { targetingKey: `user-${k}`, attributes: { seq: n } }));
      if (n % 5 === 4) await settle();
    }
    expect(await processor.close({ timeoutMs: 20_000 })).toMatchObject({ complete: true });
    // Only an event refused as too large on its own is dropped (a gap in its key's sequence, never a reordering).
    const stats = processor.stats();
    expect(stats).toMatchObject({ recorded: KEYS * PER_KEY, exported: KEYS * PER_KEY - stats.dropped, droppedByReason: { too_large: stats.dropped } });

    const firstSeen = new Map<string, number[]>();
    const seen = new Set<string>();
    for (const record of client.records()) {
      const parsed = JSON.parse(record.value) as Event;
      if (seen.has(parsed.id)) continue;
      seen.add(parsed.id);
      const list = firstSeen.get(record.key!) ?? [];
      list.push(parsed.attributes!.seq as number);
      firstSeen.set(record.key!, list);
    }
    expect(stats.dropped).toBeLessThan((KEYS * PER_KEY) / 10);
    expect(seen.size).toBe(stats.exported);
    for (const [, sequence] of firstSeen) expect(sequence).toEqual([...sequence].sort((x, y) => x - y));
  });
});
