import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { BatchProcessor, type CollectorStats, silentLogger, type TelemetryEvent } from '@trackpipe/core';
import { HttpExporter } from '@trackpipe/exporter-http';
import { TestServer, waitFor } from './helpers/test-server.js';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

function expectIdentity(stats: CollectorStats): void {
  expect(stats.recorded).toBe(stats.exported + stats.dropped + stats.queued + stats.inFlight);
}

describe('outage longer than the queue can hold', () => {
  it('drops exactly the overflow as queue_full, loses nothing else, and delivers the rest when the server is back', async () => {
    const received = new Map<string, number>();
    server = await TestServer.start({
      handler: (request) => {
        for (const e of request.json() as { id: string }[]) received.set(e.id, (received.get(e.id) ?? 0) + 1);
        return { status: 200 };
      },
    });
    await server.stop(); // down: the port refuses connections

    const processor = new BatchProcessor(new HttpExporter({ url: server.url() }), {
      maxQueueSize: 1_000,
      maxBatchSize: 100,
      flushIntervalMs: 10,
      retry: { initialBackoffMs: 5, maxBackoffMs: 50, maxElapsedMs: 600_000 },
      logger: silentLogger,
    });
    const ids: string[] = [];
    for (let burst = 0; burst < 12; burst++) {
      for (let i = 0; i < 250; i++) {
        const event: TelemetryEvent = { name: 'outage.event', attributes: { i: burst * 250 + i } };
        processor.record(event);
        ids.push(event.id!);
      }
      await yieldToLoop();
    }
    await waitFor(() => processor.stats().failedExports.retryable >= 3, 20_000, 'exports to fail while the server is down');

    const down = processor.stats();
    expect(down.recorded).toBe(3_000);
    expect(down.exported).toBe(0);
    const retained = down.queued + down.inFlight;
    expect(retained).toBeGreaterThanOrEqual(1_000); // a full queue, plus any batch waiting for its retry
    expect(down.droppedByReason.queue_full).toBe(3_000 - retained);
    expect(down.dropped).toBe(down.droppedByReason.queue_full);
    expectIdentity(down);

    await server.restart();
    const report = await processor.flush({ timeoutMs: 30_000 });
    expect(report.complete).toBe(true);

    const after = processor.stats();
    expect(after.exported).toBe(retained);
    expect(after.dropped).toBe(3_000 - retained);
    expect(after.droppedByReason.queue_full).toBe(3_000 - retained);
    expectIdentity(after);
    expect(received.size).toBe(retained);
    expect([...received.values()].every((n) => n === 1)).toBe(true);
    const recorded = new Set(ids);
    expect([...received.keys()].every((id) => recorded.has(id))).toBe(true);
    // drop-oldest: the newest 1 000 events were never dropped.
    expect(ids.slice(-1_000).every((id) => received.has(id))).toBe(true);
    await processor.close();
  });
});

describe('a server that accepts and never answers', () => {
  it('times exports out at exportTimeoutMs, retries them, and close() returns by its deadline counting the rest as shutdown_timeout', async () => {
    server = await TestServer.start({ handler: () => ({ hang: true }) });
    const processor = new BatchProcessor(new HttpExporter({ url: server.url() }), {
      maxBatchSize: 50,
      maxConcurrentExports: 2,
      exportTimeoutMs: 100,
      retry: { initialBackoffMs: 5, maxBackoffMs: 20, maxElapsedMs: 600_000 },
      logger: silentLogger,
    });
    for (let i = 0; i < 200; i++) processor.record({ name: 'hang.event', attributes: { i } });

    await waitFor(() => processor.stats().failedExports.timeout >= 3 && processor.stats().retries >= 3, 20_000, 'timeouts and retries');
    // Each timed-out export ended its request: the server saw the client close those connections.
    await waitFor(() => server!.clientAborts >= 2, 20_000, 'the server to see aborted requests');

    const deadlineMs = 500;
    const started = Date.now();
    const report = await processor.close({ timeoutMs: deadlineMs });
    const elapsed = Date.now() - started;

    expect(report.complete).toBe(false);
    expect(report.exported).toBe(0);
    expect(report.droppedByReason).toEqual({ shutdown_timeout: 200 });
    expect(report.remaining).toBe(0);
    // Returned at its deadline, not after the hanging requests (generous bound for a loaded machine).
    expect(elapsed).toBeGreaterThanOrEqual(deadlineMs - 50);
    expect(elapsed).toBeLessThan(deadlineMs + 10_000);
    const stats = processor.stats();
    expect(stats.droppedByReason.shutdown_timeout).toBe(200);
    expectIdentity(stats);
    // shutdown() closed the pool: no connection is left open on the server.
    await waitFor(() => server!.openConnections === 0, 20_000, 'pooled connections to close');
  });
});
