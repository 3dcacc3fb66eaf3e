// Options given in code are checked as the configuration checks them: a duration above 2147483647 ms
// (which Node's timers fire at once: a keep-alive that closes every connection at once, a shutdown
// deadline that cuts the drain) is refused at construction, naming the option's path, and the
// longest one Node can time is taken. The configuration side is in config.test.ts.
import { MemoryExporter } from '@trackpipe/collector-memory';
import { BatchProcessor, type Recorded, TrackpipeError, silentLogger } from '@trackpipe/core';
import { afterEach, describe, expect, it } from 'vitest';
import { type IngestEvent, Ingestor, MemoryIdempotencyStore, TrackpipeService, type TrackpipeServiceOptions } from '../src/index.js';
import { post } from './support.js';

const MAX = 2 ** 31 - 1;
/** Values no timer can wait for, or no duration is. */
const BAD = [2 ** 31, 1e12, Number.POSITIVE_INFINITY, Number.NaN, 1.5, -1, '1000'];

const processors: BatchProcessor<IngestEvent>[] = [];
const services: TrackpipeService[] = [];
afterEach(async () => {
  for (const s of services.splice(0)) await s.shutdown({ timeoutMs: 2_000 });
  for (const p of processors.splice(0)) await p.close({ timeoutMs: 0 });
});

function collector(): BatchProcessor<IngestEvent> {
  const processor = new BatchProcessor<IngestEvent>(new MemoryExporter<Recorded<IngestEvent>>(), { logger: silentLogger });
  processors.push(processor);
  return processor;
}

/** The TrackpipeError thrown by `build`. */
function refusal(build: () => unknown): TrackpipeError {
  try {
    build();
  } catch (error) {
    expect(error).toBeInstanceOf(TrackpipeError);
    return error as TrackpipeError;
  }
  throw new Error('it was built');
}

/** Each duration of TrackpipeServiceOptions, by the path errors name, with the smallest value it takes and how to set it. */
const DURATIONS: readonly [string, number, (value: unknown) => Partial<TrackpipeServiceOptions>][] = [
  ['http.requestTimeoutMs', 1, (v) => ({ http: { port: 0, requestTimeoutMs: v as number } })],
  ['http.headersTimeoutMs', 1, (v) => ({ http: { port: 0, headersTimeoutMs: v as number } })],
  ['http.keepAliveTimeoutMs', 1, (v) => ({ http: { port: 0, keepAliveTimeoutMs: v as number } })],
  ['grpc.requestTimeoutMs', 1, (v) => ({ grpc: { port: 0, requestTimeoutMs: v as number } })],
  ['backpressureLogIntervalMs', 0, (v) => ({ backpressureLogIntervalMs: v as number })],
  ['idempotency.ttlMs', 1, (v) => ({ idempotency: { ttlMs: v as number } })],
  ['shutdownTimeoutMs', 0, (v) => ({ shutdownTimeoutMs: v as number })],
];

describe('durations given in code', () => {
  it.each(DURATIONS)('%s: refused above 2147483647 ms (and when not an integer in range) by path, taken at 2147483647', (path, min, set) => {
    for (const bad of [...BAD, min - 1]) {
      const error = refusal(() => new TrackpipeService({ collector: collector(), http: false, grpc: false, ...set(bad) }));
      expect(error.code).toBe('TRACKPIPE_ERR_OPTIONS_INVALID');
      expect(error.message).toContain(`${path} must be an integer from ${min} to ${MAX} (got `);
      expect(error.details).toMatchObject({ option: path });
    }
    for (const good of [min, MAX]) expect(new TrackpipeService({ collector: collector(), http: false, grpc: false, ...set(good) })).toBeInstanceOf(TrackpipeService);
  });

  it('the exported parts check them the same way: Ingestor logIntervalMs and MemoryIdempotencyStore ttlMs', () => {
    const ingestor = refusal(() => new Ingestor(collector(), { logIntervalMs: 2 ** 31 }));
    expect(ingestor.message).toContain(`logIntervalMs must be an integer from 0 to ${MAX} (got 2147483648)`);
    expect(ingestor.details).toMatchObject({ option: 'logIntervalMs' });
    const store = refusal(() => new MemoryIdempotencyStore({ ttlMs: 2 ** 31 }));
    expect(store.message).toContain(`idempotency.ttlMs must be an integer from 1 to ${MAX} (got 2147483648)`);
    expect(store.details).toMatchObject({ option: 'idempotency.ttlMs' });
    expect(new MemoryIdempotencyStore({ ttlMs: MAX }).size).toBe(0);
  });

  it('retryAfterSeconds is refused above 3600 (and when not an integer from 0) by path, by the service and by the Ingestor, and taken at 3600', () => {
    for (const bad of [3601, 1e12, Number.POSITIVE_INFINITY, Number.NaN, 1.5, -1, '1']) {
      const service = refusal(() => new TrackpipeService({ collector: collector(), http: false, grpc: false, retryAfterSeconds: bad as number }));
      expect(service.code).toBe('TRACKPIPE_ERR_OPTIONS_INVALID');
      expect(service.message).toContain('retryAfterSeconds must be an integer from 0 to 3600 (got ');
      expect(service.details).toMatchObject({ option: 'retryAfterSeconds' });
      expect(refusal(() => new Ingestor(collector(), { retryAfterSeconds: bad as number })).message).toContain('retryAfterSeconds must be an integer from 0 to 3600');
    }
    for (const good of [0, 3600]) expect(new TrackpipeService({ collector: collector(), http: false, grpc: false, retryAfterSeconds: good })).toBeInstanceOf(TrackpipeService);
  });

  it('shutdown({ timeoutMs }) past 2147483647 is refused naming timeoutMs, and the service keeps serving until a valid shutdown', async () => {
    const service = new TrackpipeService({ collector: collector(), http: { port: 0 }, grpc: false });
    services.push(service);
    const { http } = await service.start();
    for (const bad of [2 ** 31, Number.POSITIVE_INFINITY, -1]) {
      const rejected = await service.shutdown({ timeoutMs: bad }).then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(rejected).toBeInstanceOf(TrackpipeError);
      expect((rejected as TrackpipeError).message).toContain(`timeoutMs must be an integer from 0 to ${MAX}`);
      expect((rejected as TrackpipeError).details).toMatchObject({ option: 'timeoutMs' });
    }
    expect(service.ready).toBe(true);
    expect((await post(`${http!.url}/v1/track`, JSON.stringify({ name: 'still-up' }), { raw: true })).status).toBe(202);
    const { report } = await service.shutdown({ timeoutMs: MAX });
    expect(report.exported).toBe(1);
  });
});
