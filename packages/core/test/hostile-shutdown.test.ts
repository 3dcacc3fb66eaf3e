import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BatchProcessor, type Closeable, closeOnSignals, silentLogger } from '@trackpipe/core';
import { MemoryExporter } from '@trackpipe/core/testing';

// closeOnSignals() closes whatever the application hands it. A close() that throws synchronously,
// rejects with something that cannot be made text, or answers no report must not keep the other
// collectors from closing, leave a rejection unhandled, or keep the handlers (and so the process) in place.

const escaped: unknown[] = [];
const onEscaped = (reason: unknown): void => void escaped.push(reason);
beforeAll(() => process.on('unhandledRejection', onEscaped));
afterAll(() => process.off('unhandledRejection', onEscaped));

/** Rejects with something that is no Error and cannot be made text. */
async function rejectUnprintable(): Promise<never> {
  // eslint-disable-next-line @typescript-eslint/only-throw-error -- the point: a close() that rejects with a non-Error
  throw { toString: (): string => { throw new Error('cannot print me'); } };
}

describe('closeOnSignals with collectors whose close() misbehaves', () => {
  it('closes the others, logs each failure, and removes its handlers', async () => {
    escaped.length = 0;
    // Another listener keeps the signal from being raised again (it would end the test process).
    const bystander = (): void => undefined;
    process.on('SIGUSR2', bystander);
    try {
      const exporter = new MemoryExporter();
      const processor = new BatchProcessor(exporter, { logger: silentLogger });
      processor.record({ name: 'a' });
      const logged: string[] = [];
      const collectors: Closeable[] = [
        { close: () => { throw new Error('close threw synchronously'); } },
        { close: rejectUnprintable },
        { close: () => Promise.resolve(undefined as never) },
        processor,
      ];
      closeOnSignals(collectors, { signals: ['SIGUSR2'], logger: { warn: (m) => logged.push(m), error: (m) => logged.push(m) } });
      expect(process.listenerCount('SIGUSR2')).toBe(2);
      process.emit('SIGUSR2', 'SIGUSR2');
      for (let i = 0; i < 50 && process.listenerCount('SIGUSR2') > 1; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(process.listenerCount('SIGUSR2')).toBe(1);
      expect(exporter.events.map((e) => e.name)).toEqual(['a']);
      expect(logged).toEqual([
        'close() failed on SIGUSR2: close threw synchronously',
        'close() failed on SIGUSR2: unknown error (it could not be described)',
      ]);
      expect(escaped).toEqual([]);
    } finally {
      process.off('SIGUSR2', bystander);
    }
  });
});

describe('closeOnSignals with a collector whose close() never settles', () => {
  it('stops waiting for it some seconds after the deadline it was given, says so, and removes its handlers', async () => {
    const bystander = (): void => undefined;
    process.on('SIGUSR2', bystander);
    vi.useFakeTimers();
    try {
      const exporter = new MemoryExporter();
      const processor = new BatchProcessor(exporter, { logger: silentLogger });
      processor.record({ name: 'a' });
      const logged: string[] = [];
      closeOnSignals([{ close: () => new Promise<never>(() => undefined) }, processor], {
        signals: ['SIGUSR2'],
        timeoutMs: 1_000,
        logger: { warn: (m) => logged.push(m), error: (m) => logged.push(m) },
      });
      process.emit('SIGUSR2', 'SIGUSR2');
      await vi.advanceTimersByTimeAsync(1_000 + 10_000);
      expect(process.listenerCount('SIGUSR2')).toBe(1);
      expect(exporter.events.map((e) => e.name)).toEqual(['a']);
      expect(logged).toEqual(['close() did not return on SIGUSR2 within 11000 ms (its deadline of 1000 ms and 10000 ms more); stopped waiting for it']);
    } finally {
      vi.useRealTimers();
      process.off('SIGUSR2', bystander);
    }
  });
});
