// The `receivers` section: validated by path, each receiver fed the pipelines it names, started with
// the service and stopped (drained, committed) before the pipelines close. The Kafka consumer is a
// fake of the receiver's seam (our own contract); the receiver, pipelines and service are real.
import type { Recorded } from '@trackpipe/core';
import { issuesOf } from '@trackpipe/core/config';
import { KafkaReceiver, kafkaReceiverConfigSchema } from '@trackpipe/receiver-kafka';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClient, eventRecord } from '../../receiver-kafka/test/helpers/fake-consumer.js';
import { type IngestEvent, type ReceiverFactory, checkServiceConfig, createService, jsonLogger, parseServiceConfig, silentServiceLogger } from '../src/index.js';
import { post } from './support.js';

/** The `kafka` type with a fake consumer behind the seam: same options, same receiver. */
function fakeKafka(client: FakeClient): ReceiverFactory {
  return {
    type: 'kafka',
    options: kafkaReceiverConfigSchema,
    create: (options, context) => new KafkaReceiver({ ...(options as object), client, name: context.name, logger: context.logger }, context.collector),
  };
}

const stops: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

function issues(run: () => unknown): { path: string; message: string }[] {
  try {
    run();
  } catch (error) {
    return issuesOf(error);
  }
  throw new Error('no error');
}

describe('the receivers section', () => {
  it('names every bad receiver path, never echoing a value', async () => {
    const document = {
      receivers: [
        { type: 'kafka', topic: 't', brokers: ['b:1'], pipelines: ['a', 'nope'] },
        { type: 'kafka', topic: 't', brokers: ['b:1'] },
        { type: 'rabbit', name: 'r' },
        { type: 'kafka', name: 'bad', brokers: [], topic: 't', groupId: '', sasl: { mechanism: 'plain', username: 'u', password: 'p4ss-secret-x' }, extra: 1 },
        { type: 'kafka', name: 'noTopic', brokers: ['b:1'], highWaterMark: 0.4, lowWaterMark: 0.6 },
      ],
      pipelines: [{ name: 'a', exporters: [{ type: 'console' }] }],
    };
    expect(issues(() => parseServiceConfig(document, { env: {} }))).toEqual([
      { path: 'receivers[0].pipelines[1]', message: 'no such pipeline (known: a)' },
      { path: 'receivers[1].type', message: 'duplicate receiver name (give each receiver a distinct "name")' },
    ]);
    document.receivers[0]!.pipelines = ['a'];
    document.receivers[1]!.name = 'second';
    const check = await checkServiceConfig({ env: { TRACKPIPE_CONFIG: JSON.stringify(document) } });
    expect(check.issues).toEqual(
      expect.arrayContaining([
        { path: 'receivers[2].type', message: 'unknown receiver type (known: kafka)' },
        { path: 'receivers[3].brokers', message: 'must have at least 1 item' },
        { path: 'receivers[3].groupId', message: 'must not be empty' },
        { path: 'receivers[3].extra', message: 'unknown key' },
      ]),
    );
    expect(JSON.stringify(check.issues)).not.toContain('p4ss-secret-x');
    const config = parseServiceConfig({ ...document, receivers: [document.receivers[4]] }, { env: {} });
    await expect(createService(config, { logger: silentServiceLogger })).rejects.toThrow(/receivers\[0\]\.topic: give either topic or topics[\s\S]*receivers\[0\]\.lowWaterMark: must be less than highWaterMark/);
  });

  it('validates a good receiver entry without connecting, and with --check-connections names an unreachable broker by path', async () => {
    const document = {
      receivers: [{ type: 'kafka', brokers: ['127.0.0.1:1'], topic: 't', groupId: 'g', sasl: { mechanism: 'plain', username: 'u', password: 'hidden-pw-9' } }],
      pipelines: [{ exporters: [{ type: 'console' }] }],
    };
    const env = { TRACKPIPE_CONFIG: JSON.stringify(document) };
    expect((await checkServiceConfig({ env })).issues).toEqual([]);
    const reached = await checkServiceConfig({ env, checkConnections: true, connectTimeoutMs: 1_000 });
    expect(reached.issues).toEqual([{ path: 'receivers[0].brokers[0]', message: expect.stringMatching(/^cannot connect/) as string }]);
    expect(JSON.stringify(reached.issues)).not.toContain('hidden-pw-9');
  });

  it('feeds a receiver only the pipelines it names, starts it with the service and stops it, drained and committed, before the pipelines close', async () => {
    const client = new FakeClient();
    const delivered: Record<string, string[]> = { a: [], b: [] };
    const config = parseServiceConfig(
      {
        service: { http: { port: 0 }, grpc: { enabled: false } },
        receivers: [{ type: 'kafka', name: 'events', brokers: ['127.0.0.1:9'], topic: 't', pipelines: ['b'], commitIntervalMs: 60_000 }],
        pipelines: [
          { name: 'a', batch: { flushIntervalMs: 20 }, exporters: [{ type: 'function', ref: 'a' }] },
          { name: 'b', batch: { flushIntervalMs: 60_000, maxConcurrentExports: 1 }, exporters: [{ type: 'function', ref: 'b' }] },
        ],
      },
      { env: {} },
    );
    const { service } = await createService(config, {
      logger: silentServiceLogger,
      receivers: [fakeKafka(client)],
      functions: {
        a: (events: readonly Recorded<IngestEvent>[]) => void delivered.a!.push(...events.map((e) => e.id)),
        b: (events: readonly Recorded<IngestEvent>[]) => void delivered.b!.push(...events.map((e) => e.id)),
      },
    });
    const { http } = await service.start();
    const consumer = client.last;
    expect(consumer.calls.slice(0, 2)).toEqual(['connect', 'run']);
    consumer.append('t', 0, (offset) => eventRecord(offset, { id: `k-${offset}`, name: 'from.kafka' }), 25);
    consumer.assign([{ topic: 't', partition: 0 }]);
    await consumer.fetch();
    expect((await post(`${http!.url}/v1/track`, { name: 'from.http', id: 'h-1' })).status).toBe(202);

    const report = await service.shutdown({ timeoutMs: 10_000 });
    expect(report.receivers).toEqual([expect.objectContaining({ name: 'events', drained: true, committed: true })]);
    expect(consumer.committed('t', 0)).toBe('25');
    expect(consumer.calls.filter((c) => /^(pause|commit|disconnect)/.test(c))).toEqual(['pause t/0', 'commit t/0@25', 'disconnect']);
    expect(delivered.b).toEqual([...Array.from({ length: 25 }, (_, i) => `k-${i}`), 'h-1']);
    expect(delivered.a).toEqual(['h-1']); // HTTP ingest feeds every pipeline; the receiver only b
    expect(report.clean).toBe(true);
  });

  it('fails to start when a receiver cannot, stopping the listeners it had started', async () => {
    const client = new FakeClient();
    client.connectError = new Error('connection refused');
    const config = parseServiceConfig(
      {
        service: { http: { port: 0 }, grpc: { enabled: false } },
        receivers: [{ type: 'kafka', brokers: ['127.0.0.1:9'], topic: 't' }],
        pipelines: [{ exporters: [{ type: 'function', ref: 'f' }] }],
      },
      { env: {} },
    );
    const { service, collector } = await createService(config, { logger: silentServiceLogger, receivers: [fakeKafka(client)], functions: { f: () => undefined } });
    stops.push(() => collector.close({ timeoutMs: 1_000 }));
    await expect(service.start()).rejects.toThrow(/receiver kafka: could not join group trackpipe/);
    expect(service.ready).toBe(false);
  });

  it('warns at start about a receiver feeding a pipeline that may reorder batches', async () => {
    const lines: { level: string; msg: string; pipeline?: string }[] = [];
    const logger = jsonLogger({ level: 'debug', write: (line) => lines.push(JSON.parse(line) as { level: string; msg: string }) });
    const config = parseServiceConfig(
      {
        service: { http: { port: 0 }, grpc: { enabled: false } },
        receivers: [{ type: 'kafka', brokers: ['127.0.0.1:9'], topic: 't' }],
        pipelines: [
          { name: 'ordered', batch: { maxConcurrentExports: 1 }, exporters: [{ type: 'function', ref: 'f' }] },
          { name: 'unordered', exporters: [{ type: 'function', ref: 'f' }] },
        ],
      },
      { env: {} },
    );
    const { collector } = await createService(config, { logger, receivers: [fakeKafka(new FakeClient())], functions: { f: () => undefined } });
    stops.push(() => collector.close({ timeoutMs: 1_000 }));
    const warnings = lines.filter((l) => l.level === 'warn' && l.msg.includes('may reorder batches'));
    expect(warnings.map((w) => w.pipeline)).toEqual(['unordered']);
  });
});
