import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  BatchProcessor,
  type FlagEvaluationEvent,
  type FlagEvaluationSummaryEvent,
  FunctionExporter,
  type Recorded,
  SUMMARY_OTHER,
  SummarizingCollector,
  flagEvaluation,
  isFlagEvaluationSummary,
  silentLogger,
} from '@trackpipe/core';
import { InnerCollector, identityOf } from './summaries-fixtures.js';

// Random streams of evaluations cut by random window boundaries (time passing under fake timers),
// flushes and a close at a random moment: the summed counts equal the evaluations recorded, per key,
// and the accounting identity holds after every step.

/** The key a summary reports, as the test computes it from an evaluation (reason and error lowercased). */
function keyOfEvaluation(e: FlagEvaluationEvent): string {
  const value = e.value !== null && typeof e.value === 'object' ? JSON.stringify(e.value) : e.value;
  return JSON.stringify([
    e.flagKey,
    e.variant ?? null,
    value === undefined ? '(none)' : value,
    e.reason?.toLowerCase() ?? null,
    e.errorCode?.toLowerCase() ?? null,
    e.provider ?? null,
    e.attributes?.['feature_flag.version'] ?? null,
  ]);
}

function keyOfSummary(s: FlagEvaluationSummaryEvent): string {
  const a = s.attributes;
  const value = a['feature_flag.result.value'];
  return JSON.stringify([
    a['feature_flag.key'],
    a['feature_flag.result.variant'] ?? null,
    value !== null && typeof value === 'object' ? JSON.stringify(value) : value === undefined ? '(none)' : value,
    a['feature_flag.result.reason'] ?? null,
    a['error.type'] ?? null,
    a['feature_flag.provider.name'] ?? null,
    a['feature_flag.version'] ?? null,
  ]);
}

const evaluationArb: fc.Arbitrary<FlagEvaluationEvent> = fc
  .record({
    flagKey: fc.constantFrom('checkout', 'theme', 'limit', 'banner', 'search'),
    variant: fc.option(fc.constantFrom('on', 'off', 'control'), { nil: undefined }),
    value: fc.oneof(fc.boolean(), fc.integer({ min: 0, max: 3 }), fc.constantFrom('a', 'b'), fc.constant(null), fc.constant({ colors: ['#000'] })),
    reason: fc.option(fc.constantFrom('STATIC', 'SPLIT', 'TARGETING_MATCH', 'ERROR'), { nil: undefined }),
    errorCode: fc.option(fc.constantFrom('FLAG_NOT_FOUND', 'GENERAL'), { nil: undefined }),
    provider: fc.option(fc.constantFrom('flagd', 'in-memory'), { nil: undefined }),
    version: fc.option(fc.constantFrom('1', '2'), { nil: undefined }),
    targetingKey: fc.option(fc.constantFrom('u1', 'u2', 'u3'), { nil: undefined }),
  })
  .map(({ version, value, ...fields }) => {
    // A fresh object each time for object values: keyed by content, not identity.
    const copy = value !== null && typeof value === 'object' ? { colors: [...value.colors] } : value;
    const e = flagEvaluation({ ...fields, value: copy });
    if (version !== undefined) e.attributes = { 'feature_flag.version': version };
    return e;
  });

type Step = { kind: 'record'; events: FlagEvaluationEvent[] } | { kind: 'advance'; ms: number } | { kind: 'flush' } | { kind: 'other' };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 5, arbitrary: fc.array(evaluationArb, { minLength: 1, maxLength: 30 }).map((events) => ({ kind: 'record' as const, events })) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 2_500 }).map((ms) => ({ kind: 'advance' as const, ms })) },
  { weight: 1, arbitrary: fc.constant<Step>({ kind: 'flush' }) },
  { weight: 1, arbitrary: fc.constant<Step>({ kind: 'other' }) },
);

beforeEach(() => {
  vi.useFakeTimers({ now: 1_700_000_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('summaries add up, per key, across windows, flushes and close', () => {
  it('sums to exactly the evaluations recorded per key when every key fits (maxKeys large)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { maxLength: 40 }), fc.integer({ min: 200, max: 3_000 }), async (steps, intervalMs) => {
        const inner = new InnerCollector();
        const s = new SummarizingCollector(inner, { intervalMs, maxKeys: 10_000, logger: silentLogger });
        const expected = new Map<string, number>();
        let others = 0;
        const identity = () => {
          const { recorded, accounted } = identityOf(s.stats());
          expect(accounted).toBe(recorded);
        };
        for (const step of steps) {
          if (step.kind === 'record') {
            for (const e of step.events) {
              s.record(e);
              expected.set(keyOfEvaluation(e), (expected.get(keyOfEvaluation(e)) ?? 0) + 1);
            }
          } else if (step.kind === 'advance') {
            vi.advanceTimersByTime(step.ms);
          } else if (step.kind === 'flush') {
            await s.flush();
          } else {
            s.record({ name: 'page.viewed' } as unknown as FlagEvaluationEvent);
            others++;
          }
          identity();
        }
        await s.close();
        identity();
        const got = new Map<string, number>();
        for (const summary of inner.summaries()) {
          got.set(keyOfSummary(summary), (got.get(keyOfSummary(summary)) ?? 0) + summary.attributes['trackpipe.summary.count']);
          expect(summary.attributes['trackpipe.summary.count']).toBeGreaterThan(0);
          expect(summary.attributes['trackpipe.summary.first_timestamp']).toBeLessThanOrEqual(summary.attributes['trackpipe.summary.last_timestamp']);
          expect(summary.attributes['trackpipe.summary.window_start']).toBeLessThanOrEqual(summary.timestamp);
        }
        expect(got).toEqual(expected);
        expect(inner.events.filter((e) => !isFlagEvaluationSummary(e))).toHaveLength(others);
        const stats = s.stats();
        expect(stats).toMatchObject({ queued: 0, dropped: 0, overflowed: 0, passedThrough: others });
        expect(stats.exported).toBe(stats.recorded);
      }),
      { numRuns: 150 },
    );
  });

  it('with a small maxKeys: no key is over-counted, the overflow bucket holds the rest, and the total is exact', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { maxLength: 40 }), fc.integer({ min: 1, max: 6 }), async (steps, maxKeys) => {
        const inner = new InnerCollector();
        const s = new SummarizingCollector(inner, { intervalMs: 1_000, maxKeys, logger: silentLogger });
        const expected = new Map<string, number>();
        let evaluations = 0;
        for (const step of steps) {
          if (step.kind === 'record') {
            for (const e of step.events) {
              s.record(e);
              evaluations++;
              expected.set(keyOfEvaluation(e), (expected.get(keyOfEvaluation(e)) ?? 0) + 1);
            }
          } else if (step.kind === 'advance') {
            vi.advanceTimersByTime(step.ms);
          } else if (step.kind === 'flush') {
            await s.flush();
          }
          expect(s.stats().keys).toBeLessThanOrEqual(maxKeys);
        }
        await s.close();
        let total = 0;
        let other = 0;
        const got = new Map<string, number>();
        for (const summary of inner.summaries()) {
          const count = summary.attributes['trackpipe.summary.count'];
          total += count;
          if (summary.attributes['feature_flag.key'] === SUMMARY_OTHER) other += count;
          else got.set(keyOfSummary(summary), (got.get(keyOfSummary(summary)) ?? 0) + count);
        }
        expect(total).toBe(evaluations);
        expect(other).toBe(s.stats().overflowed);
        for (const [key, count] of got) expect(count).toBeLessThanOrEqual(expected.get(key) ?? 0);
        expect(s.stats()).toMatchObject({ recorded: evaluations, exported: evaluations, queued: 0 });
      }),
      { numRuns: 150 },
    );
  });

  it('through a real BatchProcessor: the counts of the exported summaries equal the evaluations recorded, per flag', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { maxLength: 25 }), async (steps) => {
        const exported: Recorded<FlagEvaluationSummaryEvent>[] = [];
        const processor = new BatchProcessor(
          new FunctionExporter<Recorded<FlagEvaluationSummaryEvent>>((events) => {
            exported.push(...events.filter(isFlagEvaluationSummary));
          }),
          { maxBatchSize: 7, flushIntervalMs: 1_500, logger: silentLogger },
        );
        const s = new SummarizingCollector(processor, { intervalMs: 1_000, logger: silentLogger });
        const expected = new Map<string, number>();
        for (const step of steps) {
          if (step.kind === 'record') {
            for (const e of step.events) {
              s.record(e);
              expected.set(e.flagKey, (expected.get(e.flagKey) ?? 0) + 1);
            }
          } else if (step.kind === 'advance') {
            await vi.advanceTimersByTimeAsync(step.ms);
          } else if (step.kind === 'flush') {
            await s.flush();
          }
        }
        const report = await s.close();
        expect(report.complete).toBe(true);
        const got = new Map<string, number>();
        for (const e of exported) got.set(e.attributes['feature_flag.key'], (got.get(e.attributes['feature_flag.key']) ?? 0) + e.attributes['trackpipe.summary.count']);
        expect(got).toEqual(expected);
        expect(new Set(exported.map((e) => e.id)).size).toBe(exported.length);
        expect(s.stats().inner).toMatchObject({ exported: exported.length, dropped: 0, queued: 0, inFlight: 0 });
      }),
      { numRuns: 60 },
    );
  });
});
