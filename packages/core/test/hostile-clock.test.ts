import { afterEach, describe, expect, it, vi } from 'vitest';
import { BatchProcessor, ExportResults, type Exporter, type Recorded, type TelemetryEvent, silentLogger } from '@trackpipe/core';
import { MemoryExporter } from '@trackpipe/core/testing';
import { identityHolds } from './support/events.js';

// The wall clock is the application's (NTP steps it, a VM resumes, a test sets it): it may jump
// backwards or forwards while the processor waits. Deadlines and waits must not follow it.

afterEach(() => {
  vi.useRealTimers();
});

/** An exporter whose export and shutdown never settle. */
function hungExporter(): Exporter<Recorded<TelemetryEvent>> {
  return { name: 'hung', export: () => new Promise(() => undefined), shutdown: () => new Promise(() => undefined) };
}

describe('the wall clock stepped backwards during close()', () => {
  it('close() still returns within its deadline when the exporter hangs and its shutdown never ends', async () => {
    vi.useFakeTimers({ now: 1_800_000_000_000 });
    const processor = new BatchProcessor(hungExporter(), { logger: silentLogger });
    processor.record({ name: 'a' });
    let report: unknown;
    void processor.close({ timeoutMs: 1_000 }).then((r) => (report = r));
    await vi.advanceTimersByTimeAsync(500);
    vi.setSystemTime(Date.now() - 3_600_000); // one hour back
    await vi.advanceTimersByTimeAsync(600); // past the 1 000 ms deadline on the timers' clock
    expect(report).toMatchObject({ complete: false, dropped: 1 });
    expect(identityHolds(processor.stats())).toBe(true);
  });
});

describe('the wall clock stepped backwards while a batch waits for its retry', () => {
  it('retries it after its backoff on the timers’ clock, not an hour later', async () => {
    vi.useFakeTimers({ now: 1_800_000_000_000 });
    const exporter = new MemoryExporter().failNext(1, ExportResults.retry());
    const processor = new BatchProcessor(exporter, { logger: silentLogger, retry: { initialBackoffMs: 20, maxBackoffMs: 40 } });
    processor.record({ name: 'a' });
    let report: unknown;
    void processor.flush({ timeoutMs: 5_000 }).then((r) => (report = r));
    await vi.advanceTimersByTimeAsync(0); // the first attempt fails: the batch waits up to 20 ms
    vi.setSystemTime(Date.now() - 3_600_000); // one hour back
    await vi.advanceTimersByTimeAsync(100);
    expect(report).toMatchObject({ complete: true, exported: 1 });
    expect(exporter.calls.map((c) => c.outcome)).toEqual(['retry', 'ok']);
    expect(identityHolds(processor.stats())).toBe(true);
    await processor.close();
  });

  it('an exporter paused by a Retry-After resumes after the pause on the timers’ clock', async () => {
    vi.useFakeTimers({ now: 1_800_000_000_000 });
    const exporter = new MemoryExporter().failNext(1, ExportResults.retry({ retryAfterMs: 30 }));
    const processor = new BatchProcessor(exporter, { logger: silentLogger, retry: { initialBackoffMs: 20, maxBackoffMs: 40 } });
    processor.record({ name: 'a' });
    let report: unknown;
    void processor.flush({ timeoutMs: 5_000 }).then((r) => (report = r));
    await vi.advanceTimersByTimeAsync(0);
    vi.setSystemTime(Date.now() - 3_600_000);
    await vi.advanceTimersByTimeAsync(100);
    expect(report).toMatchObject({ complete: true, exported: 1 });
    expect(identityHolds(processor.stats())).toBe(true);
    await processor.close();
  });
});

describe('the wall clock stepped backwards between two invalid events', () => {
  it('warns about the next invalid event once the interval has passed on the timers’ clock', async () => {
    vi.useFakeTimers({ now: 1_800_000_000_000 });
    const warned: string[] = [];
    const processor = new BatchProcessor(new MemoryExporter(), {
      logger: { warn: (m) => warned.push(m), error: () => undefined },
      invalidWarningIntervalMs: 1_000,
    });
    processor.record({ name: '' });
    expect(warned).toHaveLength(1);
    vi.setSystemTime(Date.now() - 3_600_000); // one hour back
    await vi.advanceTimersByTimeAsync(1_500);
    processor.record({ name: '' });
    expect(warned).toHaveLength(2);
    await processor.close();
  });
});
