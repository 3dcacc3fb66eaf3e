import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BatchProcessor, ExportResults } from '@trackpipe/core';
import { ScriptedExporter, type Step, events, identityHolds } from './support/scripted-exporter.js';

// Random schedules of records, flushes, time and exporter outcomes (ok, retry, reject, too large,
// throw, hang past the timeout). After every step the accounting identity holds; once the exporter
// turns healthy, every event that was not dropped is exported, exactly as counted.

const outcome: fc.Arbitrary<Step> = fc.oneof(
  fc.constant(ExportResults.ok()),
  fc.constant(ExportResults.retry()),
  fc.integer({ min: 0, max: 3_000 }).map((retryAfterMs) => ExportResults.retry({ retryAfterMs })),
  fc.constant(ExportResults.reject()),
  fc.uniqueArray(fc.nat({ max: 20 }), { maxLength: 4 }).map((indexes) => ExportResults.reject({ indexes })),
  fc.constant(ExportResults.tooLarge()),
  fc.constant<Step>('throw'),
  fc.constant<Step>('hang'),
);

type Action =
  | { kind: 'record'; count: number; invalid: boolean }
  | { kind: 'flush' }
  | { kind: 'advance'; ms: number }
  | { kind: 'script'; steps: Step[] };

const action: fc.Arbitrary<Action> = fc.oneof(
  fc.record({ kind: fc.constant('record' as const), count: fc.integer({ min: 1, max: 40 }), invalid: fc.boolean() }),
  fc.constant<Action>({ kind: 'flush' }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 4_000 }) }),
  fc.record({ kind: fc.constant('script' as const), steps: fc.array(outcome, { maxLength: 6 }) }),
);

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('accounting under random failure schedules', () => {
  it('keeps recorded = exported + dropped + queued + inFlight, and delivers every surviving event once healthy', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(action, { maxLength: 30 }),
        fc.record({
          maxQueueSize: fc.integer({ min: 5, max: 60 }),
          maxBatchSize: fc.integer({ min: 1, max: 16 }),
          maxConcurrentExports: fc.integer({ min: 1, max: 3 }),
          overflow: fc.constantFrom('drop-oldest' as const, 'drop-newest' as const),
        }),
        async (actions, shape) => {
          const exporter = new ScriptedExporter();
          const processor = new BatchProcessor(exporter, {
            ...shape,
            flushIntervalMs: 1_000,
            exportTimeoutMs: 500,
            retry: { initialBackoffMs: 50, maxBackoffMs: 800, maxElapsedMs: 20_000 },
            logger: { warn: () => undefined, error: () => undefined },
          });
          const pending: Promise<unknown>[] = [];
          let n = 0;
          for (const a of actions) {
            if (a.kind === 'record') {
              for (const e of events(a.count, n)) processor.record(a.invalid && n % 7 === 0 ? (null as never) : e);
              n += a.count;
            } else if (a.kind === 'flush') {
              pending.push(processor.flush());
            } else if (a.kind === 'advance') {
              await vi.advanceTimersByTimeAsync(a.ms);
            } else {
              exporter.script.push(...a.steps);
            }
            expect(identityHolds(processor.stats())).toBe(true);
          }
          // The exporter turns healthy: everything still queued or retrying must now get through.
          exporter.script.length = 0;
          exporter.fallback = ExportResults.ok();
          const closing = processor.close({ timeoutMs: 120_000 });
          await vi.advanceTimersByTimeAsync(120_000);
          const report = await closing;
          await Promise.all(pending);
          const s = processor.stats();
          expect(report.complete).toBe(true);
          expect(s.queued + s.inFlight).toBe(0);
          expect(s.recorded).toBe(s.exported + s.dropped);
          expect(s.droppedByReason.shutdown_timeout).toBe(0);
          // Exactly the exported events reached the destination, each once (no phantom, no loss).
          const ids = new Set(exporter.delivered.map((e) => e.id));
          expect(ids.size).toBe(exporter.delivered.length);
          expect(ids.size).toBe(s.exported);
        },
      ),
      { numRuns: 150 },
    );
  });
});
