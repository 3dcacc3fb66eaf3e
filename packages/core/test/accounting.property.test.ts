import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { BatchProcessor, type ExportResult, ExportResults, type Recorded, type TelemetryEvent } from '@trackpipe/core';
import { type ExportStep, MemoryExporter } from '@trackpipe/core/testing';
import { identityHolds } from './support/events.js';

// Random schedules of records (hostile ones among them), flushes, time and exporter outcomes (ok,
// retry, reject, too large, throw, hang past the timeout, and malformed answers). After every step
// record() has not thrown and the accounting identity holds; once the exporter turns healthy, every
// event that was not dropped is exported, exactly as counted, and no rejection went unhandled.
// The exporter is core's MemoryExporter: its delivered list is read from each answer independently of
// the processor, so the two books are compared.

type Step = ExportStep;

const malformed: fc.Arbitrary<Step> = fc.constantFrom<Step>(
  () => ({ code: 'reject', indexes: 'x' }) as unknown as ExportResult,
  (batch) => ({ code: 'reject', indexes: [batch.events.length + 3] }),
  () => ({ code: 'reject', count: -1 }),
  () => ({ get code(): string { throw new Error('getter'); } }) as unknown as ExportResult,
  () => null as unknown as ExportResult,
  () => ({ code: 'maybe' }) as unknown as ExportResult,
);

const outcome: fc.Arbitrary<Step> = fc.oneof(
  fc.constant(ExportResults.ok()),
  fc.constant(ExportResults.retry()),
  fc.integer({ min: 0, max: 3_000 }).map((retryAfterMs) => ExportResults.retry({ retryAfterMs })),
  fc.constant(ExportResults.retry({ retryAfterMs: 600_000 })),
  fc.constant(ExportResults.reject()),
  fc.uniqueArray(fc.nat({ max: 20 }), { maxLength: 4 }).map<Step>((picks) => (batch) =>
    ExportResults.reject({ indexes: picks.filter((i) => i < batch.events.length) }),
  ),
  fc.nat({ max: 20 }).map<Step>((count) => (batch) => ExportResults.reject({ count: Math.min(count, batch.events.length) })),
  fc.constant(ExportResults.tooLarge()),
  fc.constantFrom<Step>(
    { code: 'throw', error: new Error('exporter exploded'), async: true },
    { code: 'throw', error: new Error('exporter exploded') },
  ),
  fc.constant<Step>({ code: 'hang' }),
  malformed,
);

type Kind = 'valid' | 'null' | 'throwing-getter' | 'revoked' | 'frozen' | 'frozen-complete' | 'cyclic';

function hostileEvent(kind: Kind, i: number): TelemetryEvent {
  switch (kind) {
    case 'valid':
      return { name: `e${i}`, attributes: { i } };
    case 'null':
      return null as never;
    case 'throwing-getter':
      return { get name(): string { throw new Error('getter'); } };
    case 'revoked': {
      const { proxy, revoke } = Proxy.revocable({ name: `e${i}` }, {});
      revoke();
      return proxy;
    }
    case 'frozen':
      return Object.freeze({ name: `e${i}` });
    case 'frozen-complete':
      return Object.freeze({ name: `e${i}`, id: `frozen-${i}`, timestamp: 1_000 + i });
    case 'cyclic': {
      const event: Record<string, unknown> = { name: `e${i}` };
      event.self = event;
      return event as unknown as TelemetryEvent;
    }
  }
}

type Action =
  | { kind: 'record'; count: number; event: Kind }
  | { kind: 'flush' }
  | { kind: 'advance'; ms: number }
  | { kind: 'script'; steps: Step[] };

const action: fc.Arbitrary<Action> = fc.oneof(
  fc.record({
    kind: fc.constant('record' as const),
    count: fc.integer({ min: 1, max: 40 }),
    event: fc.constantFrom<Kind>('valid', 'valid', 'valid', 'null', 'throwing-getter', 'revoked', 'frozen', 'frozen-complete', 'cyclic'),
  }),
  fc.constant<Action>({ kind: 'flush' }),
  fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 4_000 }) }),
  fc.record({ kind: fc.constant('script' as const), steps: fc.array(outcome, { maxLength: 6 }) }),
);

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
beforeAll(() => process.on('unhandledRejection', onUnhandled));
afterAll(() => process.off('unhandledRejection', onUnhandled));
beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('accounting under random failure schedules', () => {
  it('keeps recorded = exported + dropped + queued + inFlight, never throws, and delivers every surviving event once healthy', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(action, { maxLength: 30 }),
        fc.record({
          maxQueueSize: fc.integer({ min: 5, max: 60 }),
          maxBatchSize: fc.integer({ min: 1, max: 16 }),
          maxConcurrentExports: fc.integer({ min: 1, max: 3 }),
          overflow: fc.constantFrom('drop-oldest' as const, 'drop-newest' as const),
          traceContext: fc.boolean(),
        }),
        fc.constantFrom('each', 'whole', 'ordered'),
        async (actions, shape, encoding) => {
          unhandled.length = 0;
          const exporter = new MemoryExporter<Recorded<TelemetryEvent>>({
            ...(encoding === 'whole' ? { encodeBatch: (batch: readonly TelemetryEvent[]) => Buffer.from(JSON.stringify(batch)) } : {}),
            ...(encoding === 'ordered' ? { ordered: true } : {}),
          });
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
              for (let k = 0; k < a.count; k++) processor.record(hostileEvent(a.event, n + k));
              n += a.count;
            } else if (a.kind === 'flush') {
              pending.push(processor.flush());
            } else if (a.kind === 'advance') {
              await vi.advanceTimersByTimeAsync(a.ms);
            } else {
              exporter.script(...a.steps);
            }
            expect(identityHolds(processor.stats())).toBe(true);
          }
          // The exporter turns healthy: everything still queued or retrying must now get through.
          exporter.clearScript().otherwise(ExportResults.ok());
          const closing = processor.close({ timeoutMs: 120_000 });
          await vi.advanceTimersByTimeAsync(120_000);
          const report = await closing;
          await Promise.all(pending);
          const s = processor.stats();
          expect(s.recorded).toBe(n);
          expect(report.complete).toBe(true);
          expect(s.queued + s.inFlight).toBe(0);
          expect(s.recorded).toBe(s.exported + s.dropped);
          expect(s.droppedByReason.shutdown_timeout).toBe(0);
          // Exactly the exported events reached the destination, each once (no phantom, no loss).
          const ids = new Set(exporter.events.map((e) => e.id));
          expect(ids.size).toBe(exporter.events.length);
          expect(ids.size).toBe(s.exported);
          expect(unhandled).toEqual([]);
        },
      ),
      { numRuns: 200 },
    );
  });
});
