import { afterEach, describe, expect, it } from 'vitest';
import { BatchProcessor, silentLogger } from '@trackpipe/core';
import { HttpExporter } from '@trackpipe/exporter-http';
import { type Reply, TestServer, waitFor } from './helpers/test-server.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

describe('a destination that hangs requests', () => {
  it('keeps delivering past a dozen hung requests: the default pool has a connection for each request that stalled', async () => {
    const held: (() => void)[] = [];
    const stored: string[] = [];
    server = await TestServer.start({
      handler: (request) => {
        const events = request.json() as { name: string; id: string }[];
        const store = (): Reply => {
          for (const e of events) stored.push(e.id);
          return { status: 200 };
        };
        if (events[0]?.name !== 'hang') return store();
        return new Promise<Reply>((resolve) => held.push(() => resolve(store())));
      },
    });
    const processor = new BatchProcessor(new HttpExporter({ url: server.url() }), { maxBatchSize: 1, exportTimeoutMs: 60_000, logger: silentLogger });
    processor.record({ name: 'quick' });
    expect((await processor.flush()).complete).toBe(true); // the typical duration is known
    for (let i = 1; i <= 12; i++) {
      processor.record({ name: 'hang' });
      await waitFor(() => held.length === i, 5_000, `hung request ${i} to reach the server`);
    }
    processor.record({ name: 'after' });
    await waitFor(() => processor.stats().exported === 2, 5_000, 'the event recorded after twelve hung requests');
    expect(stored).toHaveLength(2);
    expect(processor.stats()).toMatchObject({ inFlight: 12, batchesInFlight: 12 });
    for (const release of held) release();
    expect(await processor.close()).toMatchObject({ complete: true, exported: 12 });
    expect(new Set(stored).size).toBe(14);
  });
});
