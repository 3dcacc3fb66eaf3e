import { Counter, Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type FlagEvaluationEvent, SUMMARY_OTHER, SummarizingCollector, TrackpipeError, flagEvaluation, silentLogger } from '@trackpipe/core';
import { FLAG_METRICS, type FlagEvaluationMetricsOptions, instrumentFlagEvaluations } from '@trackpipe/core/metrics';
import { parseExposition, samples, valueOf } from '@trackpipe/core/testing';
import { InnerCollector } from './summaries-fixtures.js';

const EVALUATIONS = FLAG_METRICS.evaluations.name;
const OVERFLOWED = FLAG_METRICS.overflowed.name;

let open: SummarizingCollector[] = [];
function summarizer(options: ConstructorParameters<typeof SummarizingCollector>[1] = {}): SummarizingCollector {
  const s = new SummarizingCollector(new InnerCollector(), { logger: silentLogger, intervalMs: 1_000, ...options });
  open.push(s);
  return s;
}

function evaluation(flagKey: string, variant?: string): FlagEvaluationEvent {
  return flagEvaluation({ flagKey, value: variant ?? null, ...(variant === undefined ? {} : { variant }) });
}

async function scrape(registry: Registry) {
  return parseExposition(await registry.metrics());
}

beforeEach(() => {
  vi.useFakeTimers({ now: 1_700_000_000_000 });
});
afterEach(async () => {
  for (const s of open) await s.close();
  open = [];
  vi.useRealTimers();
});

describe('trackpipe_flag_evaluations_total', () => {
  it('counts evaluations per flag and variant, the open window included, and never goes down when windows close', async () => {
    const registry = new Registry();
    const s = summarizer();
    instrumentFlagEvaluations(s, { registry });
    for (let i = 0; i < 5; i++) s.record(evaluation('checkout', 'on'));
    for (let i = 0; i < 2; i++) s.record(evaluation('checkout', 'off'));
    s.record(evaluation('broken'));
    let families = await scrape(registry);
    expect(families.get(EVALUATIONS)?.type).toBe('counter');
    expect(valueOf(families, EVALUATIONS, { flag: 'checkout', variant: 'on' })).toBe(5);
    expect(valueOf(families, EVALUATIONS, { flag: 'checkout', variant: 'off' })).toBe(2);
    expect(valueOf(families, EVALUATIONS, { flag: 'broken', variant: '' })).toBe(1);

    vi.advanceTimersByTime(1_000); // the window closes: the counts move from the open window to the totals
    families = await scrape(registry);
    expect(valueOf(families, EVALUATIONS, { flag: 'checkout', variant: 'on' })).toBe(5);
    s.record(evaluation('checkout', 'on'));
    vi.advanceTimersByTime(5_000);
    s.record(evaluation('checkout', 'on'));
    families = await scrape(registry);
    expect(valueOf(families, EVALUATIONS, { flag: 'checkout', variant: 'on' })).toBe(7);
    expect(valueOf(families, OVERFLOWED, {})).toBe(0);
  });

  it('keeps its series to maxSeries, first come first served, and counts the rest under __other__', async () => {
    const registry = new Registry();
    const s = summarizer();
    instrumentFlagEvaluations(s, { registry, maxSeries: 3 });
    for (let flag = 0; flag < 10; flag++) for (let i = 0; i <= flag; i++) s.record(evaluation(`flag-${flag}`, 'on'));
    vi.advanceTimersByTime(1_000);
    for (let flag = 0; flag < 10; flag++) s.record(evaluation(`flag-${flag}`, 'on'));
    const families = await scrape(registry);
    const all = samples(families, EVALUATIONS);
    expect(all).toHaveLength(4);
    expect(valueOf(families, EVALUATIONS, { flag: 'flag-0', variant: 'on' })).toBe(2);
    expect(valueOf(families, EVALUATIONS, { flag: 'flag-2', variant: 'on' })).toBe(4);
    expect(valueOf(families, EVALUATIONS, { flag: SUMMARY_OTHER, variant: SUMMARY_OTHER })).toBe(55 + 10 - (2 + 3 + 4));
    expect(all.reduce((sum, sample) => sum + sample.value, 0)).toBe(65);
  });

  it('gives series only to allow-listed flags', async () => {
    const registry = new Registry();
    const s = summarizer();
    instrumentFlagEvaluations(s, { registry, allowFlags: ['checkout'] });
    s.record(evaluation('checkout', 'on'));
    s.record(evaluation('user-42-secret-flag', 'on'));
    s.record(evaluation('another', 'b'));
    const families = await scrape(registry);
    expect(samples(families, EVALUATIONS).map((sample) => sample.labels)).toEqual([
      { flag: 'checkout', variant: 'on' },
      { flag: SUMMARY_OTHER, variant: SUMMARY_OTHER },
    ]);
    expect(valueOf(families, EVALUATIONS, { flag: SUMMARY_OTHER, variant: SUMMARY_OTHER })).toBe(2);
  });

  it('counts the summarizer\'s overflow bucket under __other__, and its evaluations in trackpipe_summary_overflow_evaluations_total', async () => {
    const registry = new Registry();
    const s = summarizer({ maxKeys: 2 });
    instrumentFlagEvaluations(s, { registry });
    for (const flag of ['a', 'b', 'c', 'd', 'd']) s.record(evaluation(flag, 'on'));
    let families = await scrape(registry);
    expect(valueOf(families, OVERFLOWED, {})).toBe(3);
    expect(valueOf(families, EVALUATIONS, { flag: SUMMARY_OTHER, variant: SUMMARY_OTHER })).toBe(3);
    vi.advanceTimersByTime(1_000);
    families = await scrape(registry);
    expect(valueOf(families, EVALUATIONS, { flag: SUMMARY_OTHER, variant: SUMMARY_OTHER })).toBe(3);
    expect(valueOf(families, EVALUATIONS, { flag: 'a', variant: 'on' })).toBe(1);
  });

  it('adds up several summarizers in one registry, and forgets one once detached', async () => {
    const registry = new Registry();
    const a = summarizer();
    const b = summarizer();
    instrumentFlagEvaluations(a, { registry });
    const fromB = instrumentFlagEvaluations(b, { registry });
    a.record(evaluation('f', 'on'));
    b.record(evaluation('f', 'on'));
    b.record(evaluation('f', 'on'));
    expect(valueOf(await scrape(registry), EVALUATIONS, { flag: 'f', variant: 'on' })).toBe(3);
    fromB.detach();
    vi.advanceTimersByTime(1_000);
    expect(valueOf(await scrape(registry), EVALUATIONS, { flag: 'f', variant: 'on' })).toBe(1);
  });

  it.each<[string, FlagEvaluationMetricsOptions, string]>([
    ['maxSeries 0', { maxSeries: 0 }, 'maxSeries'],
    ['maxSeries fractional', { maxSeries: 2.5 }, 'maxSeries'],
    ['allowFlags not a list', { allowFlags: 'checkout' as unknown as string[] }, 'allowFlags'],
    ['allowFlags entry', { allowFlags: ['ok', ''] }, 'allowFlags[1]'],
  ])('rejects an invalid %s naming the option', (_label, options, option) => {
    let error: unknown;
    try {
      instrumentFlagEvaluations(summarizer(), { registry: new Registry(), ...options });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(TrackpipeError);
    expect((error as TrackpipeError).details).toEqual({ option });
  });
});

describe('a registry that already holds one of the names', () => {
  it('fails naming the metric, registers nothing, and works once the registry is free', async () => {
    const registry = new Registry();
    const theirs = new Counter({ name: OVERFLOWED, help: 'someone else\'s', registers: [registry] });
    let error: unknown;
    try {
      instrumentFlagEvaluations(summarizer(), { registry });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(TrackpipeError);
    expect((error as TrackpipeError).message).toContain(OVERFLOWED);
    expect(registry.getMetricsAsArray().map((metric) => metric.name)).toEqual([OVERFLOWED]);
    registry.removeSingleMetric(theirs.name);
    const s = summarizer();
    instrumentFlagEvaluations(s, { registry });
    s.record(evaluation('f', 'on'));
    expect(valueOf(await scrape(registry), EVALUATIONS, { flag: 'f', variant: 'on' })).toBe(1);
  });
});
