// Admission through the Collector contract only: headroom() decides 202/503 (a fan-out answers for its
// fullest member), record() assigns the ids the service answers, and persisted() gates the answer.
import { MemoryCollector } from '@trackpipe/collector-memory';
import { afterEach, describe, expect, it } from 'vitest';
import { type IngestEvent, Ingestor, TrackpipeService, createService, parseServiceConfig, silentServiceLogger } from '../src/index.js';
import { fastAndSlow, grpcClient, post, waitFor } from './support.js';

/** A real MemoryCollector whose persisted() resolves only when the test says so (a spool's group commit, held). */
class HeldCommits extends MemoryCollector<IngestEvent> {
  readonly #waiting: ((value: boolean) => void)[] = [];
  calls = 0;
  override persisted(): Promise<boolean> {
    this.calls++;
    return new Promise<boolean>((resolve) => this.#waiting.push(resolve));
  }
  commit(): void {
    for (const resolve of this.#waiting.splice(0)) resolve(true);
  }
}

const stops: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const stop of stops.splice(0)) await stop();
});

async function serve(collector: MemoryCollector<IngestEvent>): Promise<{ url: string; grpc: string }> {
  const service = new TrackpipeService({ collector, http: { port: 0 }, grpc: { port: 0 } });
  const { http, grpc } = await service.start();
  stops.push(() => service.shutdown({ timeoutMs: 2_000 }));
  return { url: http!.url, grpc: grpc!.address };
}

/** Settles `promise` into a flag the test can read while it is pending. */
function track<T>(promise: Promise<T>): { done: boolean; value: Promise<T> } {
  const state = { done: false, value: promise };
  void promise.then(
    () => (state.done = true),
    () => (state.done = true),
  );
  return state;
}

describe('admission through the Collector contract', () => {
  it('answers 202 only once the collector says the events are persisted, and a replay of the key waits as well', async () => {
    const collector = new HeldCommits();
    const { url } = await serve(collector);
    const first = track(post(`${url}/v1/batch`, { batch: [{ name: 'a' }, { name: 'b' }] }, { headers: { 'idempotency-key': 'k-1' } }));
    await waitFor(() => collector.stats().recorded === 2 && collector.calls === 1, 5_000, 'the events to be recorded');
    const replay = track(post(`${url}/v1/batch`, { batch: [{ name: 'a' }, { name: 'b' }] }, { headers: { 'idempotency-key': 'k-1' } }));
    await waitFor(() => collector.calls === 2, 5_000, 'the replay to ask for persistence');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(first.done).toBe(false);
    expect(replay.done).toBe(false);
    collector.commit();
    const [a, b] = await Promise.all([first.value, replay.value]);
    expect(a.status).toBe(202);
    expect(b.status).toBe(202);
    expect(b.body.ids).toEqual(a.body.ids);
    expect(collector.stats().recorded).toBe(2);
  });

  it('answers gRPC OK only once the events are persisted', async () => {
    const collector = new HeldCommits();
    const { grpc } = await serve(collector);
    const client = grpcClient(grpc);
    stops.push(async () => client.close());
    const call = track(client.call('TrackBatch', { events: [{ name: 'g1' }, { name: 'g2' }] }));
    await waitFor(() => collector.calls === 1, 5_000, 'persistence to be asked');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(call.done).toBe(false);
    collector.commit();
    expect((await call.value).accepted).toBe(2);
  });

  it('answers the ids record() assigned, for events sent without one', async () => {
    const collector = new MemoryCollector<IngestEvent>();
    const { url } = await serve(collector);
    const res = await post(`${url}/v1/batch`, { batch: [{ name: 'x' }, { name: 'y', id: 'client-chosen' }] });
    expect(res.status).toBe(202);
    const recorded = collector.getEvents();
    expect(res.body.ids).toEqual(recorded.map((e) => e.id));
    expect(res.body.ids![1]).toBe('client-chosen');
    expect(res.body.ids![0]).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('refuses once the fullest exporter of a fan-out is full, though the others have room', async () => {
    const { functions, fast, slow, open: release } = fastAndSlow();
    const config = parseServiceConfig(
      {
        service: { http: { port: 0 }, grpc: { enabled: false } },
        pipelines: [
          {
            name: 'p',
            batch: { maxQueueSize: 20, maxBatchSize: 10, maxConcurrentExports: 1, flushIntervalMs: 60_000 },
            exporters: [
              { type: 'function', name: 'fast', ref: 'fast' },
              { type: 'function', name: 'slow', ref: 'slow' },
            ],
          },
        ],
      },
      { env: {} },
    );
    const { service, collector } = await createService(config, {
      logger: silentServiceLogger,
      functions,
    });
    const { http } = await service.start();
    stops.push(() => service.shutdown({ timeoutMs: 5_000 }));
    const batch = (n: number, tag: string) => ({ batch: Array.from({ length: n }, (_, i) => ({ name: 'e', id: `${tag}-${i}` })) });
    // The slow exporter holds one batch of 10 in flight; its queue then takes 20 more. The fast one empties its own.
    expect((await post(`${http!.url}/v1/batch`, batch(10, 'a'))).status).toBe(202);
    await waitFor(() => fast.length === 10 && collector.pipelines.get('p')!.exporters.get('slow')!.stats().inFlight === 10, 5_000, 'the first batch');
    expect((await post(`${http!.url}/v1/batch`, batch(20, 'b'))).status).toBe(202);
    await waitFor(() => fast.length === 30, 5_000, 'the fast exporter');
    const refused = await post(`${http!.url}/v1/batch`, batch(1, 'c'));
    expect(refused.status).toBe(503);
    expect(refused.body.error?.code).toBe('overloaded');
    release();
    await waitFor(() => slow.length === 30, 5_000, 'the slow exporter');
    expect((await post(`${http!.url}/v1/batch`, batch(1, 'd'))).status).toBe(202);
  });

  it('learns the largest request that can ever fit from the collector room at the start', () => {
    class Limited extends MemoryCollector<IngestEvent> {
      room = 7;
      override headroom(): number {
        return this.room;
      }
    }
    const limited = new Limited();
    const ingestor = new Ingestor(limited);
    expect(ingestor.limit()).toBe(7);
    limited.room = 3;
    const big = ingestor.admit(Array.from({ length: 8 }, () => ({ name: 'x' })));
    expect(big).toMatchObject({ ok: false, reason: 'too_large' });
    const busy = ingestor.admit(Array.from({ length: 5 }, () => ({ name: 'x' })));
    expect(busy).toMatchObject({ ok: false, reason: 'overloaded' });
    limited.room = 9; // more room than at the start (e.g. a spool that recovered events has drained): the limit grows
    expect(ingestor.admit(Array.from({ length: 8 }, () => ({ name: 'x' }))).ok).toBe(true);
    expect(ingestor.limit()).toBe(9);
  });
});
