import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { BatchProcessor, type Exporter, silentLogger, type TelemetryEvent } from '@trackpipe/core';
import { HttpExporter } from '@trackpipe/exporter-http';
import { seededRandom, TestServer } from './helpers/test-server.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

describe('ordering', () => {
  it('does not declare itself ordered: with several exports in flight, batches may arrive in any order', () => {
    const exporter: Exporter<unknown> = new HttpExporter({ url: 'http://127.0.0.1:9/' }) as Exporter<unknown>;
    expect(exporter.ordered).toBeUndefined();
  });

  it('delivers in record order, retries included, with maxConcurrentExports 1, while 25 % of requests fail', async () => {
    const failure = seededRandom(0x0de7);
    const stored: string[] = [];
    let failed = 0;
    server = await TestServer.start({
      handler: (request) => {
        const roll = failure();
        if (roll < 0.2) {
          failed++;
          return { status: 503 };
        }
        if (roll < 0.25) {
          failed++;
          return { destroy: true }; // before storing: a failed request delivers nothing
        }
        for (const e of request.json() as { id: string }[]) stored.push(e.id);
        return { status: 200 };
      },
    });
    const processor = new BatchProcessor(new HttpExporter({ url: server.url() }), {
      maxBatchSize: 25,
      maxConcurrentExports: 1,
      flushIntervalMs: 5,
      retry: { initialBackoffMs: 2, maxBackoffMs: 10, maxElapsedMs: 120_000 },
      logger: silentLogger,
    });
    const recorded: string[] = [];
    for (let burst = 0; burst < 20; burst++) {
      for (let i = 0; i < 100; i++) {
        const event: TelemetryEvent = { name: 'ordered', attributes: { n: burst * 100 + i } };
        processor.record(event);
        recorded.push(event.id!);
      }
      await yieldToLoop();
    }
    const report = await processor.close({ timeoutMs: 60_000 });

    expect(report.complete).toBe(true);
    expect(failed).toBeGreaterThan(5);
    expect(processor.stats()).toMatchObject({ exported: 2_000, dropped: 0 });
    expect(stored).toEqual(recorded);
  });
});
