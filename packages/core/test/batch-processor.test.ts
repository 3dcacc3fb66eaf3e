import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BatchProcessor, type BatchProcessorOptions, ExportResults, type Logger, type TrackpipeError } from '@trackpipe/core';
import { type ExportStep, MemoryExporter } from '@trackpipe/core/testing';
import { events, identityHolds, idsOf } from './support/events.js';

const quiet: Logger = { warn: () => undefined, error: () => undefined };

const HANG: ExportStep = { code: 'hang' };
const HOLD: ExportStep = { code: 'hold' };

function setup(options: BatchProcessorOptions = {}, ...steps: ExportStep[]) {
  const exporter = new MemoryExporter({ name: 'scripted' }).script(...steps);
  const errors: TrackpipeError[] = [];
  const processor = new BatchProcessor(exporter, {
    logger: quiet,
    onError: (e) => errors.push(e),
    flushIntervalMs: 60_000,
    ...options,
  });
  return { exporter, processor, errors };
}

/** Lets queued microtasks and promise chains run (fake timers do not advance). */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('batching triggers', () => {
  it('exports a full batch as soon as maxBatchSize events are queued', async () => {
    const { exporter, processor } = setup({ maxBatchSize: 10 });
    for (const e of events(9)) processor.record(e);
    await settle();
    expect(exporter.calls).toHaveLength(0);
    processor.record({ name: 'tenth' });
    await settle();
    expect(exporter.calls.map((c) => c.events.length)).toEqual([10]);
    expect(processor.stats().exported).toBe(10);
  });

  it('exports a partial batch when the flush interval elapses', async () => {
    const { exporter, processor } = setup({ maxBatchSize: 10, flushIntervalMs: 1_000 });
    for (const e of events(3)) processor.record(e);
    await vi.advanceTimersByTimeAsync(999);
    expect(exporter.calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(exporter.calls.map((c) => c.events.length)).toEqual([3]);
  });

  it('flush() exports a partial batch at once and reports it delivered', async () => {
    const { exporter, processor } = setup({ maxBatchSize: 10 });
    for (const e of events(3)) processor.record(e);
    const report = await processor.flush();
    expect(report).toEqual({ complete: true, exported: 3, dropped: 0, droppedByReason: {}, remaining: 0 });
    expect(exporter.calls.map((c) => c.events.length)).toEqual([3]);
  });

  it('closes a batch before it would exceed maxBatchBytes', async () => {
    const { exporter, processor } = setup({ maxBatchSize: 100, maxBatchBytes: 350 });
    const padded = events(10).map((e) => ({ ...e, attributes: { pad: 'x'.repeat(80) } }));
    for (const e of padded) processor.record(e);
    await processor.flush();
    const sizes = exporter.calls.map((c) => c.events.length);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(10);
    expect(Math.max(...sizes)).toBeLessThan(10);
    expect(sizes.length).toBeGreaterThan(2);
  });

  it('sends a single event larger than maxBatchBytes alone', async () => {
    const { exporter, processor } = setup({ maxBatchBytes: 50 });
    processor.record({ name: 'big', attributes: { pad: 'y'.repeat(200) } });
    processor.record({ name: 'small' });
    await processor.flush();
    expect(exporter.calls.map((c) => c.events.length)).toEqual([1, 1]);
    expect(processor.stats().exported).toBe(2);
  });

  it('close() exports what is queued and shuts the exporter down', async () => {
    const { exporter, processor } = setup({ maxBatchSize: 10 });
    for (const e of events(5)) processor.record(e);
    const report = await processor.close();
    expect(report.complete).toBe(true);
    expect(report.exported).toBe(5);
    expect(exporter.shutdownCalls).toBe(1);
  });

  it('assigns a unique id and a timestamp to events that have none, and keeps given ones', async () => {
    const { exporter, processor } = setup();
    processor.record({ name: 'a' });
    processor.record({ name: 'b', id: 'given', timestamp: 42 });
    await processor.flush();
    const [a, b] = exporter.events;
    expect(a?.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a?.timestamp).toBe(Date.now());
    expect(b).toMatchObject({ id: 'given', timestamp: 42 });
  });
});

describe('overflow', () => {
  it.each([
    ['drop-oldest', ['e3', 'e4', 'e5', 'e6', 'e7']],
    ['drop-newest', ['e0', 'e1', 'e2', 'e3', 'e4']],
  ] as const)('%s drops exactly the overflow and keeps %j', async (overflow, kept) => {
    const { exporter, processor } = setup({ maxQueueSize: 5, maxBatchSize: 5, overflow });
    for (const e of events(8)) processor.record(e); // synchronously: no export can start in between
    expect(processor.stats()).toMatchObject({ recorded: 8, queued: 5, dropped: 3 });
    expect(processor.stats().droppedByReason.queue_full).toBe(3);
    await processor.flush();
    expect(exporter.events.map((e) => e.name)).toEqual(kept);
    expect(identityHolds(processor.stats())).toBe(true);
  });

  it.each([
    ['drop-oldest', 20, 39],
    ['drop-newest', 0, 19],
  ] as const)('counts batches waiting for a retry against maxQueueSize (%s keeps e%i to e%i)', async (overflow, first, last) => {
    const { exporter, processor } = setup(
      { maxQueueSize: 20, maxBatchSize: 10, maxConcurrentExports: 2, overflow, retry: { initialBackoffMs: 10_000, maxBackoffMs: 10_000 }, random: () => 0.5 },
      ExportResults.retry(),
      ExportResults.retry(),
    );
    for (const e of events(20)) processor.record(e);
    await settle();
    // Both batches failed in one round (an isolated failure): they wait 5 s each, the queue is empty.
    expect(exporter.calls).toHaveLength(2);
    expect(processor.stats()).toMatchObject({ queued: 20, inFlight: 0, exported: 0 });
    for (const e of events(20, 20)) processor.record(e); // synchronously: no export starts in between
    // The waiting batches and the queue hold maxQueueSize events between them, not 40.
    expect(processor.stats()).toMatchObject({ recorded: 40, queued: 20, dropped: 20 });
    expect(processor.stats().droppedByReason.queue_full).toBe(20);
    expect(processor.headroom()).toBe(0);
    await vi.advanceTimersByTimeAsync(5_000);
    await processor.flush();
    const names = Array.from({ length: last - first + 1 }, (_, i) => `e${first + i}`);
    expect(exporter.events.map((e) => e.name).sort()).toEqual(names.sort());
    expect(processor.stats()).toMatchObject({ exported: 20, dropped: 20, queued: 0 });
    expect(identityHolds(processor.stats())).toBe(true);
  });

  it('clamps maxBatchSize to maxQueueSize with a warning', () => {
    const warn = vi.fn();
    const processor = new BatchProcessor(new MemoryExporter(), { maxQueueSize: 5, maxBatchSize: 10, logger: { warn, error: vi.fn() } });
    expect(processor.options.maxBatchSize).toBe(5);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('maxBatchSize'));
  });
});

describe('retry', () => {
  it('follows the exponential schedule: ceilings 100, 200, 400, then capped at 500 ms', async () => {
    const { exporter, processor } = setup(
      { retry: { initialBackoffMs: 100, multiplier: 2, maxBackoffMs: 500 }, random: () => 0.999_999 },
      ExportResults.retry(),
      ExportResults.retry(),
      ExportResults.retry(),
      ExportResults.retry(),
    );
    processor.record({ name: 'x' });
    const flushed = processor.flush();
    await vi.advanceTimersByTimeAsync(2_000);
    expect((await flushed).complete).toBe(true);
    const gaps = exporter.calls.slice(1).map((c, i) => c.at - exporter.calls[i]!.at);
    expect(gaps).toEqual([99, 199, 399, 499]);
    expect(processor.stats()).toMatchObject({ exported: 1, retries: 4, failedExports: { retryable: 4, permanent: 0, timeout: 0 } });
  });

  it('draws each delay uniformly below its ceiling (full jitter)', async () => {
    const draws: number[] = [];
    const random = () => {
      const r = Math.random();
      draws.push(r);
      return r;
    };
    const steps = Array.from({ length: 12 }, () => ExportResults.retry());
    const { exporter, processor } = setup({ retry: { initialBackoffMs: 100, multiplier: 2, maxBackoffMs: 1_600 }, random }, ...steps);
    processor.record({ name: 'x' });
    const flushed = processor.flush();
    await vi.advanceTimersByTimeAsync(30_000);
    await flushed;
    const gaps = exporter.calls.slice(1).map((c, i) => c.at - exporter.calls[i]!.at);
    expect(gaps).toHaveLength(12);
    gaps.forEach((gap, attempt) => {
      const ceiling = Math.min(1_600, 100 * 2 ** attempt);
      expect(gap).toBeGreaterThanOrEqual(0);
      expect(gap).toBeLessThan(ceiling);
      expect(gap).toBe(Math.floor(draws[attempt]! * ceiling));
    });
  });

  it('starts again from the initial ceiling after a success', async () => {
    const { exporter, processor } = setup(
      { retry: { initialBackoffMs: 100, maxBackoffMs: 10_000 }, random: () => 0.5 },
      ExportResults.retry(),
      ExportResults.retry(),
      ExportResults.ok(),
      ExportResults.retry(),
    );
    processor.record({ name: 'a' });
    const first = processor.flush();
    await vi.advanceTimersByTimeAsync(1_000);
    await first;
    processor.record({ name: 'b' });
    const second = processor.flush();
    await vi.advanceTimersByTimeAsync(1_000);
    await second;
    const at = exporter.calls.map((c) => c.at);
    expect([at[1]! - at[0]!, at[2]! - at[1]!, at[4]! - at[3]!]).toEqual([50, 100, 50]);
  });

  it('waits exactly retryAfterMs when the exporter passes Retry-After below maxBackoffMs', async () => {
    const { exporter, processor } = setup({}, ExportResults.retry({ retryAfterMs: 4_000 }));
    processor.record({ name: 'x' });
    const flushed = processor.flush();
    await vi.advanceTimersByTimeAsync(3_999);
    expect(exporter.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(exporter.calls).toHaveLength(2);
    expect((await flushed).exported).toBe(1);
  });

  it.each([
    ['600 s', 600_000],
    ['a far-future date', Date.parse('2100-01-01') - Date.now()],
    ['Infinity', Number.POSITIVE_INFINITY],
  ])('clamps a Retry-After of %s to maxBackoffMs and never drops the batch for it while budget remains', async (_, hint) => {
    const { exporter, processor } = setup({ retry: { maxBackoffMs: 2_000, maxElapsedMs: 60_000 } }, ExportResults.retry({ retryAfterMs: hint }), ExportResults.retry({ retryAfterMs: hint }));
    processor.record({ name: 'x' });
    const flushed = processor.flush();
    await vi.advanceTimersByTimeAsync(1_999);
    expect(exporter.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(exporter.calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(await flushed).toMatchObject({ complete: true, exported: 1, dropped: 0 });
  });

  it('keeps pacing the exporter while a Retry-After is in force: later batches wait too, and none is lost', async () => {
    const { exporter, processor } = setup({ maxBatchSize: 1, maxConcurrentExports: 1, retry: { maxBackoffMs: 1_000 } });
    exporter.otherwise(() => (exporter.calls.length <= 3 ? ExportResults.retry({ retryAfterMs: 600_000 }) : ExportResults.ok()));
    for (const e of events(3)) processor.record(e);
    const flushed = processor.flush();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(await flushed).toMatchObject({ complete: true, exported: 3, dropped: 0 });
    const gaps = exporter.calls.slice(1, 4).map((c, i) => c.at - exporter.calls[i]!.at);
    expect(gaps.every((gap) => gap >= 1_000)).toBe(true);
  });

  it('cuts a delay that would pass the budget to the budget end, so the last attempt still happens', async () => {
    const { exporter, processor } = setup(
      { retry: { initialBackoffMs: 5_000, maxBackoffMs: 5_000, maxElapsedMs: 3_000 }, random: () => 0.999 },
      ExportResults.retry(),
    );
    processor.record({ name: 'x' });
    const flushed = processor.flush();
    await vi.advanceTimersByTimeAsync(3_000);
    expect(exporter.calls.map((c) => c.at - exporter.calls[0]!.at)).toEqual([0, 3_000]);
    expect(await flushed).toMatchObject({ exported: 1, dropped: 0 });
  });

  it('backs off the whole exporter: no new batch starts while a failed one waits', async () => {
    const { exporter, processor } = setup(
      { maxBatchSize: 2, maxConcurrentExports: 2, random: () => 0.999 },
      ExportResults.retry({ retryAfterMs: 5_000 }),
    );
    for (const e of events(10)) processor.record(e);
    await settle();
    // Two batches started together; the first failed, the second succeeded; the rest must wait.
    expect(exporter.calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(4_999);
    expect(exporter.calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    await processor.flush();
    expect(idsOf(exporter.calls[2])).toEqual(idsOf(exporter.calls[0])); // the failed batch goes first
    expect(processor.stats().exported).toBe(10);
  });

  it('sends a destination that refuses everything no more than the backoff allows', async () => {
    const { exporter, processor } = setup({ maxBatchSize: 10, maxConcurrentExports: 2, random: () => 0.999 });
    exporter.otherwise(ExportResults.retry());
    for (const e of events(1_000)) processor.record(e); // 100 batches
    await vi.advanceTimersByTimeAsync(60_000);
    const starts = exporter.calls.map((c) => c.at - exporter.calls[0]!.at);
    // Three failed rounds of two requests, then one probe per pause: pauses of up to 1, 2, 4, then 5 s
    // (random 0.999 takes each ceiling): 19 requests in a minute, not thousands.
    expect(starts.length).toBeGreaterThanOrEqual(10);
    expect(starts.length).toBeLessThanOrEqual(20);
    expect(starts.slice(0, 6).every((t) => t < 100)).toBe(true);
    const probes = starts.slice(6);
    const gaps = probes.slice(1).map((t, i) => t - probes[i]!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(1_990); // probes, one at a time, each at least a pause apart
    expect(processor.stats()).toMatchObject({ exported: 0, dropped: 0 });
  });

  it('drops a batch with retries_exhausted when its retry budget runs out', async () => {
    const { exporter, processor, errors } = setup({ retry: { initialBackoffMs: 100, maxBackoffMs: 100, maxElapsedMs: 1_000 }, random: () => 0.999 });
    exporter.otherwise(ExportResults.retry());
    for (const e of events(3)) processor.record(e);
    const flushed = processor.flush();
    await vi.advanceTimersByTimeAsync(2_000);
    const report = await flushed;
    expect(report).toMatchObject({ complete: true, exported: 0, droppedByReason: { retries_exhausted: 3 } });
    expect(exporter.calls.length).toBeGreaterThanOrEqual(10);
    expect(errors.map((e) => e.code)).toEqual(['TRACKPIPE_ERR_EXPORT_RETRIES_EXHAUSTED']);
  });

  it('aborts an export after exportTimeoutMs, counts a timeout and retries', async () => {
    const { exporter, processor } = setup({ exportTimeoutMs: 500, random: () => 0 }, HANG);
    processor.record({ name: 'x' });
    const flushed = processor.flush();
    await vi.advanceTimersByTimeAsync(499);
    expect(processor.stats().inFlight).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    await flushed;
    expect(exporter.calls).toHaveLength(2);
    expect(processor.stats()).toMatchObject({ exported: 1, failedExports: { timeout: 1 } });
  });
});

describe('auth failures', () => {
  it('retries them within the budget, counts them as auth failures, and logs at error level at most once per 30 s with a count', async () => {
    const lines: string[] = [];
    const exporter = new MemoryExporter({ name: 'scripted' }).otherwise(
      ExportResults.retry({ auth: true, error: new Error('HTTP 401 (the credentials were refused)') }),
    );
    const processor = new BatchProcessor(exporter, {
      logger: { warn: (m) => lines.push(`warn ${m}`), error: (m) => lines.push(`error ${m}`) },
      retry: { initialBackoffMs: 1_000, maxBackoffMs: 1_000, maxElapsedMs: 120_000 },
      random: () => 0.999,
    });
    processor.record({ name: 'x' });
    void processor.flush();
    await vi.advanceTimersByTimeAsync(29_000);
    const calls = exporter.calls.length;
    expect(calls).toBeGreaterThan(20);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^error TRACKPIPE_ERR_EXPORT_AUTH: .*HTTP 401.*retrying within the retry budget/);
    await vi.advanceTimersByTimeAsync(2_000);
    expect(lines).toHaveLength(2);
    expect(Number(/\((\d+) more since the last warning\)/.exec(lines[1]!)?.[1])).toBeGreaterThanOrEqual(calls - 1);
    expect(processor.stats().failedExports).toMatchObject({ auth: exporter.calls.length, retryable: exporter.calls.length });
    exporter.otherwise(ExportResults.ok());
    await vi.advanceTimersByTimeAsync(1_000);
    expect(processor.stats()).toMatchObject({ exported: 1, dropped: 0 });
  });
});

describe('permanent failures', () => {
  it('drops a rejected batch as rejected, reports it and does not retry', async () => {
    const { exporter, processor, errors } = setup({}, ExportResults.reject({ error: new Error('HTTP 400') }));
    for (const e of events(4)) processor.record(e);
    const report = await processor.flush();
    expect(report).toMatchObject({ complete: true, exported: 0, dropped: 4, droppedByReason: { rejected: 4 } });
    expect(exporter.calls).toHaveLength(1);
    expect(errors[0]?.code).toBe('TRACKPIPE_ERR_EXPORT_REJECTED');
    expect(errors[0]?.message).toContain('HTTP 400');
  });

  it('drops only the events at the rejected indexes; the rest count as exported', async () => {
    const { exporter, processor } = setup({}, ExportResults.reject({ indexes: [1, 3] }));
    for (const e of events(5)) processor.record(e);
    const report = await processor.flush();
    expect(report).toMatchObject({ exported: 3, droppedByReason: { rejected: 2 } });
    expect(exporter.events.map((e) => e.name)).toEqual(['e0', 'e2', 'e4']);
  });

  it('counts a partial success that rejects a number of unidentified events', async () => {
    const { processor } = setup({}, ExportResults.reject({ count: 2 }));
    for (const e of events(5)) processor.record(e);
    expect(await processor.flush()).toMatchObject({ exported: 3, droppedByReason: { rejected: 2 } });
  });

  it.each([
    ['throws', { code: 'throw', error: new Error('exporter exploded'), async: true } as const],
    ['answers something that is not an ExportResult', (() => ({ code: 'nope' })) as unknown as ExportStep],
  ])('drops the batch when the exporter %s, and goes on with the next', async (_, step) => {
    const { processor, errors } = setup({ maxBatchSize: 2 }, step);
    for (const e of events(4)) processor.record(e);
    const report = await processor.flush();
    expect(report).toMatchObject({ exported: 2, droppedByReason: { rejected: 2 } });
    expect(errors.map((e) => e.code)).toEqual(['TRACKPIPE_ERR_EXPORT_FAILED']);
    expect(processor.stats().failedExports.permanent).toBe(1);
  });
});

describe('too large', () => {
  it('halves a batch until each part fits', async () => {
    const { exporter, processor } = setup({ maxBatchSize: 16, maxConcurrentExports: 1 });
    exporter.otherwise((b) => (b.events.length > 3 ? ExportResults.tooLarge() : ExportResults.ok()));
    for (const e of events(16)) processor.record(e);
    const report = await processor.flush();
    expect(report).toMatchObject({ complete: true, exported: 16, dropped: 0 });
    expect(exporter.calls.map((c) => c.events.length)).toEqual([16, 8, 4, 2, 2, 4, 2, 2, 8, 4, 2, 2, 4, 2, 2]);
    expect(exporter.events.map((e) => e.name)).toEqual(events(16).map((e) => e.name));
  });

  it('halves down to one event and drops that event alone as too_large', async () => {
    const { exporter, processor, errors } = setup({ maxBatchSize: 8 });
    exporter.otherwise((b) => (b.events.some((e) => e.name === 'e5') ? ExportResults.tooLarge() : ExportResults.ok()));
    for (const e of events(8)) processor.record(e);
    const report = await processor.flush();
    expect(report).toMatchObject({ exported: 7, droppedByReason: { too_large: 1 } });
    expect(exporter.events.map((e) => e.name).sort()).toEqual(['e0', 'e1', 'e2', 'e3', 'e4', 'e6', 'e7']);
    expect(errors.map((e) => e.code)).toEqual(['TRACKPIPE_ERR_EXPORT_TOO_LARGE']);
  });
});

describe('user code that calls back while a batch is encoded', () => {
  it('takes no event twice when a getter calls close() or flush(), or onError calls close(), during the encoding', async () => {
    const { exporter, processor } = setup({ maxBatchSize: 3 });
    let calls = 0;
    processor.record({ name: 'a' });
    processor.record({
      name: 'b',
      get attributes() {
        calls++;
        void processor.flush();
        return { x: 1 };
      },
    });
    processor.record({ name: 'c' });
    processor.record({
      name: 'd',
      get attributes() {
        calls++;
        void processor.close();
        return {};
      },
    });
    processor.record({ name: 'e' });
    const report = await processor.close();
    expect(report).toMatchObject({ complete: true, exported: 5, dropped: 0 });
    expect(exporter.events.map((e) => e.name)).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(calls).toBe(2);
    expect(identityHolds(processor.stats())).toBe(true);

    const cyclic = { name: 'cyclic' } as { name: string; self?: unknown };
    cyclic.self = cyclic;
    const onError = setup({ maxBatchSize: 2, onError: () => void onError.processor.close() });
    onError.processor.record({ name: 'g' });
    onError.processor.record(cyclic);
    onError.processor.record({ name: 'h' });
    const closed = await onError.processor.close();
    expect(closed).toMatchObject({ complete: true, exported: 2, droppedByReason: { unserializable: 1 } });
    expect(onError.exporter.events.map((e) => e.name)).toEqual(['g', 'h']);
    expect(identityHolds(onError.processor.stats())).toBe(true);
  });

  it('neither exports nor loses an event a full queue dropped while it was being encoded (a getter that records)', async () => {
    const { exporter, processor } = setup({ maxQueueSize: 3, maxBatchSize: 2, overflow: 'drop-oldest' });
    processor.record({ name: 'a' });
    processor.record({
      name: 'b',
      get attributes() {
        processor.record({ name: 'x1' });
        processor.record({ name: 'x2' }); // the queue is full: drops its oldest, b itself
        return {};
      },
    });
    processor.record({ name: 'c' });
    await processor.flush(); // encodes while open: x1 and x2 are queued, the queue drops b
    const report = await processor.close();
    const names = exporter.events.map((e) => e.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names).not.toContain('b');
    expect(names).toEqual(['a', 'c', 'x1', 'x2']);
    expect(report).toMatchObject({ complete: true, dropped: 0 });
    expect(processor.stats()).toMatchObject({ exported: 4, dropped: 1, droppedByReason: expect.objectContaining({ queue_full: 1 }) });
    expect(identityHolds(processor.stats())).toBe(true);
  });
});

describe('serialization', () => {
  it('drops an unserializable event (a cycle, a BigInt) alone; the rest of its batch goes on', async () => {
    const { exporter, processor, errors } = setup();
    const cyclic: Record<string, unknown> = { name: 'cyclic' };
    cyclic.self = cyclic;
    processor.record({ name: 'a' });
    processor.record(cyclic as never);
    processor.record({ name: 'b', attributes: { n: 10n } as never });
    processor.record({ name: 'c' });
    const report = await processor.flush();
    expect(report).toMatchObject({ complete: true, exported: 2, droppedByReason: { unserializable: 2 } });
    expect(exporter.events.map((e) => e.name)).toEqual(['a', 'c']);
    expect(errors.map((e) => e.code)).toEqual(['TRACKPIPE_ERR_EVENT_UNSERIALIZABLE', 'TRACKPIPE_ERR_EVENT_UNSERIALIZABLE']);
  });

  it('drops alone an event whose toJSON throws or makes it something other than an object', async () => {
    const { exporter, processor, errors } = setup();
    processor.record({ name: 'a' });
    processor.record({ name: 'throws', toJSON: () => { throw new Error('no'); } } as never);
    processor.record({ name: 'undefined', toJSON: () => undefined } as never);
    processor.record({ name: 'text', toJSON: () => 'text' } as never);
    processor.record({ name: 'list', toJSON: () => [1] } as never);
    processor.record({ name: 'number', toJSON: () => 42 } as never);
    processor.record({ name: 'object', toJSON: () => ({ name: 'object', id: 'x' }) } as never);
    processor.record({ name: 'c' });
    const report = await processor.flush();
    expect(report).toMatchObject({ complete: true, exported: 3, droppedByReason: { unserializable: 5 } });
    expect(exporter.events.map((e) => e.name)).toEqual(['a', 'object', 'c']);
    expect(errors.map((e) => e.code)).toEqual(Array(5).fill('TRACKPIPE_ERR_EVENT_UNSERIALIZABLE'));
    expect(errors[2]?.message).toContain("the event's JSON is not an object (its toJSON returned a string)");
  });

  it('drops alone an event whose JSON would have no name or be no object: a class getter, an Error, a list, a toJSON without name', async () => {
    const { exporter, processor, errors } = setup();
    class Getter {
      readonly attributes = { plan: 'pro' };
      get name(): string {
        return 'getter';
      }
    }
    class OwnName {
      readonly name = 'own';
    }
    const hidden = { attributes: {} };
    Object.defineProperty(hidden, 'name', { value: 'hidden', enumerable: false });
    processor.record({ name: 'a' });
    processor.record(new Getter());
    processor.record(new Error('boom'));
    processor.record(Object.assign([1], { name: 'list' }));
    processor.record(Object.assign(new String('boxed'), { name: 'boxed' }));
    processor.record(hidden as never);
    processor.record({ name: 'nameless', toJSON: () => ({ other: 1 }) } as never);
    processor.record(new OwnName());
    processor.record({ name: 'c' });
    const report = await processor.flush();
    expect(report).toMatchObject({ complete: true, exported: 3, droppedByReason: { unserializable: 6 } });
    expect(exporter.events.map((e) => e.name)).toEqual(['a', 'own', 'c']);
    const messages = errors.map((e) => e.message);
    expect(messages.filter((m) => m.includes("the event's JSON has no name"))).toHaveLength(4);
    expect(messages.some((m) => m.includes("the event's JSON is not an object (the event is a list)"))).toBe(true);
    expect(messages.some((m) => m.includes("the event's JSON is not an object (the event is a string)"))).toBe(true);
  });

  it('passes each event serialized by the exporter encoder, with the batch byte size', async () => {
    const seen: { encoded: readonly string[]; bytes: number }[] = [];
    const exporter = new MemoryExporter({ encoder: (e) => `<${e.name}é>` }).otherwise(
      (b) => (seen.push({ encoded: b.encoded, bytes: b.bytes }), ExportResults.ok()),
    );
    const processor = new BatchProcessor(exporter, { logger: quiet });
    processor.record({ name: 'a' });
    processor.record({ name: 'bc' });
    await processor.flush();
    expect(seen).toEqual([{ encoded: ['<aé>', '<bcé>'], bytes: 5 + 6 }]);
  });
});

describe('invalid input', () => {
  it('drops invalid events with reason invalid, never throws, and warns at most once per interval', async () => {
    const warn = vi.fn();
    const processor = new BatchProcessor(new MemoryExporter(), { logger: { warn, error: vi.fn() }, invalidWarningIntervalMs: 10_000 });
    const bad = [null, undefined, 42, 'text', {}, { name: '' }, { name: 7 }];
    for (const b of bad) expect(() => processor.record(b as never)).not.toThrow();
    expect(processor.stats()).toMatchObject({ recorded: 7, dropped: 7, droppedByReason: { invalid: 7 }, queued: 0 });
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn.mock.calls[0]?.[0]).toContain('TRACKPIPE_ERR_EVENT_INVALID');
    await vi.advanceTimersByTimeAsync(10_000);
    processor.record(null as never);
    expect(warn).toHaveBeenCalledTimes(2);
    expect(warn.mock.calls[1]?.[0]).toContain('6 more since the last warning');
  });

  it('delivers a frozen event without an id as a copy with an id and a timestamp, leaving the original untouched', async () => {
    const { exporter, processor } = setup();
    const frozen = Object.freeze({ name: 'frozen', attributes: Object.freeze({ a: 1 }) });
    expect(() => processor.record(frozen)).not.toThrow();
    await processor.flush();
    expect(exporter.events).toHaveLength(1);
    expect(exporter.events[0]).toMatchObject({ name: 'frozen', attributes: { a: 1 }, id: expect.any(String), timestamp: expect.any(Number) });
    expect(frozen).toEqual({ name: 'frozen', attributes: { a: 1 } });
    expect(processor.stats().dropped).toBe(0);
  });

  it.each([
    [{ maxBatchSize: 0 }, 'maxBatchSize'],
    [{ maxQueueSize: 1.5 }, 'maxQueueSize'],
    [{ exportTimeoutMs: -1 }, 'exportTimeoutMs'],
    [{ flushIntervalMs: Number.NaN }, 'flushIntervalMs'],
    [{ maxConcurrentExports: 0 }, 'maxConcurrentExports'],
    [{ overflow: 'drop-random' }, 'overflow'],
    [{ retry: { maxElapsedMs: -5 } }, 'retry.maxElapsedMs'],
    [{ retry: { multiplier: 0.5 } }, 'retry.multiplier'],
    // Longer than a timer can wait (it would fire after 1 ms), or a queue no array can hold.
    [{ exportTimeoutMs: 3_000_000_000 }, 'exportTimeoutMs'],
    [{ flushIntervalMs: 2 ** 31 }, 'flushIntervalMs'],
    [{ retry: { maxBackoffMs: 1e12 } }, 'retry.maxBackoffMs'],
    [{ maxQueueSize: 1e12 }, 'maxQueueSize'],
    [{ maxBatchSize: 2 ** 53 + 2 }, 'maxBatchSize'],
  ] as const)('rejects %j at construction, naming %s', (options, name) => {
    expect(() => new BatchProcessor(new MemoryExporter(), options as BatchProcessorOptions)).toThrow(
      expect.objectContaining({ code: 'TRACKPIPE_ERR_OPTIONS_INVALID', message: expect.stringContaining(`${name} must be`) }),
    );
  });

  it('rejects an exporter without an export method', () => {
    expect(() => new BatchProcessor({ name: 'x' } as never)).toThrow(/export\(batch, signal\)/);
  });
});

describe('close', () => {
  it('delivers everything recorded before it', async () => {
    const { exporter, processor } = setup({ maxBatchSize: 100 });
    for (const e of events(1_000)) processor.record(e);
    const report = await processor.close();
    expect(report).toMatchObject({ complete: true, exported: 1_000, dropped: 0, remaining: 0 });
    expect(new Set(exporter.events.map((e) => e.id)).size).toBe(1_000);
  });

  it('drops and counts what is left when its deadline passes, and aborts the export in flight', async () => {
    const { exporter, processor, errors } = setup({ maxBatchSize: 10, exportTimeoutMs: 60_000 });
    exporter.otherwise(HANG);
    const signals: AbortSignal[] = [];
    const originalExport = exporter.export.bind(exporter);
    exporter.export = (batch, signal) => (signals.push(signal), originalExport(batch, signal));
    for (const e of events(25)) processor.record(e);
    const closing = processor.close({ timeoutMs: 1_000 });
    await vi.advanceTimersByTimeAsync(1_000);
    const report = await closing;
    expect(report).toMatchObject({ complete: false, exported: 0, dropped: 25, droppedByReason: { shutdown_timeout: 25 }, remaining: 0 });
    expect(signals).toHaveLength(2); // two concurrent exports were in flight
    expect(signals.every((s) => s.aborted)).toBe(true);
    expect(errors.map((e) => e.code)).toContain('TRACKPIPE_ERR_SHUTDOWN_TIMEOUT');
    expect(identityHolds(processor.stats())).toBe(true);
  });

  it.each([Number.POSITIVE_INFINITY, 3_000_000_000])('drops nothing for a deadline of %d ms (longer than a timer can wait): it waits', async (timeoutMs) => {
    const { exporter, processor } = setup({}, HOLD);
    processor.record({ name: 'x' });
    let done = false;
    const closing = processor.close({ timeoutMs }).then((r) => ((done = true), r));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(done).toBe(false);
    exporter.release();
    expect(await closing).toMatchObject({ complete: true, exported: 1, dropped: 0 });
  });

  it('keeps retrying while closing until the deadline', async () => {
    const { exporter, processor } = setup({ random: () => 0.999 }, ExportResults.retry(), ExportResults.retry());
    processor.record({ name: 'x' });
    const closing = processor.close({ timeoutMs: 10_000 });
    await vi.advanceTimersByTimeAsync(3_000);
    expect(await closing).toMatchObject({ complete: true, exported: 1 });
    expect(exporter.calls).toHaveLength(3);
  });

  it('counts records after close as dropped (closed) without throwing', async () => {
    const { processor } = setup();
    await processor.close();
    for (const e of events(3)) expect(() => processor.record(e)).not.toThrow();
    expect(processor.stats()).toMatchObject({ recorded: 3, dropped: 3, droppedByReason: { closed: 3 } });
    expect(identityHolds(processor.stats())).toBe(true);
  });

  it('is idempotent: every call answers the same report and the exporter shuts down once', async () => {
    const { exporter, processor } = setup();
    processor.record({ name: 'x' });
    const [a, b] = await Promise.all([processor.close(), processor.close()]);
    expect(a).toBe(b);
    expect(await processor.close()).toBe(a);
    expect(exporter.shutdownCalls).toBe(1);
  });
});

describe('flush', () => {
  it('answers concurrent calls once the events are delivered, exporting each event once', async () => {
    const { exporter, processor } = setup({ maxBatchSize: 4 });
    for (const e of events(10)) processor.record(e);
    const reports = await Promise.all([processor.flush(), processor.flush(), processor.flush()]);
    for (const r of reports) expect(r.complete).toBe(true);
    expect(exporter.events).toHaveLength(10);
    expect(new Set(exporter.events.map((e) => e.id)).size).toBe(10);
  });

  it('waits for an export already in flight', async () => {
    const { exporter, processor } = setup({ maxBatchSize: 10 }, HOLD);
    for (const e of events(10)) processor.record(e);
    await settle();
    expect(exporter.held).toBe(1);
    for (const e of events(3, 10)) processor.record(e);
    let done = false;
    const flushed = processor.flush().then((r) => ((done = true), r));
    await settle();
    expect(done).toBe(false);
    exporter.release();
    expect(await flushed).toMatchObject({ complete: true, exported: 13 });
  });

  it('does not wait for events recorded after the call', async () => {
    const { exporter, processor } = setup({ maxBatchSize: 5 }, ExportResults.ok(), HOLD);
    for (const e of events(5)) processor.record(e);
    const flushed = processor.flush();
    for (const e of events(5, 5)) processor.record(e);
    expect((await flushed).complete).toBe(true);
    await settle();
    expect(exporter.held).toBe(1);
    exporter.release();
    await processor.flush();
  });

  it.each([Number.POSITIVE_INFINITY, 3_000_000_000])('waits without a deadline for timeoutMs %d (longer than a timer can wait)', async (timeoutMs) => {
    const { exporter, processor } = setup({}, HOLD);
    processor.record({ name: 'x' });
    let done = false;
    const flushed = processor.flush({ timeoutMs }).then((r) => ((done = true), r));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(done).toBe(false);
    exporter.release();
    expect(await flushed).toMatchObject({ complete: true, exported: 1, remaining: 0 });
  });

  it.each([Number.NaN, '100', null])('treats a timeoutMs of %s as none given', async (timeoutMs) => {
    const { exporter, processor } = setup({}, HOLD);
    processor.record({ name: 'x' });
    let done = false;
    const flushed = processor.flush({ timeoutMs } as never).then((r) => ((done = true), r));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(done).toBe(false);
    exporter.release();
    expect(await flushed).toMatchObject({ complete: true, exported: 1 });
  });

  it('answers complete: false when its timeout passes first', async () => {
    const { processor } = setup({}, HOLD);
    processor.record({ name: 'x' });
    const flushed = processor.flush({ timeoutMs: 100 });
    await vi.advanceTimersByTimeAsync(100);
    expect(await flushed).toMatchObject({ complete: false, exported: 0, remaining: 1 });
  });
});
