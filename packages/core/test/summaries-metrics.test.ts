import { Counter, Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type FlagEvaluationEvent, SUMMARY_OTHER, SummarizingCollector, TrackpipeError, flagEvaluation, silentLogger } from '@trackpipe/core';
import { FLAG_METRICS, type FlagEvaluationMetricsOptions, instrumentFlagEvaluations, startMetricsServer } from '@trackpipe/core/metrics';
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

function revoked<T extends object>(target: T): T {
  const { proxy, revoke } = Proxy.revocable(target, {});
  revoke();
  return proxy;
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

describe('what it is given', () => {
  it.each([null, {}, new Registry()])('refuses a summarizer that is not one (%s), naming it, and registers nothing', (bad) => {
    const registry = new Registry();
    let error: unknown;
    try {
      instrumentFlagEvaluations(bad as never, { registry });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(TrackpipeError);
    expect((error as TrackpipeError).details).toEqual({ option: 'summarizer' });
    expect(registry.getMetricsAsArray()).toEqual([]);
  });

  it.each<[string, () => unknown, () => unknown, string]>([
    ['a summarizer whose method getter throws', () => Object.defineProperty({ onWindow: () => undefined, stats: () => undefined }, 'forEachOpenCount', { get: () => { throw new Error('do not repeat me'); } }), () => ({}), 'summarizer'],
    ['a summarizer that is a revoked proxy', () => revoked({}), () => ({}), 'summarizer'],
    ['options that are a revoked proxy', () => summarizer(), () => revoked({}), 'options'],
    ['a maxSeries getter that throws', () => summarizer(), () => Object.defineProperty({}, 'maxSeries', { enumerable: true, get: () => { throw new Error('do not repeat me'); } }), 'maxSeries'],
    ['allowFlags that are a revoked proxy', () => summarizer(), () => ({ allowFlags: revoked([]) }), 'allowFlags'],
    ['allowFlags with an item whose getter throws', () => summarizer(), () => ({ allowFlags: Object.defineProperty(['a'], 0, { get: () => { throw new Error('do not repeat me'); } }) }), 'allowFlags'],
  ])('refuses %s naming it, never with what it threw', (_label, given, options, option) => {
    let error: unknown;
    try {
      instrumentFlagEvaluations(given() as never, options() as never);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(TrackpipeError);
    expect((error as TrackpipeError).details).toEqual({ option });
    expect((error as TrackpipeError).message).not.toContain('do not repeat me');
  });

  it('refuses options that are not an object, naming them', () => {
    let error: unknown;
    try {
      instrumentFlagEvaluations(summarizer(), null as never);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(TrackpipeError);
    expect((error as TrackpipeError).details).toEqual({ option: 'options' });
  });
});

describe('flag keys and variants as label values', () => {
  it('gives no series of its own to a pair the exposition could not tell apart (too long, a lone surrogate, a control character, ",variant:" in the key): over real HTTP every sample is distinct and the counts add up', async () => {
    vi.useRealTimers();
    const registry = new Registry();
    const s = summarizer({ maxKeys: 100 });
    instrumentFlagEvaluations(s, { registry, maxSeries: 50 });
    const pairs: [string, string | undefined, number][] = [
      ['x,variant:y', undefined, 1], // prom-client keys a series by `flag:${flag},variant:${variant},`: this pair and the next are one to it
      ['x', 'y,variant:', 2],
      ['a\u0000b', undefined, 3],
      ['a', 'b\u0000', 4],
      ['lone\uD800', 'on', 5], // both are "lone\uFFFD" once written as UTF-8
      ['lone\uDC00', 'on', 6],
      ['L'.repeat(1_000_000), 'on', 7],
      ['ok', 'V'.repeat(201), 8],
      ['new\nline', 'on', 9],
      ['checkout "v2" \\ \u{1F680}', '__proto__', 10],
      ['__proto__', 'constructor', 11],
    ];
    for (const [flag, variant, times] of pairs) for (let i = 0; i < times; i++) s.record(evaluation(flag, variant));
    const server = await startMetricsServer({ registry, port: 0 });
    try {
      const response = await fetch(server.url);
      const text = await response.text();
      expect(text.length).toBeLessThan(10_000);
      const families = parseExposition(text);
      const all = samples(families, EVALUATIONS);
      const keys = all.map((sample) => JSON.stringify([sample.labels.flag, sample.labels.variant]));
      expect(new Set(keys).size).toBe(keys.length);
      expect(all.reduce((sum, sample) => sum + sample.value, 0)).toBe(66);
      expect(valueOf(families, EVALUATIONS, { flag: 'x', variant: 'y,variant:' })).toBe(2);
      expect(valueOf(families, EVALUATIONS, { flag: 'checkout "v2" \\ \u{1F680}', variant: '__proto__' })).toBe(10);
      expect(valueOf(families, EVALUATIONS, { flag: '__proto__', variant: 'constructor' })).toBe(11);
      expect(valueOf(families, EVALUATIONS, { flag: SUMMARY_OTHER, variant: SUMMARY_OTHER })).toBe(1 + 3 + 4 + 5 + 6 + 7 + 8 + 9);
    } finally {
      await server.close();
    }
  });

  it('keeps 100 000 distinct flags and variants to maxSeries + 1 series, every evaluation counted', async () => {
    const registry = new Registry();
    const s = summarizer({ maxKeys: 1_000 });
    instrumentFlagEvaluations(s, { registry, maxSeries: 20 });
    for (let i = 0; i < 100_000; i++) s.record(evaluation(`flag-${i % 50_000}`, `v-${i}`));
    vi.advanceTimersByTime(1_000);
    const families = await scrape(registry);
    const all = samples(families, EVALUATIONS);
    expect(all).toHaveLength(21);
    expect(all.reduce((sum, sample) => sum + sample.value, 0)).toBe(100_000);
  });
});

describe('a registry that already holds one of the names', () => {
  it('fails naming the metric, registers nothing, and works once the registry is free', async () => {
    const registry = new Registry();
    new Counter({ name: OVERFLOWED, help: 'someone else\'s', registers: [registry] });
    let error: unknown;
    try {
      instrumentFlagEvaluations(summarizer(), { registry });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(TrackpipeError);
    expect((error as TrackpipeError).message).toContain(OVERFLOWED);
    expect(registry.getMetricsAsArray().map((metric) => metric.name)).toEqual([OVERFLOWED]);
    registry.removeSingleMetric(OVERFLOWED);
    const s = summarizer();
    instrumentFlagEvaluations(s, { registry });
    s.record(evaluation('f', 'on'));
    expect(valueOf(await scrape(registry), EVALUATIONS, { flag: 'f', variant: 'on' })).toBe(1);
  });
});
