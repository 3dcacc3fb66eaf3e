import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TrackpipeError } from '@trackpipe/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createService, defaultServiceConfig, loadServiceConfig, parseServiceConfig } from '../src/index.js';
import { fastAndSlow, post, waitFor } from './support.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'trackpipe-service-config-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function configErrorOf(fn: () => unknown): TrackpipeError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(TrackpipeError);
    expect((error as TrackpipeError).code).toBe('TRACKPIPE_ERR_CONFIG_INVALID');
    return error as TrackpipeError;
  }
  throw new Error('no error was thrown');
}

describe('service configuration', () => {
  it('applies the defaults of the service section', () => {
    const config = parseServiceConfig({ pipelines: [{ exporters: [{ type: 'console' }] }] }, { env: {} });
    expect(config.service).toMatchObject({
      http: { enabled: true, host: '127.0.0.1', port: 8080, maxBodyBytes: 4 * 1024 * 1024 },
      grpc: { enabled: true, host: '127.0.0.1', port: 50051 },
      auth: { apiKeys: [] },
      backpressure: { highWaterMark: 1, retryAfterSeconds: 1 },
      shutdownTimeoutMs: 10_000,
      logLevel: 'info',
    });
    expect(config.core.pipelines[0]?.name).toBe('default');
  });

  it('refuses a duration Node cannot time (above 2147483647 ms: the timer would fire at once) by path, and takes the longest it can', () => {
    const at = (value: number) => ({
      service: {
        http: { requestTimeoutMs: value, headersTimeoutMs: value, keepAliveTimeoutMs: value },
        grpc: { requestTimeoutMs: value },
        backpressure: { logIntervalMs: value },
        idempotency: { ttlMs: value },
        shutdownTimeoutMs: value,
      },
      pipelines: [{ exporters: [{ type: 'console' }] }],
    });
    const error = configErrorOf(() => parseServiceConfig(at(2 ** 31), { env: {} }));
    for (const path of [
      'service.http.requestTimeoutMs',
      'service.http.headersTimeoutMs',
      'service.http.keepAliveTimeoutMs',
      'service.grpc.requestTimeoutMs',
      'service.backpressure.logIntervalMs',
      'service.idempotency.ttlMs',
      'service.shutdownTimeoutMs',
    ]) {
      expect(error.message).toContain(`${path}: must be an integer from`);
    }
    expect(parseServiceConfig(at(2 ** 31 - 1), { env: {} }).service.shutdownTimeoutMs).toBe(2 ** 31 - 1);
  });

  it('refuses a retryAfterSeconds above 3600 (an hour: a value meant in ms would tell clients to stay away for hours) by path, and takes 0 and 3600', () => {
    const at = (retryAfterSeconds: unknown) => ({ service: { backpressure: { retryAfterSeconds } }, pipelines: [{ exporters: [{ type: 'console' }] }] });
    for (const bad of [3601, 5_000, 1e12, -1, 1.5]) {
      expect(configErrorOf(() => parseServiceConfig(at(bad), { env: {} })).message).toContain(
        'service.backpressure.retryAfterSeconds: must be an integer from 0 to 3600',
      );
    }
    for (const good of [0, 3600]) expect(parseServiceConfig(at(good), { env: {} }).service.backpressure.retryAfterSeconds).toBe(good);
  });

  it('refuses HTTP and gRPC on one port of one interface by path, and allows it on different interfaces or with gRPC off', () => {
    const config = (http: object, grpc: object) => ({ service: { http, grpc }, pipelines: [{ exporters: [{ type: 'console' }] }] });
    for (const [http, grpc] of [
      [{ port: 9000 }, { port: 9000 }],
      [{ port: 9000, host: '0.0.0.0' }, { port: 9000, host: '127.0.0.1' }],
      // One interface spelled two ways: an IPv6 address in full and shortened, in brackets, a host name in capitals, the IPv6 wildcard in full.
      [{ port: 9000, host: '::1' }, { port: 9000, host: '0:0:0:0:0:0:0:1' }],
      [{ port: 9000, host: '[::1]' }, { port: 9000, host: '::1' }],
      [{ port: 9000, host: 'LOCALHOST' }, { port: 9000, host: 'localhost' }],
      [{ port: 9000, host: '0:0:0:0:0:0:0:0' }, { port: 9000, host: '127.0.0.1' }],
    ] as const) {
      expect(configErrorOf(() => parseServiceConfig(config(http, grpc), { env: {} })).message).toContain('service.grpc.port: must differ from service.http.port');
    }
    expect(parseServiceConfig(config({ port: 9000, host: '127.0.0.1' }, { port: 9000, host: '127.0.0.2' }), { env: {} }).service.grpc.port).toBe(9000);
    expect(parseServiceConfig(config({ port: 9000, host: '::1' }, { port: 9000, host: '::2' }), { env: {} }).service.grpc.port).toBe(9000);
    expect(parseServiceConfig(config({ port: 9000 }, { port: 9000, enabled: false }), { env: {} }).service.grpc.enabled).toBe(false);
    expect(parseServiceConfig(config({ port: 0 }, { port: 0 }), { env: {} }).service.http.port).toBe(0);
  });

  it('refuses core\'s metrics server on the port of an ingest listener by path (it starts first, and the listener could never bind)', () => {
    const config = (metrics: object, service: object = {}) => ({ service, metrics, pipelines: [{ exporters: [{ type: 'console' }] }] });
    const http = configErrorOf(() => parseServiceConfig(config({ port: 9100 }, { http: { port: 9100 } }), { env: {} }));
    expect(http.message).toContain('metrics.port: must differ from service.http.port');
    const grpc = configErrorOf(() => parseServiceConfig(config({ port: 9101, host: '0.0.0.0' }, { grpc: { port: 9101 } }), { env: {} }));
    expect(grpc.message).toContain('metrics.port: must differ from service.grpc.port');
    expect(parseServiceConfig(config({ port: 9100 }, { http: { port: 9100, enabled: false } }), { env: {} }).core.metrics.port).toBe(9100);
    expect(parseServiceConfig(config({ port: 9100, host: '127.0.0.2' }, { http: { port: 9100 } }), { env: {} }).core.metrics.port).toBe(9100);
    expect(parseServiceConfig(config({ port: 0 }, { http: { port: 0 } }), { env: {} }).core.metrics.port).toBe(0);
  });

  it('refuses a high-water mark that leaves a pipeline\'s queue no room at all (every request would be refused), by path', () => {
    const config = (highWaterMark: number, maxQueueSize?: number) => ({
      service: { backpressure: { highWaterMark } },
      pipelines: [
        { name: 'roomy', exporters: [{ type: 'console' }] },
        { name: 'tiny', ...(maxQueueSize === undefined ? {} : { batch: { maxQueueSize } }), exporters: [{ type: 'console' }] },
      ],
    });
    const error = configErrorOf(() => parseServiceConfig(config(0.9, 1), { env: {} }));
    expect(error.message).toContain('service.backpressure.highWaterMark: leaves no room in the queues of pipelines[1]');
    expect(error.message).not.toContain('pipelines[0]');
    expect(configErrorOf(() => parseServiceConfig(config(1e-300), { env: {} })).message).toContain('pipelines[0] (floor(batch.maxQueueSize × highWaterMark) is 0 events)');
    expect(parseServiceConfig(config(1, 1), { env: {} }).service.backpressure.highWaterMark).toBe(1);
    expect(parseServiceConfig(config(0.5, 2), { env: {} }).service.backpressure.highWaterMark).toBe(0.5);
  });

  it('substitutes ${env:NAME} in API keys, and names a missing variable by path without any value', () => {
    const input = { service: { auth: { apiKeys: ['${env:KEY_A}'] } }, pipelines: [{ exporters: [{ type: 'console' }] }] };
    expect(parseServiceConfig(input, { env: { KEY_A: 'sk-live-1' } }).service.auth.apiKeys).toEqual(['sk-live-1']);
    const error = configErrorOf(() => parseServiceConfig(input, { env: {} }));
    expect(error.message).toContain('service.auth.apiKeys[0]: environment variable KEY_A is not set');
  });

  it('reports problems of the service section and of the pipelines together, by path, never echoing values', () => {
    const error = configErrorOf(() =>
      parseServiceConfig(
        { service: { http: { port: 70_000 }, backpressure: { highWaterMark: 2 }, colour: 'very-secret' }, pipelines: [{ exporters: [] }] },
        { env: {} },
      ),
    );
    expect(error.message).toContain('service.http.port: must be an integer from 0 to 65535');
    expect(error.message).toContain('service.backpressure.highWaterMark: must be <= 1');
    expect(error.message).toContain('service.colour: unknown key');
    expect(error.message).toContain('pipelines[0].exporters: must list at least one exporter');
    expect(error.message).not.toContain('very-secret');
  });

  it('embeds defaults: NDJSON files in TRACKPIPE_DATA_DIR, or Kafka when KAFKA_BROKERS is set', () => {
    const now = new Date('2024-05-06T07:08:09.123Z');
    const files = defaultServiceConfig({ TRACKPIPE_DATA_DIR: '/data' }, now) as { pipelines: { exporters: Record<string, unknown>[] }[] };
    expect(files.pipelines[0]?.exporters[0]).toEqual({ type: 'file', path: `/data/events-20240506T070809Z-${process.pid}.ndjson` });
    const kafka = defaultServiceConfig({ KAFKA_BROKERS: 'k1:9092, k2:9092', KAFKA_TOPIC: 'flags' }, now) as typeof files;
    expect(kafka.pipelines[0]?.exporters[0]).toEqual({ type: 'kafka', brokers: ['k1:9092', 'k2:9092'], topic: 'flags' });
    const keyed = defaultServiceConfig({ TRACKPIPE_API_KEYS: 'a, b' }, now) as { service: { auth: { apiKeys: string[] } } };
    expect(keyed.service.auth.apiKeys).toEqual(['a', 'b']);
  });

  it('loads a YAML file, or TRACKPIPE_CONFIG holding the configuration itself', async () => {
    const file = join(dir, 'c.yaml');
    writeFileSync(file, 'service:\n  logLevel: debug\npipelines:\n  - name: p1\n    exporters:\n      - type: console\n');
    const fromFile = await loadServiceConfig({ file, env: {} });
    expect(fromFile.service.logLevel).toBe('debug');
    expect(fromFile.source).toBe(file);
    const inline = await loadServiceConfig({ env: { TRACKPIPE_CONFIG: '{"pipelines":[{"name":"p2","exporters":[{"type":"console"}]}]}' } });
    expect(inline.core.pipelines[0]?.name).toBe('p2');
    const embedded = await loadServiceConfig({ env: {} });
    expect(embedded.source).toBe('embedded defaults');
  });

  it('builds a service from config whose admission watches every exporter queue of a fan-out', async () => {
    const { functions, fast, slow, open } = fastAndSlow();
    const config = parseServiceConfig(
      {
        service: { http: { port: 0 }, grpc: { enabled: false } },
        pipelines: [
          {
            batch: { maxQueueSize: 5, maxBatchSize: 5, maxConcurrentExports: 1, flushIntervalMs: 60_000 },
            exporters: [
              { type: 'function', name: 'fast', ref: 'fast' },
              { type: 'function', name: 'slow', ref: 'slow' },
            ],
          },
        ],
        metrics: { enabled: true },
      },
      { env: {} },
    );
    const { service } = await createService(config, { functions });
    const { http } = await service.start();
    try {
      const url = http!.url;
      const batch = (p: string) => ({ batch: Array.from({ length: 5 }, (_, i) => ({ id: `${p}${i}`, name: 'x' })) });
      expect((await post(`${url}/v1/batch`, batch('a'))).status).toBe(202);
      await waitFor(() => fast.length === 5, 10_000, 'the fast exporter');
      expect((await post(`${url}/v1/batch`, batch('b'))).status).toBe(202);
      await waitFor(() => fast.length === 10, 10_000, 'the fast exporter');
      // The fast queue is empty, the slow one full: refused.
      expect((await post(`${url}/v1/track`, { name: 'c' })).status).toBe(503);
      const metrics = await (await fetch(`${url}/metrics`)).text();
      expect(metrics).toContain('trackpipe_queue_size_events{pipeline="default",exporter="slow"} 5');
    } finally {
      open();
      const report = await service.shutdown({ timeoutMs: 10_000 });
      expect(report.report.complete).toBe(true);
    }
    expect(slow.sort()).toEqual([...fast].sort());
  });

  it('creates the folder of a file exporter', async () => {
    const path = join(dir, 'nested', 'deeper', 'out.ndjson');
    const config = parseServiceConfig(
      { service: { http: { port: 0 }, grpc: { enabled: false } }, pipelines: [{ exporters: [{ type: 'file', path }] }] },
      { env: {} },
    );
    const { service } = await createService(config);
    const { http } = await service.start();
    expect((await post(`${http!.url}/v1/track`, { id: 'f-1', name: 'x' })).status).toBe(202);
    await service.shutdown();
    expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject({ id: 'f-1', name: 'x' });
  });
});
