import { status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { gatedExporter, grpcClient, grpcFailure, post, startService, waitFor } from './support.js';

type Started = Awaited<ReturnType<typeof startService>>;
const running: Started[] = [];
const clients: { close(): void }[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of running.splice(0)) await s.service.shutdown({ timeoutMs: 5_000 });
});

/**
 * Queue of 10, batches of 10, one export at a time, no timer flush: the first 10 events leave as
 * one held batch, the next 10 wait in the queue. So exactly 20 events fit while the gate is shut.
 */
const tinyQueue = { maxQueueSize: 10, maxBatchSize: 10, maxConcurrentExports: 1, flushIntervalMs: 60_000 };

function events(n: number, prefix: string): { id: string; name: string }[] {
  return Array.from({ length: n }, (_, i) => ({ id: `${prefix}-${i}`, name: 'load.test' }));
}

describe('backpressure', () => {
  it('answers 503 with Retry-After when the queue is full, refuses a batch that does not fit whole, and loses nothing accepted', async () => {
    const slow = gatedExporter();
    const started = await startService({ exporter: slow.exporter, processor: tinyQueue, grpc: false, retryAfterSeconds: 2 });
    running.push(started);
    const { url, processor } = started;
    const accepted: string[] = [];
    const send = async (batch: { id: string; name: string }[]) => {
      const res = await post(`${url}/v1/batch`, { batch });
      if (res.status === 202) accepted.push(...res.body.ids!);
      return res;
    };

    expect((await send(events(8, 'a'))).status).toBe(202);
    const overflow = await send(events(8, 'b')); // 8 queued + 8 > 10: refused whole
    expect(overflow.status).toBe(503);
    expect(overflow.headers.get('retry-after')).toBe('2');
    expect(overflow.body.error?.code).toBe('overloaded');
    expect(processor.stats().recorded).toBe(8);

    expect((await send(events(2, 'c'))).status).toBe(202); // fills the queue: one full batch leaves, held
    await waitFor(() => processor.stats().inFlight === 10, 10_000, 'the full batch to leave the queue');
    expect((await send(events(10, 'd'))).status).toBe(202);
    expect((await send(events(1, 'e'))).status).toBe(503);
    expect(processor.stats().droppedByReason.queue_full).toBe(0);

    slow.open();
    await waitFor(() => slow.delivered.length === accepted.length, 10_000, 'delivery of everything accepted');
    expect(accepted).toHaveLength(20);
    expect(new Set(slow.delivered)).toEqual(new Set(accepted));
    expect((await send(events(5, 'f'))).status).toBe(202); // room again once drained
  });

  it('answers 413 to a batch larger than the high-water limit and 503 past the limit', async () => {
    const slow = gatedExporter();
    const started = await startService({ exporter: slow.exporter, processor: { ...tinyQueue, maxBatchSize: 100 }, grpc: false, highWaterMark: 0.5 });
    running.push(started);
    const { url } = started;
    const tooBig = await post(`${url}/v1/batch`, { batch: events(6, 'x') });
    expect(tooBig.status).toBe(413);
    expect(tooBig.body.error?.message).toContain('at most 5');
    expect((await post(`${url}/v1/batch`, { batch: events(5, 'y') })).status).toBe(202);
    expect((await post(`${url}/v1/track`, { name: 'one more' })).status).toBe(503);
    slow.open();
  });

  it('answers RESOURCE_EXHAUSTED over gRPC when the queue is full, with a retry-after trailer', async () => {
    const slow = gatedExporter();
    const started = await startService({ exporter: slow.exporter, processor: tinyQueue, http: false });
    running.push(started);
    const client = grpcClient(started.grpcAddress);
    clients.push(client);
    const ok = await client.call('TrackBatch', { events: events(10, 'g') });
    expect(ok.accepted).toBe(10);
    await waitFor(() => started.processor.stats().inFlight === 10, 10_000, 'the full batch to leave the queue');
    await client.call('TrackBatch', { events: events(9, 'h') });
    const refused = await grpcFailure(client.call('TrackBatch', { events: events(2, 'i') }));
    expect(refused.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(refused.metadata.get('retry-after')).toEqual(['1']);
    expect((await client.call('TrackEvent', { event: { name: 'fits' } })).id).toMatch(/^[0-9a-f-]{36}$/);
    slow.open();
    await waitFor(() => slow.delivered.length === 20, 10_000, 'delivery');
    expect(started.processor.stats().dropped).toBe(0);
  });

  it('delivers every event it accepted under concurrent HTTP and gRPC load against a slow exporter', async () => {
    const slow = gatedExporter();
    const started = await startService({ exporter: slow.exporter, processor: { maxQueueSize: 50, maxBatchSize: 20, flushIntervalMs: 5 } });
    running.push(started);
    const client = grpcClient(started.grpcAddress);
    clients.push(client);
    const accepted: string[] = [];
    let refused = 0;
    const jobs: Promise<void>[] = [];
    for (let i = 0; i < 60; i++) {
      const batch = events(5, `load-${i}`);
      if (i % 2 === 0) {
        jobs.push(
          post(`${started.url}/v1/batch`, { batch }).then((res) => {
            if (res.status === 202) accepted.push(...res.body.ids!);
            else if (res.status === 503) refused++;
            else throw new Error(`unexpected status ${res.status}`);
          }),
        );
      } else {
        jobs.push(
          client.call('TrackBatch', { events: batch }).then(
            (res) => void accepted.push(...(res.ids ?? [])),
            (error: { code: status }) => {
              if (error.code !== status.RESOURCE_EXHAUSTED) throw error;
              refused++;
            },
          ),
        );
      }
    }
    await Promise.all(jobs);
    expect(refused).toBeGreaterThan(0);
    slow.open();
    const report = await started.service.shutdown({ timeoutMs: 20_000 });
    expect(report.report.complete).toBe(true);
    expect(report.stats.dropped).toBe(0);
    expect(report.accepted).toBe(accepted.length);
    expect(slow.delivered.sort()).toEqual([...accepted].sort());
  });
});
