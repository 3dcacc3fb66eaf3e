import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  BatchProcessor,
  type BatchProcessorOptions,
  type CollectorStats,
  type ExportBatch,
  type ExportResult,
  ExportResults,
  type Recorded,
  type TelemetryEvent,
  type TrackpipeError,
  silentLogger,
} from '@trackpipe/core';
import { MemoryExporter } from '@trackpipe/core/testing';

type Event = Recorded<TelemetryEvent>;

function batchOf(count: number, from = 0): ExportBatch<Event> {
  const events: Event[] = Array.from({ length: count }, (_, i) => ({ name: 'e', id: `id-${from + i}`, timestamp: 1 }));
  const encoded = events.map((e) => JSON.stringify(e));
  return { size: events.length, events, encoded, bytes: encoded.reduce((n, text) => n + Buffer.byteLength(text), 0) };
}

function expectIdentity(stats: CollectorStats): void {
  expect(stats.recorded).toBe(stats.exported + stats.dropped + stats.queued + stats.inFlight);
}

/** A processor around `exporter` that reports errors into `errors` and logs nothing. */
function pipeline(exporter: MemoryExporter, options: BatchProcessorOptions = {}): { processor: BatchProcessor; errors: TrackpipeError[] } {
  const errors: TrackpipeError[] = [];
  const processor = new BatchProcessor(exporter, { logger: silentLogger, onError: (e) => errors.push(e), ...options });
  return { processor, errors };
}

function recordMany(processor: BatchProcessor, count: number): TelemetryEvent[] {
  const events: TelemetryEvent[] = [];
  for (let i = 0; i < count; i++) {
    const event: TelemetryEvent = { name: 'checkout', attributes: { i } };
    processor.record(event);
    events.push(event);
  }
  return events;
}

const ids = (events: readonly TelemetryEvent[]): (string | undefined)[] => events.map((e) => e.id);

afterEach(() => {
  vi.useRealTimers();
});

describe('MemoryExporter on its own', () => {
  it('answers ok when unscripted and keeps the batches, the events and every call', async () => {
    const exporter = new MemoryExporter();
    const signal = new AbortController().signal;
    await expect(exporter.export(batchOf(2), signal)).resolves.toEqual({ code: 'ok' });
    await expect(exporter.export(batchOf(1, 2), signal)).resolves.toEqual({ code: 'ok' });
    expect(exporter.batches.map(ids)).toEqual([['id-0', 'id-1'], ['id-2']]);
    expect(ids(exporter.events)).toEqual(['id-0', 'id-1', 'id-2']);
    expect(exporter.calls).toMatchObject([
      { attempt: 1, outcome: 'ok', settled: true, aborted: false, result: { code: 'ok' } },
      { attempt: 2, outcome: 'ok', settled: true, aborted: false },
    ]);
    expect(exporter.calls[0]?.encoded).toEqual(batchOf(2).encoded);
  });

  it('uses scripted steps one per call, in the order they were added, then answers ok again', async () => {
    const exporter = new MemoryExporter()
      .failNext(2, { code: 'retry', retryAfterMs: 100 })
      .failNext(1, { code: 'reject', indexes: [1] })
      .script({ code: 'too_large' }, { code: 'reject', count: 1 });
    expect(exporter.pending).toBe(5);
    const signal = new AbortController().signal;
    const results = [];
    for (let i = 0; i < 6; i++) results.push(await exporter.export(batchOf(3, i * 3), signal));
    expect(results).toEqual([
      { code: 'retry', retryAfterMs: 100 },
      { code: 'retry', retryAfterMs: 100 },
      { code: 'reject', indexes: [1] },
      { code: 'too_large' },
      { code: 'reject', count: 1 },
      { code: 'ok' },
    ]);
    expect(exporter.pending).toBe(0);
    // Delivered: all but index 1 of call 3, the first two of call 5 (one unidentified reject), call 6.
    expect(exporter.batches.map(ids)).toEqual([['id-6', 'id-8'], ['id-12', 'id-13'], ['id-15', 'id-16', 'id-17']]);
  });

  it('throws synchronously, or rejects with async: true, the error it was given', async () => {
    const error = new Error('exporter bug');
    const exporter = new MemoryExporter().throwNext(1, error).throwNext(1, 'not an Error', { async: true });
    const signal = new AbortController().signal;
    expect(() => exporter.export(batchOf(1), signal)).toThrow(error);
    await expect(exporter.export(batchOf(1), signal)).rejects.toBe('not an Error');
    expect(exporter.calls).toMatchObject([
      { outcome: 'throw', error, settled: true, result: undefined },
      { outcome: 'throw', error: 'not an Error' },
    ]);
    expect(exporter.events).toEqual([]);
  });

  it('hangs until the signal aborts, then answers retry with the abort reason', async () => {
    const exporter = new MemoryExporter().hangNext(2);
    const controller = new AbortController();
    let answered = false;
    const hanging = exporter.export(batchOf(1), controller.signal).then((result) => {
      answered = true;
      return result;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(answered).toBe(false);
    expect(exporter.calls[0]).toMatchObject({ outcome: 'hang', settled: false, aborted: false });
    const reason = new Error('deadline');
    controller.abort(reason);
    await expect(hanging).resolves.toEqual({ code: 'retry', error: reason });
    expect(exporter.calls[0]).toMatchObject({ settled: true, aborted: true, error: reason });
    // An already aborted signal ends a hang at once.
    await expect(exporter.export(batchOf(1), controller.signal)).resolves.toMatchObject({ code: 'retry' });
    expect(exporter.events).toEqual([]);
  });

  it('answers after delayMs, or retry at once when aborted during the delay', async () => {
    vi.useFakeTimers();
    const exporter = new MemoryExporter().script({ code: 'ok', delayMs: 200 }, { code: 'ok', delayMs: 200 });
    const first = exporter.export(batchOf(1), new AbortController().signal);
    await vi.advanceTimersByTimeAsync(199);
    expect(exporter.calls[0]?.settled).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await expect(first).resolves.toEqual({ code: 'ok' });
    const controller = new AbortController();
    const second = exporter.export(batchOf(1, 1), controller.signal);
    controller.abort(new Error('timed out'));
    await expect(second).resolves.toMatchObject({ code: 'retry' });
    expect(vi.getTimerCount()).toBe(0);
    expect(ids(exporter.events)).toEqual(['id-0']);
  });

  it('answers too_large above its maxBatchSize or maxBatchBytes when unscripted', async () => {
    const signal = new AbortController().signal;
    const byCount = new MemoryExporter({ maxBatchSize: 2 });
    await expect(byCount.export(batchOf(3), signal)).resolves.toMatchObject({ code: 'too_large' });
    await expect(byCount.export(batchOf(2), signal)).resolves.toEqual({ code: 'ok' });
    const batch = batchOf(2);
    const byBytes = new MemoryExporter({ maxBatchBytes: batch.bytes - 1 });
    await expect(byBytes.export(batch, signal)).resolves.toMatchObject({ code: 'too_large' });
    expect(byBytes.calls[0]?.outcome).toBe('too_large');
  });

  it('records shutdown() and answers reject to exports after it', async () => {
    const exporter = new MemoryExporter().failNext(1, { code: 'retry' });
    await exporter.shutdown();
    await exporter.shutdown();
    expect(exporter.shutdownCalls).toBe(2);
    expect(exporter.isShutdown).toBe(true);
    await expect(exporter.export(batchOf(1), new AbortController().signal)).resolves.toMatchObject({ code: 'reject' });
    expect(exporter.calls[0]?.outcome).toBe('shutdown');
    expect(exporter.pending).toBe(1); // the script was not consumed
    expect(exporter.events).toEqual([]);
  });

  it('reset() forgets the script, the calls and what was delivered', async () => {
    const exporter = new MemoryExporter().failNext(3, { code: 'retry' });
    await exporter.export(batchOf(1), new AbortController().signal);
    exporter.reset();
    expect(exporter.pending).toBe(0);
    expect(exporter.calls).toEqual([]);
    await expect(exporter.export(batchOf(1), new AbortController().signal)).resolves.toEqual({ code: 'ok' });
    expect(exporter.events).toHaveLength(1);
  });

  it('passes a function step\'s answer on unchanged, and keeps only what a well-formed answer delivered', async () => {
    const signal = new AbortController().signal;
    const malformed = { code: 'reject', indexes: [0, 7] } as unknown as ExportResult;
    const unreadable = {
      get code(): string {
        throw new Error('getter');
      },
    } as unknown as ExportResult;
    const exporter = new MemoryExporter().script(
      (batch) => ExportResults.reject({ indexes: [batch.events.length - 1] }),
      async () => malformed,
      () => unreadable,
      () => null as unknown as ExportResult,
    );
    await expect(exporter.export(batchOf(3), signal)).resolves.toEqual({ code: 'reject', indexes: [2] });
    await expect(exporter.export(batchOf(2, 3), signal)).resolves.toBe(malformed);
    await expect(exporter.export(batchOf(1, 5), signal)).resolves.toBe(unreadable);
    await expect(exporter.export(batchOf(1, 6), signal)).resolves.toBeNull();
    expect(exporter.calls.map((c) => c.outcome)).toEqual(['answer', 'answer', 'answer', 'answer']);
    expect(exporter.calls[1]).toMatchObject({ settled: true, result: malformed });
    expect(exporter.batches.map(ids)).toEqual([['id-0', 'id-1']]);
  });

  it('turns a function step that throws into a rejected export and records the error', async () => {
    const error = new Error('answer bug');
    const exporter = new MemoryExporter().script(() => {
      throw error;
    });
    await expect(exporter.export(batchOf(1), new AbortController().signal)).rejects.toBe(error);
    expect(exporter.calls[0]).toMatchObject({ outcome: 'answer', settled: true, error, result: undefined });
    expect(exporter.events).toEqual([]);
  });

  it('holds calls until release(), which answers each ok; an abort ends a hold with retry instead', async () => {
    const exporter = new MemoryExporter().holdNext(3);
    const signal = new AbortController().signal;
    const first = exporter.export(batchOf(1), signal);
    const second = exporter.export(batchOf(1, 1), signal);
    const controller = new AbortController();
    const third = exporter.export(batchOf(1, 2), controller.signal);
    expect(exporter.held).toBe(3);
    const reason = new Error('gave up');
    controller.abort(reason);
    await expect(third).resolves.toEqual({ code: 'retry', error: reason });
    expect(exporter.held).toBe(2);
    await new Promise((resolve) => setImmediate(resolve));
    expect(exporter.calls.map((c) => c.settled)).toEqual([false, false, true]);
    expect(exporter.release()).toBe(2);
    await expect(Promise.all([first, second])).resolves.toEqual([{ code: 'ok' }, { code: 'ok' }]);
    expect(exporter.calls.map((c) => c.outcome)).toEqual(['hold', 'hold', 'hold']);
    expect(exporter.calls[2]).toMatchObject({ aborted: true, error: reason });
    expect(ids(exporter.events)).toEqual(['id-0', 'id-1']);
    expect(exporter.release()).toBe(0);
  });

  it('answers calls beyond the script with otherwise(step); clearScript() drops the unused steps; reset() restores ok', async () => {
    const signal = new AbortController().signal;
    const exporter = new MemoryExporter().script(ExportResults.tooLarge(), ExportResults.tooLarge()).otherwise(ExportResults.retry({ auth: true }));
    await expect(exporter.export(batchOf(1), signal)).resolves.toEqual({ code: 'too_large' });
    exporter.clearScript();
    expect(exporter.pending).toBe(0);
    await expect(exporter.export(batchOf(1), signal)).resolves.toEqual({ code: 'retry', auth: true });
    await expect(exporter.export(batchOf(1), signal)).resolves.toEqual({ code: 'retry', auth: true });
    expect(exporter.calls).toHaveLength(3);
    exporter.reset();
    await expect(exporter.export(batchOf(1), signal)).resolves.toEqual({ code: 'ok' });
  });

  it('stamps each call with Date.now() and keeps the payload of an exporter with encodeBatch', async () => {
    vi.useFakeTimers({ now: 1_000 });
    const encodeBatch = (events: readonly Event[]): Uint8Array => Buffer.from(JSON.stringify(events));
    const exporter = new MemoryExporter({ encodeBatch, ordered: true });
    expect(exporter.encodeBatch).toBe(encodeBatch);
    expect(exporter.ordered).toBe(true);
    expect(new MemoryExporter().ordered).toBe(false);
    const payload = encodeBatch(batchOf(2).events);
    await exporter.export({ size: 2, events: batchOf(2).events, encoded: [], payload, bytes: payload.length }, new AbortController().signal);
    await vi.advanceTimersByTimeAsync(250);
    await exporter.export(batchOf(1), new AbortController().signal);
    expect(exporter.calls.map((c) => c.at)).toEqual([1_000, 1_250]);
    expect(exporter.calls[0]).toMatchObject({ payload, encoded: [], bytes: payload.length });
    expect(exporter.calls[1]?.payload).toBeUndefined();
  });

  it('rejects invalid options and counts with TRACKPIPE_ERR_OPTIONS_INVALID', () => {
    const invalid = expect.objectContaining({ code: 'TRACKPIPE_ERR_OPTIONS_INVALID' });
    expect(() => new MemoryExporter({ maxBatchSize: 0 })).toThrow(invalid);
    expect(() => new MemoryExporter({ maxBatchBytes: 1.5 })).toThrow(invalid);
    expect(() => new MemoryExporter({ name: '' })).toThrow(invalid);
    expect(() => new MemoryExporter().failNext(0, { code: 'ok' })).toThrow(invalid);
    expect(() => new MemoryExporter().hangNext(-1)).toThrow(invalid);
  });
});

describe('MemoryExporter driving a BatchProcessor', () => {
  it('ok: delivers every event once, in one batch', async () => {
    const exporter = new MemoryExporter();
    const { processor } = pipeline(exporter);
    const events = recordMany(processor, 5);
    await expect(processor.flush()).resolves.toMatchObject({ complete: true, exported: 5, dropped: 0 });
    expect(ids(exporter.events)).toEqual(ids(events));
    expect(exporter.batches).toHaveLength(1);
    expect(exporter.calls).toMatchObject([{ outcome: 'ok', settled: true }]);
    const stats = processor.stats();
    expect(stats).toMatchObject({ recorded: 5, exported: 5, dropped: 0, retries: 0 });
    expectIdentity(stats);
  });

  it('retry with retryAfterMs: the processor waits exactly that long before each new attempt', async () => {
    vi.useFakeTimers();
    const exporter = new MemoryExporter().failNext(2, { code: 'retry', retryAfterMs: 100 });
    const { processor } = pipeline(exporter);
    const events = recordMany(processor, 3);
    const flushed = processor.flush();
    await vi.advanceTimersByTimeAsync(0);
    expect(exporter.calls).toHaveLength(1);
    expect(processor.stats()).toMatchObject({ queued: 3, inFlight: 0, retries: 1 });
    await vi.advanceTimersByTimeAsync(99);
    expect(exporter.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(exporter.calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(99);
    expect(exporter.calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(1);
    await expect(flushed).resolves.toMatchObject({ complete: true, exported: 3, dropped: 0 });
    expect(exporter.calls.map((c) => c.outcome)).toEqual(['retry', 'retry', 'ok']);
    expect(exporter.calls.map((c) => ids(c.events))).toEqual([ids(events), ids(events), ids(events)]);
    expect(ids(exporter.events)).toEqual(ids(events));
    const stats = processor.stats();
    expect(stats).toMatchObject({ exported: 3, retries: 2, failedExports: { retryable: 2, permanent: 0, timeout: 0 } });
    expectIdentity(stats);
  });

  it('reject all: drops the batch as rejected and reports it', async () => {
    const exporter = new MemoryExporter().failNext(1, { code: 'reject', error: new Error('400 bad request') });
    const { processor, errors } = pipeline(exporter);
    recordMany(processor, 4);
    await expect(processor.flush()).resolves.toMatchObject({ complete: true, exported: 0, dropped: 4, droppedByReason: { rejected: 4 } });
    expect(exporter.events).toEqual([]);
    expect(exporter.batches).toEqual([]);
    expect(errors.map((e) => e.code)).toEqual(['TRACKPIPE_ERR_EXPORT_REJECTED']);
    expect(errors[0]?.message).toContain('400 bad request');
    const stats = processor.stats();
    expect(stats).toMatchObject({ exported: 0, dropped: 4, failedExports: { permanent: 1 } });
    expectIdentity(stats);
  });

  it('reject by index: drops only the events named, the rest count as exported', async () => {
    const exporter = new MemoryExporter().failNext(1, { code: 'reject', indexes: [0, 2] });
    const { processor } = pipeline(exporter);
    const events = recordMany(processor, 4);
    await expect(processor.flush()).resolves.toMatchObject({ complete: true, exported: 2, dropped: 2, droppedByReason: { rejected: 2 } });
    expect(ids(exporter.events)).toEqual([events[1]?.id, events[3]?.id]);
    expectIdentity(processor.stats());
  });

  it('too_large: the processor halves the batch until it fits and drops a lone event that does not', async () => {
    const exporter = new MemoryExporter().failNext(3, { code: 'too_large' });
    const { processor, errors } = pipeline(exporter, { maxConcurrentExports: 1 });
    const events = recordMany(processor, 4);
    await expect(processor.flush()).resolves.toMatchObject({ complete: true, exported: 3, dropped: 1, droppedByReason: { too_large: 1 } });
    // [e0 e1 e2 e3] → [e0 e1] → [e0] dropped alone; then [e1], [e2 e3].
    expect(exporter.calls.map((c) => c.events.length)).toEqual([4, 2, 1, 1, 2]);
    expect(exporter.calls.map((c) => c.outcome)).toEqual(['too_large', 'too_large', 'too_large', 'ok', 'ok']);
    expect(exporter.batches.map(ids)).toEqual([[events[1]?.id], [events[2]?.id, events[3]?.id]]);
    expect(errors.map((e) => e.code)).toEqual(['TRACKPIPE_ERR_EXPORT_TOO_LARGE']);
    expectIdentity(processor.stats());
  });

  it('too_large from the exporter limit: halves 8 events into batches of 2, delivering all in order', async () => {
    const exporter = new MemoryExporter({ maxBatchSize: 2 });
    const { processor } = pipeline(exporter, { maxConcurrentExports: 1 });
    const events = recordMany(processor, 8);
    await expect(processor.flush()).resolves.toMatchObject({ complete: true, exported: 8, dropped: 0 });
    expect(exporter.calls.map((c) => c.events.length)).toEqual([8, 4, 2, 2, 4, 2, 2]);
    expect(exporter.batches.map((b) => b.length)).toEqual([2, 2, 2, 2]);
    expect(ids(exporter.events)).toEqual(ids(events));
    expectIdentity(processor.stats());
  });

  it.each([
    { how: 'synchronously', async: false },
    { how: 'as a rejected promise', async: true },
  ])('throw ($how): the batch is dropped as rejected, reported as an exporter failure, and later batches go on', async ({ async }) => {
    const exporter = new MemoryExporter().throwNext(1, new Error('exporter bug'), { async });
    const { processor, errors } = pipeline(exporter);
    recordMany(processor, 2);
    await expect(processor.flush()).resolves.toMatchObject({ complete: true, exported: 0, dropped: 2, droppedByReason: { rejected: 2 } });
    expect(errors.map((e) => e.code)).toEqual(['TRACKPIPE_ERR_EXPORT_FAILED']);
    expect(errors[0]?.message).toContain('threw: exporter bug');
    const later = recordMany(processor, 1);
    await expect(processor.flush()).resolves.toMatchObject({ complete: true, exported: 1 });
    expect(ids(exporter.events)).toEqual(ids(later));
    const stats = processor.stats();
    expect(stats).toMatchObject({ recorded: 3, exported: 1, dropped: 2, failedExports: { permanent: 1 } });
    expect(stats.lastError?.code).toBe('TRACKPIPE_ERR_EXPORT_FAILED');
    expectIdentity(stats);
  });

  it('hang past exportTimeoutMs: the processor aborts the attempt, counts a timeout and retries', async () => {
    vi.useFakeTimers();
    const exporter = new MemoryExporter().hangNext(1);
    const { processor } = pipeline(exporter, { exportTimeoutMs: 1_000, random: () => 0 });
    const events = recordMany(processor, 3);
    const flushed = processor.flush();
    await vi.advanceTimersByTimeAsync(999);
    expect(exporter.calls).toMatchObject([{ outcome: 'hang', settled: false, aborted: false }]);
    expect(processor.stats()).toMatchObject({ inFlight: 3, batchesInFlight: 1 });
    expectIdentity(processor.stats());
    await vi.advanceTimersByTimeAsync(1);
    await expect(flushed).resolves.toMatchObject({ complete: true, exported: 3, dropped: 0 });
    const [hung, retried] = exporter.calls;
    expect(hung).toMatchObject({ aborted: true, settled: true, result: { code: 'retry' } });
    expect(hung?.error).toMatchObject({ code: 'TRACKPIPE_ERR_EXPORT_TIMEOUT' });
    expect(retried).toMatchObject({ outcome: 'ok', aborted: false });
    expect(ids(exporter.events)).toEqual(ids(events)); // once, not twice
    const stats = processor.stats();
    expect(stats).toMatchObject({ exported: 3, retries: 1, failedExports: { retryable: 0, permanent: 0, timeout: 1 } });
    expectIdentity(stats);
  });

  it('hang past the close() deadline: the events are dropped (shutdown_timeout), the signal fires, shutdown() is called', async () => {
    vi.useFakeTimers();
    const exporter = new MemoryExporter().hangNext(1);
    const { processor, errors } = pipeline(exporter, { exportTimeoutMs: 60_000 });
    recordMany(processor, 2);
    const closed = processor.close({ timeoutMs: 500 });
    await vi.advanceTimersByTimeAsync(500);
    await expect(closed).resolves.toMatchObject({ complete: false, dropped: 2, droppedByReason: { shutdown_timeout: 2 }, remaining: 0 });
    expect(exporter.calls[0]).toMatchObject({ aborted: true, settled: true });
    expect(exporter.shutdownCalls).toBe(1);
    expect(errors.map((e) => e.code)).toEqual(['TRACKPIPE_ERR_SHUTDOWN_TIMEOUT']);
    expectIdentity(processor.stats());
  });

  it('a slow (delayed) answer keeps the events in flight until it comes', async () => {
    vi.useFakeTimers();
    const exporter = new MemoryExporter().failNext(1, { code: 'ok', delayMs: 2_000 });
    const { processor } = pipeline(exporter);
    recordMany(processor, 2);
    const flushed = processor.flush();
    await vi.advanceTimersByTimeAsync(1_999);
    expect(processor.stats()).toMatchObject({ inFlight: 2, exported: 0 });
    await vi.advanceTimersByTimeAsync(1);
    await expect(flushed).resolves.toMatchObject({ complete: true, exported: 2 });
  });

  it('close() calls shutdown() once, however often close() is called', async () => {
    const exporter = new MemoryExporter();
    const { processor } = pipeline(exporter);
    recordMany(processor, 1);
    await processor.close();
    await processor.close();
    expect(exporter.shutdownCalls).toBe(1);
    expect(exporter.events).toHaveLength(1);
  });

  it('keeps the processor accounting and its own delivered list in step over a mixed script', async () => {
    vi.useFakeTimers();
    const exporter = new MemoryExporter();
    const steps = [
      { code: 'retry', retryAfterMs: 10 },
      { code: 'reject', indexes: [1] },
      { code: 'too_large' },
      { code: 'throw' },
      { code: 'ok', delayMs: 5 },
      { code: 'reject' },
      { code: 'hang' },
    ] as const;
    for (let i = 0; i < 40; i++) {
      const step = steps[i % steps.length]!;
      if (step.code === 'throw') exporter.throwNext(1);
      else exporter.script(step);
    }
    const { processor } = pipeline(exporter, { maxBatchSize: 3, exportTimeoutMs: 50, random: () => 0.5, retry: { initialBackoffMs: 10 } });
    const recorded = new Set(ids(recordMany(processor, 60)));
    const flushed = processor.flush();
    for (let i = 0; i < 100 && exporter.pending > 0; i++) {
      await vi.advanceTimersByTimeAsync(10);
      expectIdentity(processor.stats());
    }
    await vi.advanceTimersByTimeAsync(1_000);
    await expect(flushed).resolves.toMatchObject({ complete: true });
    expect(exporter.pending).toBe(0);
    const stats = processor.stats();
    expectIdentity(stats);
    expect(stats).toMatchObject({ recorded: 60, queued: 0, inFlight: 0 });
    const delivered = ids(exporter.events);
    expect(delivered).toHaveLength(stats.exported);
    expect(new Set(delivered).size).toBe(delivered.length); // no event delivered twice
    for (const id of delivered) expect(recorded.has(id)).toBe(true);
    expect(stats.droppedByReason.rejected).toBeGreaterThan(0);
    expect(stats.failedExports.timeout).toBeGreaterThan(0);
    expect(stats.retries).toBeGreaterThan(0);
  });
});
