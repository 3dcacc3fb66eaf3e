import { describe, expect, it, vi } from 'vitest';
import { BatchProcessor, type ExportObservation, ExportResults, MemoryQueue, silentLogger } from '@trackpipe/core';
import { MemoryExporter } from '@trackpipe/core/testing';
import { watchEscapes } from './support/escapes.js';
import { identityHolds } from './support/events.js';

// Lifecycle abuse with real timers and short deadlines: options that cannot be read, flush() during
// close(), flush() after close(), and close() called back from the metrics observer while an export
// is being booked. Each flush() and close() answers, once, with figures that add up.

const escaped = watchEscapes();

/** The promise `call` returns, or a rejected one when it throws synchronously instead. */
function called<T>(call: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve) => resolve(call()));
}

function revoked(): { timeoutMs?: number } {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
}

const unreadable: [string, () => { timeoutMs?: number }][] = [
  ['a revoked proxy', revoked],
  ['a timeoutMs getter that throws', () => ({ get timeoutMs(): number { throw new Error('no timeout for you'); } })],
];

describe('flush() and close() given options that cannot be read', () => {
  it.each(unreadable)('flush() with %s answers a promise, as with no timeout given', async (_, options) => {
    const exporter = new MemoryExporter();
    const processor = new BatchProcessor(exporter, { logger: silentLogger });
    processor.record({ name: 'a' });
    await expect(called(() => processor.flush(options()))).resolves.toMatchObject({ complete: true, exported: 1 });
    await processor.close();
  });

  it.each(unreadable)('close() with %s answers a promise and keeps closeTimeoutMs', async (_, options) => {
    const exporter = new MemoryExporter().hangNext(1);
    const processor = new BatchProcessor(exporter, { logger: silentLogger, closeTimeoutMs: 50, exportTimeoutMs: 60_000 });
    processor.record({ name: 'a' });
    await expect(called(() => processor.close(options()))).resolves.toMatchObject({ complete: false, droppedByReason: { shutdown_timeout: 1 } });
    expect(identityHolds(processor.stats())).toBe(true);
  });
});

describe('flush() and close() at once', () => {
  it('a flush() without a timeout, called during close(), answers when the close deadline drops what it waited for', async () => {
    const exporter = new MemoryExporter().hangNext(1);
    const processor = new BatchProcessor(exporter, { logger: silentLogger, exportTimeoutMs: 60_000 });
    processor.record({ name: 'hangs' });
    const closing = processor.close({ timeoutMs: 50 });
    const flushing = processor.flush();
    const outcome = await Promise.race([flushing, new Promise((resolve) => setTimeout(() => resolve('still waiting'), 2_000))]);
    expect(outcome).toMatchObject({ complete: true, droppedByReason: { shutdown_timeout: 1 }, remaining: 0 });
    await expect(closing).resolves.toMatchObject({ complete: false, droppedByReason: { shutdown_timeout: 1 } });
  });

  it('with a durable queue, a flush() during close() and one after it answer incomplete: the kept events wait for the next start', async () => {
    // A queue in memory that says it is durable, as a spool does: a close() deadline keeps what it holds.
    const queue = Object.defineProperty(new MemoryQueue<never>(100, 'drop-newest'), 'durable', { value: true });
    const exporter = new MemoryExporter().hangNext(1);
    const processor = new BatchProcessor(exporter, { logger: silentLogger, exportTimeoutMs: 60_000, queue });
    processor.record({ name: 'kept' });
    const closing = processor.close({ timeoutMs: 50 });
    const during = processor.flush();
    const timeout = (): Promise<string> => new Promise((resolve) => setTimeout(() => resolve('still waiting'), 2_000));
    expect(await Promise.race([during, timeout()])).toMatchObject({ complete: false, remaining: 1 });
    await expect(closing).resolves.toMatchObject({ complete: false, dropped: 0, remaining: 1 });
    expect(await Promise.race([processor.flush(), timeout()])).toMatchObject({ complete: false, remaining: 1 });
    expect(processor.stats()).toMatchObject({ recorded: 1, exported: 0, dropped: 0, queued: 1 });
  });
});

describe('a metrics observer or logger that calls back into the processor while an export is booked', () => {
  it('close() from the observer of a failed export lets the retry happen: nothing stays queued in a closed processor', async () => {
    escaped.length = 0;
    const exporter = new MemoryExporter().failNext(1, ExportResults.retry({ retryAfterMs: 10 }));
    const processor = new BatchProcessor(exporter, { logger: silentLogger, retry: { initialBackoffMs: 10, maxBackoffMs: 10 } });
    let closing: Promise<unknown> | undefined;
    processor.observe(() => {
      closing ??= processor.close({ timeoutMs: 5_000 });
    });
    processor.record({ name: 'a' });
    void processor.flush();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await expect(closing).resolves.toMatchObject({ complete: true, exported: 1, remaining: 0 });
    expect(processor.stats()).toMatchObject({ recorded: 1, exported: 1, dropped: 0, queued: 0, inFlight: 0 });
    expect(exporter.calls.map((c) => c.outcome)).toEqual(['retry', 'ok']);
    expect(escaped).toEqual([]);
  });

  it('sees each export booked: a flush() it starts, and one awaited outside, count the events it observed', async () => {
    const exporter = new MemoryExporter();
    const processor = new BatchProcessor(exporter, { logger: silentLogger });
    const seen: { observation: ExportObservation; exported: number }[] = [];
    const reports: Promise<unknown>[] = [];
    processor.observe((observation) => {
      seen.push({ observation, exported: processor.stats().exported });
      if (seen.length === 1) {
        processor.record({ name: 'from the observer' });
        reports.push(processor.flush());
      }
    });
    processor.record({ name: 'a' });
    const outer = await processor.flush();
    expect(outer).toMatchObject({ complete: true, exported: 1 });
    await Promise.all(reports);
    expect(seen.map((s) => [s.observation.outcome, s.exported])).toEqual([['ok', 1], ['ok', 2]]);
    expect(processor.stats()).toMatchObject({ recorded: 2, exported: 2, queued: 0 });
    await processor.close();
  });

  it('close() from the logger that reports refused credentials lets the retry happen: nothing stays queued in a closed processor', async () => {
    const exporter = new MemoryExporter().failNext(1, ExportResults.retry({ auth: true, retryAfterMs: 10 }));
    let closing: Promise<unknown> | undefined;
    const processor = new BatchProcessor(exporter, {
      retry: { initialBackoffMs: 10, maxBackoffMs: 10 },
      logger: { warn: () => undefined, error: () => void (closing ??= processor.close({ timeoutMs: 5_000 })) },
    });
    processor.record({ name: 'a' });
    void processor.flush();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await expect(closing).resolves.toMatchObject({ complete: true, exported: 1, remaining: 0 });
    expect(processor.stats()).toMatchObject({ recorded: 1, exported: 1, queued: 0, inFlight: 0, failedExports: { auth: 1 } });
  });
});

describe('a jitter source that answers nonsense', () => {
  it.each<[string, () => number]>([
    ['NaN', () => Number.NaN],
    ['a number past 1', () => 1e9],
    ['a negative number', () => -5],
    ['a string', () => '0.5' as unknown as number],
    ['a throw', () => { throw new Error('no entropy'); }],
  ])('still retries a failed batch within maxBackoffMs when random() answers %s', async (_, random) => {
    escaped.length = 0;
    vi.useFakeTimers();
    try {
      const exporter = new MemoryExporter().failNext(2, ExportResults.retry());
      const processor = new BatchProcessor(exporter, { logger: silentLogger, random, retry: { initialBackoffMs: 20, maxBackoffMs: 40 } });
      processor.record({ name: 'a' });
      let report: unknown;
      void processor.flush().then((r) => (report = r));
      await vi.advanceTimersByTimeAsync(2 * 40); // two backoffs, each below maxBackoffMs
      expect(report).toMatchObject({ complete: true, exported: 1 });
      expect(exporter.calls.map((c) => c.outcome)).toEqual(['retry', 'retry', 'ok']);
      expect(identityHolds(processor.stats())).toBe(true);
      expect(escaped).toEqual([]);
      await processor.close();
    } finally {
      vi.useRealTimers();
    }
  });

  it('is refused at construction, naming random, when it is not a function', () => {
    expect(() => new BatchProcessor(new MemoryExporter(), { random: 0.5 as unknown as () => number })).toThrow(
      expect.objectContaining({ code: 'TRACKPIPE_ERR_OPTIONS_INVALID', details: { option: 'random' } }),
    );
  });
});

describe('an event whose getter closes the processor while record() reads it', () => {
  it('is dropped (closed): close() reports complete with nothing left, and nothing reaches the shut-down exporter later', async () => {
    const exporter = new MemoryExporter();
    const processor = new BatchProcessor(exporter, { logger: silentLogger, flushIntervalMs: 20 });
    let closing: Promise<unknown> | undefined;
    processor.record({
      get name(): string {
        closing ??= processor.close();
        return 'closes on read';
      },
    });
    await expect(closing).resolves.toMatchObject({ complete: true, remaining: 0 });
    expect(processor.stats()).toMatchObject({ recorded: 1, dropped: 1, droppedByReason: expect.objectContaining({ closed: 1 }), queued: 0 });
    await new Promise((resolve) => setTimeout(resolve, 60)); // past flushIntervalMs
    expect(exporter.calls).toEqual([]);
  });
});
