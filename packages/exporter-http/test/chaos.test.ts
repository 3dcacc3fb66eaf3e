import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { BatchProcessor, silentLogger, type TelemetryEvent } from '@trackpipe/core';
import { HttpExporter } from '@trackpipe/exporter-http';
import { type ReceivedRequest, seededRandom, TestServer } from './helpers/test-server.js';

const EVENTS = 100_000;
const BURST = 2_000;
const BATCH = 200;
const SEED = 0x7ac4_1e;

let server: TestServer | undefined;
afterAll(async () => {
  await server?.stop();
});

describe('chaos: a flaky server behind a BatchProcessor', () => {
  it('delivers every one of 100 000 events at least once when 30 % of requests get 503 and 5 % of connections die', async () => {
    const failure = seededRandom(SEED);
    const received = new Map<string, number>();
    const counts = { ok: 0, unavailable: 0, destroyed: 0, destroyedAfterStoring: 0 };
    const store = (request: ReceivedRequest): void => {
      for (const event of request.json() as { id: string }[]) received.set(event.id, (received.get(event.id) ?? 0) + 1);
    };
    server = await TestServer.start({
      handler: (request) => {
        const roll = failure();
        if (roll < 0.05) {
          counts.destroyed++;
          // Half the time the server has already stored the batch when the connection dies: the client
          // cannot know, retries, and the events arrive twice (at-least-once delivery).
          if (failure() < 0.5) {
            counts.destroyedAfterStoring++;
            store(request);
          }
          return { destroy: true };
        }
        if (roll < 0.35) {
          counts.unavailable++;
          return { status: 503, body: 'try again' };
        }
        counts.ok++;
        store(request);
        return { status: 200 };
      },
    });

    const processor = new BatchProcessor(new HttpExporter({ url: server.url() }), {
      maxQueueSize: EVENTS,
      maxBatchSize: BATCH,
      maxConcurrentExports: 2,
      flushIntervalMs: 20,
      exportTimeoutMs: 20_000,
      retry: { initialBackoffMs: 5, maxBackoffMs: 50, maxElapsedMs: 600_000 },
      random: seededRandom(SEED + 1),
      logger: silentLogger,
    });

    const ids: string[] = [];
    for (let sent = 0; sent < EVENTS; sent += BURST) {
      for (let i = sent; i < sent + BURST; i++) {
        const event: TelemetryEvent = { name: 'chaos.event', attributes: { i } };
        processor.record(event);
        ids.push(event.id!);
      }
      const s = processor.stats();
      expect(s.recorded).toBe(s.exported + s.dropped + s.queued + s.inFlight);
      await yieldToLoop();
    }
    const report = await processor.close({ timeoutMs: 120_000 });

    const stats = processor.stats();
    expect(report.complete).toBe(true);
    expect(stats.recorded).toBe(EVENTS);
    expect(stats.exported).toBe(EVENTS);
    expect(stats.dropped).toBe(0);
    expect(stats.queued + stats.inFlight).toBe(0);
    expect(stats.recorded).toBe(stats.exported + stats.dropped + stats.queued + stats.inFlight);
    // The faults really happened, and the processor retried through them.
    expect(counts.unavailable).toBeGreaterThan(0);
    expect(counts.destroyed).toBeGreaterThan(0);
    expect(stats.retries).toBeGreaterThanOrEqual(counts.unavailable + counts.destroyed);

    const missing = ids.filter((id) => !received.has(id));
    expect(missing).toEqual([]);
    expect(received.size).toBe(EVENTS);
    let duplicates = 0;
    for (const n of received.values()) duplicates += n - 1;
    // Only a batch stored before its connection died can arrive twice.
    expect(duplicates).toBeLessThanOrEqual(counts.destroyedAfterStoring * BATCH);
    console.log(
      `chaos: ${EVENTS} events, ${server.requests.length} requests (${counts.ok} ok, ${counts.unavailable} × 503, ` +
        `${counts.destroyed} connections destroyed, ${counts.destroyedAfterStoring} of them after storing), ` +
        `${stats.retries} retries, ${duplicates} duplicate deliveries, 0 dropped`,
    );
  });
});
