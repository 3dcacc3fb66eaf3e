import { type Server, type Socket, connect, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { BatchProcessor, silentLogger } from '@trackpipe/core';
import { HttpExporter } from '@trackpipe/exporter-http';
import { afterEach, describe, expect, it } from 'vitest';
import { startService } from './support.js';

// App → service over a connection that is reset after the service read the body and answered: the
// app never sees the 202 and sends the batch again, with the same Idempotency-Key. The service
// answers the repeat from memory instead of queueing it again: nothing is lost, nothing doubled.

/**
 * A TCP proxy in front of the service, one request per connection: it passes the request on, and
 * for a `share` of them (seeded) destroys the client's connection once the service has answered, so
 * the answer never arrives although the body was stored.
 */
async function resettingProxy(target: { host: string; port: number }, share: number): Promise<{ url: string; resets: () => number; server: Server }> {
  let seed = 20_261_126;
  const random = (): number => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  let resets = 0;
  const server = createServer((client: Socket) => {
    const upstream = connect(target.port, target.host);
    const reset = random() < share;
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => {
      if (reset) {
        resets++;
        client.resetAndDestroy();
        upstream.destroy();
      } else {
        client.write(chunk);
      }
    });
    upstream.on('end', () => client.end());
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/batch`, resets: () => resets, server };
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

describe('an application exporting to the service through connections reset after the answer', () => {
  it('delivers every event once: the retries of a batch carry its Idempotency-Key and the service replays its 202', async () => {
    const started = await startService({ grpc: false });
    closers.push(async () => void (await started.service.shutdown({ timeoutMs: 5_000 })));
    const { port } = new URL(started.url);
    const proxy = await resettingProxy({ host: '127.0.0.1', port: Number(port) }, 0.3);
    closers.push(() => new Promise((resolve) => proxy.server.close(() => resolve())));

    const exporter = new HttpExporter({ url: proxy.url, envelopeKey: 'batch', keepAlive: false, compression: 'none' });
    const app = new BatchProcessor(exporter, { maxQueueSize: 20_000, maxBatchSize: 100, retry: { initialBackoffMs: 10, maxBackoffMs: 50 }, logger: silentLogger });
    const ids: string[] = [];
    for (let i = 0; i < 20_000; i++) {
      const event = { name: 'chaos.event', attributes: { i } };
      app.record(event);
      ids.push((event as { id?: string }).id!);
    }
    const report = await app.close({ timeoutMs: 60_000 });
    await started.processor.flush({ timeoutMs: 10_000 });

    const delivered = started.memory.events.map((e) => e.id);
    const distinct = new Set(delivered);
    console.log(`idempotent chaos: ${ids.length} events, ${proxy.resets()} answers cut after the body was stored, ${delivered.length} delivered, ${distinct.size} distinct`);
    expect(proxy.resets()).toBeGreaterThan(10);
    expect(report).toMatchObject({ complete: true, exported: 20_000, dropped: 0 });
    expect(distinct.size).toBe(20_000);
    expect(ids.every((id) => distinct.has(id))).toBe(true);
    expect(delivered.length).toBe(20_000); // no duplicates at the service's output
  }, 120_000);
});
