import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { BatchProcessor, type ExportResult, ExportResults, type Logger, type Recorded, type TelemetryEvent, type TrackpipeError, eventIdTime } from '@trackpipe/core';
import { type ExportAnswer, type ExportStep, MemoryExporter } from '@trackpipe/core/testing';
import { events, identityHolds, idsOf } from './support/events.js';

// The promises users rely on, tried the way a skeptical user would: hostile events, malformed
// exporter answers, timers, hints and deadlines. Nothing escapes record(), no rejection goes
// unhandled, and the accounting identity holds.

const quiet: Logger = { warn: () => undefined, error: () => undefined };
const here = fileURLToPath(new URL('.', import.meta.url));

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
beforeAll(() => process.on('unhandledRejection', onUnhandled));
afterAll(() => process.off('unhandledRejection', onUnhandled));

const HANG: ExportStep = { code: 'hang' };

function setup(...steps: ExportStep[]) {
  const exporter = new MemoryExporter({ name: 'scripted' }).script(...steps);
  const errors: TrackpipeError[] = [];
  const processor = new BatchProcessor(exporter, { logger: quiet, onError: (e) => errors.push(e), flushIntervalMs: 60_000 });
  return { exporter, processor, errors };
}

function revokedProxy(): TelemetryEvent {
  const { proxy, revoke } = Proxy.revocable({ name: 'revoked' }, {});
  revoke();
  return proxy;
}

describe('record() under hostile events', () => {
  const hostile: [string, () => unknown][] = [
    ['an event whose name getter throws', () => ({ get name(): string { throw new Error('boom'); } })],
    ['a revoked proxy', revokedProxy],
    ['a proxy whose every trap throws', () => new Proxy({}, { get: () => { throw new Error('trap'); }, getPrototypeOf: () => { throw new Error('trap'); } })],
    ['an id that is not a string', () => ({ name: 'x', id: 42 })],
    ['a timestamp that is not a finite number', () => ({ name: 'x', timestamp: Number.NaN })],
    ['a getter on id that throws', () => ({ name: 'x', get id(): string { throw new Error('id'); } })],
    ['a symbol', () => Symbol('event')],
    ['a function', () => () => undefined],
  ];

  it.each(hostile)('drops %s as invalid without throwing, and the identity holds', async (_, make) => {
    const { processor, exporter } = setup();
    expect(() => processor.record(make() as never)).not.toThrow();
    processor.record({ name: 'fine' });
    await processor.flush();
    expect(processor.stats()).toMatchObject({ recorded: 2, exported: 1, dropped: 1, droppedByReason: { invalid: 1 } });
    expect(identityHolds(processor.stats())).toBe(true);
    expect(exporter.events.map((e) => e.name)).toEqual(['fine']);
  });

  it('assigns well-formed, unique, time-ordered ids from the record time, whatever timestamp the events carry', async () => {
    const { processor } = setup();
    const uuidV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
    const before = Date.now();
    // A negative, a fractional and a far-future timestamp (1e300: the id's time would be all later ids' time).
    const odd: TelemetryEvent[] = [-5, 1.5, 1e300, 8.64e15, 1_700_000_000_000.25].map((timestamp) => ({ name: 'odd', timestamp }));
    for (const event of odd) processor.record(event);
    const later = events(10);
    for (const event of later) processor.record(event);
    const after = Date.now();
    const ids = [...odd, ...later].map((e) => e.id!);
    for (const id of ids) {
      expect(id).toMatch(uuidV7);
      expect(eventIdTime(id)).toBeGreaterThanOrEqual(before);
      expect(eventIdTime(id)).toBeLessThanOrEqual(after);
    }
    expect([...ids].sort()).toEqual(ids);
    expect(odd.map((e) => e.timestamp)).toEqual([-5, 1.5, 1e300, 8.64e15, 1_700_000_000_000.25]);
    await processor.close();
  });

  it('survives a logger that throws while warning about an invalid event', async () => {
    const processor = new BatchProcessor(new MemoryExporter(), {
      logger: { warn: () => { throw new Error('logger down'); }, error: () => { throw new Error('logger down'); } },
    });
    expect(() => processor.record(null as never)).not.toThrow();
    expect(processor.stats().droppedByReason.invalid).toBe(1);
    await processor.close();
  });

  describe('with trace context on and a span active', () => {
    const provider = new BasicTracerProvider();
    const manager = new AsyncLocalStorageContextManager();
    beforeAll(() => {
      manager.enable();
      context.setGlobalContextManager(manager);
    });
    afterAll(() => {
      context.disable();
      manager.disable();
    });

    it('delivers a frozen event that already has id and timestamp with the span ids, without mutating it', async () => {
      const exporter = new MemoryExporter();
      const processor = new BatchProcessor(exporter, { logger: quiet, traceContext: true });
      const frozen = Object.freeze({ name: 'frozen', id: 'given-id', timestamp: 1_700_000_000_000 });
      const span = provider.getTracer('t').startSpan('work');
      context.with(trace.setSpan(context.active(), span), () => {
        expect(() => processor.record(frozen)).not.toThrow();
      });
      span.end();
      await processor.flush();
      expect(exporter.events).toEqual([
        { name: 'frozen', id: 'given-id', timestamp: 1_700_000_000_000, traceId: span.spanContext().traceId, spanId: span.spanContext().spanId },
      ]);
      expect(frozen).toEqual({ name: 'frozen', id: 'given-id', timestamp: 1_700_000_000_000 });
      expect(processor.stats()).toMatchObject({ recorded: 1, exported: 1, dropped: 0 });
    });
  });
});

describe('malformed exporter answers', () => {
  beforeEach(() => {
    unhandled.length = 0;
  });

  const answers: [string, () => unknown][] = [
    ['reject with indexes that are not a list', () => ({ code: 'reject', indexes: 'x' })],
    ['reject with an index out of range', () => ({ code: 'reject', indexes: [0, 5_000] })],
    ['reject with a fractional index', () => ({ code: 'reject', indexes: [0.5] })],
    ['reject with a count out of range', () => ({ code: 'reject', count: 10_000 })],
    ['an object whose code getter throws', () => ({ get code(): string { throw new Error('getter'); } })],
    ['a revoked proxy', () => { const { proxy, revoke } = Proxy.revocable({ code: 'ok' }, {}); revoke(); return proxy; }],
    ['null', () => null],
    ['a string', () => 'ok'],
    ['an unknown code', () => ({ code: 'maybe' })],
    ['a thenable whose then throws', () => ({ then: () => { throw new Error('then'); } })],
  ];

  it.each(answers)('treats %s as a failed batch with a clear error, keeps the identity and leaves no rejection unhandled', async (_, answer) => {
    const { exporter, processor, errors } = setup();
    exporter.otherwise(((batch) => (batch.events[0]?.name === 'e0' ? answer() : ExportResults.ok())) as ExportAnswer<Recorded<TelemetryEvent>>);
    for (const e of events(1_000)) processor.record(e);
    const flushed = await processor.flush();
    expect(flushed.complete).toBe(true);
    expect(flushed.remaining).toBe(0);
    const s = processor.stats();
    expect(s.recorded).toBe(1_000);
    expect(s.exported + s.dropped).toBe(1_000);
    expect(s.droppedByReason.rejected).toBe(512);
    expect(identityHolds(s)).toBe(true);
    expect(errors.map((e) => e.code)).toEqual(['TRACKPIPE_ERR_EXPORT_FAILED']);
    expect(errors[0]?.message).toMatch(/scripted (answered|threw)/);
    expect(await processor.close()).toMatchObject({ complete: true, remaining: 0 });
    await new Promise((resolve) => setImmediate(resolve));
    expect(unhandled).toEqual([]);
  });
});

describe('timers, hints and order', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('retries two failed concurrent batches in their original order, whichever failed first', async () => {
    const gates: ((result: ExportResult) => void)[] = [];
    const gate: ExportStep = () => new Promise<ExportResult>((resolve) => gates.push(resolve));
    const exporter = new MemoryExporter().script(gate, gate);
    const draws = [0.1, 0.9]; // the later batch, answered first, draws the shorter delay
    const processor = new BatchProcessor(exporter, { logger: quiet, maxBatchSize: 2, maxConcurrentExports: 2, random: () => draws.shift() ?? 0.5 });
    for (const e of events(4)) processor.record(e);
    await vi.advanceTimersByTimeAsync(0);
    expect(gates).toHaveLength(2);
    gates[1]!(ExportResults.retry());
    await vi.advanceTimersByTimeAsync(0);
    gates[0]!(ExportResults.retry());
    const flushed = processor.flush();
    await vi.advanceTimersByTimeAsync(2_000);
    await flushed;
    const [first, second, ...retried] = exporter.calls.map((c) => idsOf(c).join());
    expect(retried).toEqual([first, second]);
    expect(exporter.events.map((e) => e.name)).toEqual(['e0', 'e1', 'e2', 'e3']);
  });

  it('with one export at a time, a failed batch goes before anything recorded after it', async () => {
    const exporter = new MemoryExporter().script(ExportResults.retry());
    const processor = new BatchProcessor(exporter, { logger: quiet, maxBatchSize: 1, maxConcurrentExports: 1 });
    for (const e of events(5)) processor.record(e);
    const flushed = processor.flush();
    await vi.advanceTimersByTimeAsync(10_000);
    await flushed;
    expect(exporter.events.map((e) => e.name)).toEqual(['e0', 'e1', 'e2', 'e3', 'e4']);
  });

  it('lets fresh batches flow past a batch waiting after an isolated failure', async () => {
    const exporter = new MemoryExporter().script(ExportResults.retry());
    const processor = new BatchProcessor(exporter, { logger: quiet, maxBatchSize: 1, maxConcurrentExports: 2, random: () => 0.999 });
    for (const e of events(5)) processor.record(e);
    await vi.advanceTimersByTimeAsync(10);
    // e0 failed and waits ~1 s; e1..e4 went through meanwhile.
    expect(exporter.events.map((e) => e.name)).toEqual(['e1', 'e2', 'e3', 'e4']);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(exporter.events.map((e) => e.name)).toEqual(['e1', 'e2', 'e3', 'e4', 'e0']);
  });

  it('sends a batch when its retry time comes, even while an older batch keeps failing with a growing backoff', async () => {
    const attempts = new Map<string, number>();
    const exporter = new MemoryExporter().otherwise(((batch) => {
      const name = batch.events[0]!.name;
      const n = (attempts.get(name) ?? 0) + 1;
      attempts.set(name, n);
      return name === 'bad' || (name === 'once' && n === 1) ? ExportResults.retry() : ExportResults.ok();
    }));
    const processor = new BatchProcessor(exporter, {
      logger: quiet,
      maxBatchSize: 1,
      maxConcurrentExports: 2,
      retry: { initialBackoffMs: 1_000, maxBackoffMs: 5_000 },
      random: () => 0.5,
    });
    const names = () => exporter.calls.map((c) => `${c.events[0]!.name}@${c.at}`);
    const t0 = Date.now();
    processor.record({ name: 'bad' });
    processor.record({ name: 'ok1' });
    await vi.advanceTimersByTimeAsync(510); // bad failed at 0 (waits 500 ms) and at 500 (waits 1 000 ms)
    processor.record({ name: 'ok2' }); // successes between the failures: the exporter is up
    await vi.advanceTimersByTimeAsync(90);
    processor.record({ name: 'once' }); // fails at 600: waits 500 ms, until 1 100
    processor.record({ name: 'ok3' });
    await vi.advanceTimersByTimeAsync(550);
    // At 1 100 'once' went, and the older 'bad' went with it, first: retries keep their order.
    expect(names().slice(-2)).toEqual([`bad@${t0 + 1_100}`, `once@${t0 + 1_100}`]);
    expect(exporter.events.map((e) => e.name)).toEqual(['ok1', 'ok2', 'ok3', 'once']);
    expect(processor.stats()).toMatchObject({ exported: 4, queued: 1, dropped: 0 });
    const closed = processor.close({ timeoutMs: 0 });
    await vi.advanceTimersByTimeAsync(1);
    expect(await closed).toMatchObject({ complete: false, droppedByReason: { shutdown_timeout: 1 } });
  });

  it('lets a hung export free its slot once it has run 5× longer than usual (at least 50 ms), so the rest keeps flowing', async () => {
    const exporter = new MemoryExporter().script(ExportResults.ok(), HANG, HANG);
    const processor = new BatchProcessor(exporter, { logger: quiet, maxBatchSize: 1, maxConcurrentExports: 2, exportTimeoutMs: 10_000 });
    processor.record({ name: 'first' });
    await processor.flush(); // one quick success: the exporter's typical duration is known
    for (const e of events(10)) processor.record(e);
    await vi.advanceTimersByTimeAsync(49);
    expect(exporter.calls).toHaveLength(3); // two hung exports hold both slots
    await vi.advanceTimersByTimeAsync(1);
    expect(exporter.events.map((e) => e.name)).toEqual(['first', 'e2', 'e3', 'e4', 'e5', 'e6', 'e7', 'e8', 'e9']);
    expect(processor.stats()).toMatchObject({ batchesInFlight: 2, inFlight: 2 });
    await vi.advanceTimersByTimeAsync(12_000); // the hung ones time out and are retried
    expect(processor.stats()).toMatchObject({ exported: 11, dropped: 0, inFlight: 0, failedExports: { timeout: 2 } });
  });

  it('keeps freeing slots when hung exports end in success (the typical duration is a median)', async () => {
    const SLOW: ExportStep = { code: 'ok', delayMs: 5_000 };
    const exporter = new MemoryExporter().script(ExportResults.ok(), SLOW, SLOW, SLOW).otherwise(ExportResults.ok());
    const processor = new BatchProcessor(exporter, { logger: quiet, maxBatchSize: 1, maxConcurrentExports: 2, exportTimeoutMs: 10_000 });
    processor.record({ name: 'first' });
    await processor.flush(); // typical: one quick export
    processor.record({ name: 'a' }); // hangs 5 s (stalled at 50 ms), then succeeds
    await vi.advanceTimersByTimeAsync(5_100);
    expect(processor.stats()).toMatchObject({ exported: 2, inFlight: 0 });
    for (const name of ['b', 'c', 'd']) processor.record({ name }); // b and c hang and hold both slots; d is quick
    await vi.advanceTimersByTimeAsync(1_000);
    // Had a's 5 s entered a mean, the stall threshold would be seconds: b and c would hold both slots for 5 s.
    expect(processor.stats()).toMatchObject({ exported: 3, inFlight: 2 });
    await vi.advanceTimersByTimeAsync(5_000);
    expect(processor.stats()).toMatchObject({ exported: 5, inFlight: 0, dropped: 0 });
  });

  it('raises the stall threshold within half a window when every export became slow', async () => {
    const exporter = new MemoryExporter().otherwise(ExportResults.ok());
    const processor = new BatchProcessor(exporter, { logger: quiet, maxBatchSize: 1, maxConcurrentExports: 2, exportTimeoutMs: 10_000 });
    processor.record({ name: 'first' });
    await processor.flush(); // typical: one quick export
    exporter.otherwise({ code: 'ok', delayMs: 400 }); // from now on every export takes 400 ms
    for (let i = 0; i < 40; i++) {
      processor.record({ name: `slow${i}` });
      await vi.advanceTimersByTimeAsync(500);
    }
    // The first exports stalled (beyond 50 ms) and ran beside others; once most recent exports took
    // 400 ms, the threshold is 2 s and they keep their slots: one at a time, as this load needs.
    for (const name of ['x', 'y', 'z']) processor.record({ name });
    await vi.advanceTimersByTimeAsync(300);
    expect(processor.stats()).toMatchObject({ batchesInFlight: 2, inFlight: 2 });
    await vi.advanceTimersByTimeAsync(150);
    expect(processor.stats()).toMatchObject({ batchesInFlight: 1, inFlight: 1 });
    await vi.advanceTimersByTimeAsync(400);
    expect(processor.stats()).toMatchObject({ exported: 44, dropped: 0, inFlight: 0 });
  });

  it('bounds what stalled exports hold to 4 × maxQueueSize events', async () => {
    const exporter = new MemoryExporter().script(ExportResults.ok()).otherwise(HANG);
    const processor = new BatchProcessor(exporter, { logger: quiet, maxQueueSize: 20, maxBatchSize: 5, maxConcurrentExports: 2, exportTimeoutMs: 600_000 });
    processor.record({ name: 'first' });
    await processor.flush();
    for (let i = 0; i < 30; i++) {
      for (const e of events(5, 5 * i)) processor.record(e);
      await vi.advanceTimersByTimeAsync(100);
    }
    // Sixteen stalled exports of 5 events each reach the bound (80): nothing else starts; the queue fills.
    expect(processor.stats()).toMatchObject({ batchesInFlight: 16, inFlight: 80, queued: 20 });
    expect(processor.stats().droppedByReason.queue_full).toBe(150 - 80 - 20);
  });

  it('close() keeps its deadline even when the exporter never finishes shutting down', async () => {
    const exporter = new MemoryExporter();
    exporter.shutdown = () => new Promise<void>(() => undefined);
    const errors: TrackpipeError[] = [];
    const processor = new BatchProcessor(exporter, { logger: quiet, onError: (e) => errors.push(e) });
    processor.record({ name: 'x' });
    let report: unknown;
    void processor.close({ timeoutMs: 1_000 }).then((r) => (report = r));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(report).toMatchObject({ complete: true, exported: 1 });
    expect(errors.map((e) => e.code)).toEqual(['TRACKPIPE_ERR_SHUTDOWN_TIMEOUT']);
    expect(errors[0]?.message).toContain('did not shut down');
  });
});

describe('a flush() without a timeout, awaited during a backoff', () => {
  it('keeps the process alive until the batch is exported (real process)', async () => {
    const child = spawn(process.execPath, [join(here, 'fixtures/flush-in-backoff.mjs')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ complete: true, exported: 1, calls: 2 });
  });
});
