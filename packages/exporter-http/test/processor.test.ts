import { afterEach, describe, expect, it } from 'vitest';
import { BatchProcessor, type CollectorStats, silentLogger, type TelemetryEvent } from '@trackpipe/core';
import { HttpExporter } from '@trackpipe/exporter-http';
import { TestServer } from './helpers/test-server.js';

let server: TestServer | undefined;
let processor: BatchProcessor | undefined;
afterEach(async () => {
  await processor?.close({ timeoutMs: 1000 });
  await server?.stop();
  processor = undefined;
  server = undefined;
});

function expectIdentity(stats: CollectorStats): void {
  expect(stats.recorded).toBe(stats.exported + stats.dropped + stats.queued + stats.inFlight);
}

describe('HttpExporter under a real BatchProcessor', () => {
  it('splits batches a server answers 413 to until every event is accepted, and drops alone an event too large by itself', async () => {
    const MAX_EVENTS = 7;
    const received = new Map<string, number>();
    let tooLarge = 0;
    server = await TestServer.start({
      handler: (request) => {
        const list = request.json() as { id: string; attributes?: { huge?: boolean } }[];
        if (list.length > MAX_EVENTS || list.some((e) => e.attributes?.huge === true)) {
          tooLarge++;
          return { status: 413, body: 'payload too large' };
        }
        for (const e of list) received.set(e.id, (received.get(e.id) ?? 0) + 1);
        return { status: 200 };
      },
    });
    processor = new BatchProcessor(new HttpExporter({ url: server.url() }), { maxBatchSize: 64, logger: silentLogger });
    const recorded: TelemetryEvent[] = [];
    for (let i = 0; i < 200; i++) {
      const event: TelemetryEvent = { name: 'split.me', attributes: { i, huge: i === 77 } };
      processor.record(event);
      recorded.push(event);
    }
    const report = await processor.flush({ timeoutMs: 20_000 });

    expect(report.complete).toBe(true);
    expect(tooLarge).toBeGreaterThan(0);
    const stats = processor.stats();
    expect(stats.exported).toBe(199);
    expect(stats.droppedByReason.too_large).toBe(1);
    expect(stats.dropped).toBe(1);
    expectIdentity(stats);
    for (const event of recorded) {
      expect(received.get(event.id!)).toBe(event.attributes?.huge === true ? undefined : 1);
    }
  });

  it('counts an OTLP partial success as exported minus the rejected records', async () => {
    server = await TestServer.start({
      handler: () => ({ status: 200, body: JSON.stringify({ partialSuccess: { rejectedLogRecords: 2, errorMessage: 'invalid attribute' } }) }),
    });
    const errors: string[] = [];
    processor = new BatchProcessor(new HttpExporter({ url: server.url('/v1/logs'), format: 'otlp' }), {
      maxBatchSize: 10,
      logger: silentLogger,
      onError: (error) => errors.push(error.code),
    });
    for (let i = 0; i < 10; i++) processor.record({ name: 'partial', attributes: { i } });
    await processor.flush({ timeoutMs: 20_000 });
    const stats = processor.stats();
    expect(stats.exported).toBe(8);
    expect(stats.droppedByReason.rejected).toBe(2);
    expect(errors).toContain('TRACKPIPE_ERR_EXPORT_REJECTED');
    expectIdentity(stats);
  });

  it('drops a batch the server rejects permanently, without retrying it', async () => {
    server = await TestServer.start({ handler: () => ({ status: 400, body: 'schema mismatch' }) });
    const messages: string[] = [];
    processor = new BatchProcessor(new HttpExporter({ url: server.url() }), {
      maxBatchSize: 5,
      logger: silentLogger,
      onError: (error) => messages.push(error.message),
    });
    for (let i = 0; i < 5; i++) processor.record({ name: 'bad' });
    await processor.flush({ timeoutMs: 20_000 });
    const stats = processor.stats();
    expect(server.requests).toHaveLength(1);
    expect(stats.droppedByReason.rejected).toBe(5);
    expect(stats.retries).toBe(0);
    expect(messages.some((m) => m.includes('HTTP 400') && m.includes('schema mismatch'))).toBe(true);
  });
});
