// The examples of README.md, kept runnable: change both together.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { BatchProcessor, type Collector, type FlagEvaluationEvent, flagEvaluation, silentLogger } from '@trackpipe/core';
import { MemoryCollector, MemoryExporter } from '@trackpipe/collector-memory';

// ---- the app (README: "Testing a small app") ----
interface Flags {
  isEnabled(flagKey: string, userId: string): Promise<boolean>;
}

/** Answers at once; evaluates the flag in the background and records the evaluation. */
function prefetchCheckout(userId: string, flags: Flags, collector: Collector<FlagEvaluationEvent>): void {
  void flags.isEnabled('new-checkout', userId).then((enabled) => {
    collector.record(
      flagEvaluation({ flagKey: 'new-checkout', value: enabled, variant: enabled ? 'on' : 'off', targetingKey: userId }),
    );
  });
}

describe('prefetchCheckout', () => {
  const flags: Flags = {
    isEnabled: (_flagKey, userId) => new Promise((resolve) => setTimeout(() => resolve(userId.endsWith('7')), 10)),
  };

  it('records the evaluation for the user', async () => {
    const collector = new MemoryCollector();
    prefetchCheckout('user-7', flags, collector);
    const event = await collector.waitFor((e) => e.targetingKey === 'user-7');
    expect(event).toMatchObject({ flagKey: 'new-checkout', value: true, variant: 'on' });
  });

  it('records one evaluation per user', async () => {
    const collector = new MemoryCollector();
    for (const user of ['user-1', 'user-2', 'user-7']) prefetchCheckout(user, flags, collector);
    const events = await collector.waitFor(3, { flagKey: 'new-checkout' });
    expect(events.map((e) => e.variant).sort()).toEqual(['off', 'off', 'on']);
    expect(collector.getEvents({ where: (e) => e.value === true }).map((e) => e.targetingKey)).toEqual(['user-7']);
  });
});

// ---- README: "Testing a pipeline with MemoryExporter" ----
describe('a pipeline whose endpoint is down for a while', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('retries after Retry-After and delivers every event once', async () => {
    vi.useFakeTimers();
    const exporter = new MemoryExporter().failNext(2, { code: 'retry', retryAfterMs: 1_000 });
    const pipeline = new BatchProcessor(exporter, { logger: silentLogger });
    pipeline.record(flagEvaluation({ flagKey: 'new-checkout', value: true }));

    const flushed = pipeline.flush();
    await vi.advanceTimersByTimeAsync(2_000);
    await expect(flushed).resolves.toMatchObject({ complete: true, exported: 1 });

    expect(exporter.calls.map((c) => c.outcome)).toEqual(['retry', 'retry', 'ok']);
    expect(exporter.events).toHaveLength(1);
    expect(pipeline.stats()).toMatchObject({ exported: 1, dropped: 0, retries: 2 });
  });
});
