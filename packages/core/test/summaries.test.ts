import { describe, expect, it, vi } from 'vitest';
import {
  BatchProcessor,
  FLAG_EVALUATION_SUMMARY_EVENT,
  type FlagEvaluationEvent,
  type FlagEvaluationSummaryEvent,
  FunctionExporter,
  type Recorded,
  SUMMARY_OTHER,
  SummarizingCollector,
  type SummarizingOptions,
  TrackpipeError,
  flagEvaluation,
  silentLogger,
} from '@trackpipe/core';
import { InnerCollector, KeptLogger, T0, countsByFlag, evaluation, identityOf, summarizersOnFakeTime } from './summaries-fixtures.js';

const summarizer = summarizersOnFakeTime();

function thrown(fn: () => unknown): TrackpipeError {
  try {
    fn();
  } catch (error) {
    if (error instanceof TrackpipeError) return error;
    throw error;
  }
  throw new Error('expected a TrackpipeError, nothing was thrown');
}

describe('one summary per key per window', () => {
  it('counts identical evaluations into one summary with count, first and last timestamp, window start and end', () => {
    const inner = new InnerCollector();
    const s = summarizer(inner, { intervalMs: 10_000 });
    s.record(evaluation('checkout', { timestamp: T0 + 500 }));
    s.record(evaluation('checkout', { timestamp: T0 + 100 }));
    s.record(evaluation('checkout', { timestamp: T0 + 900 }));
    expect(inner.events).toHaveLength(0);
    vi.advanceTimersByTime(10_000);
    expect(inner.events).toStrictEqual([
      {
        name: FLAG_EVALUATION_SUMMARY_EVENT,
        timestamp: T0 + 10_000,
        attributes: {
          'feature_flag.key': 'checkout',
          'feature_flag.result.variant': 'on',
          'feature_flag.result.value': true,
          'feature_flag.result.reason': 'static',
          'feature_flag.provider.name': 'test',
          'trackpipe.summary.count': 3,
          'trackpipe.summary.first_timestamp': T0 + 100,
          'trackpipe.summary.last_timestamp': T0 + 900,
          'trackpipe.summary.window_start': T0,
        },
      },
    ]);
  });

  it('keeps a separate count for each flag, variant, value, reason, error code, provider, version and flag set', () => {
    const inner = new InnerCollector();
    const s = summarizer(inner);
    const base = { value: 'a', variant: 'v1', reason: 'STATIC', provider: 'p1' };
    const variants: Partial<FlagEvaluationEvent>[] = [
      {},
      { variant: 'v2' },
      { variant: undefined },
      { value: 'b' },
      { value: 1 },
      { value: null },
      { reason: 'SPLIT' },
      { reason: 'ERROR', errorCode: 'FLAG_NOT_FOUND' },
      { reason: 'ERROR', errorCode: 'PARSE_ERROR' },
      { provider: 'p2' },
      { attributes: { 'feature_flag.version': '7' } },
      { attributes: { 'feature_flag.version': '8' } },
      { attributes: { 'feature_flag.set.id': 'team-a' } },
      { attributes: { 'feature_flag.version': '7', 'feature_flag.set.id': 'team-a' } },
    ];
    for (const [i, fields] of variants.entries()) {
      for (let n = 0; n <= i; n++) s.record(flagEvaluation({ flagKey: 'f', ...base, ...fields }));
      s.record(flagEvaluation({ flagKey: 'g', ...base, ...fields }));
    }
    vi.advanceTimersByTime(10_000);
    const summaries = inner.summaries();
    expect(summaries).toHaveLength(variants.length * 2);
    const ofF = summaries.filter((e) => e.attributes['feature_flag.key'] === 'f');
    expect(ofF.map((e) => e.attributes['trackpipe.summary.count'])).toEqual(variants.map((_, i) => i + 1));
    expect(ofF[7]!.attributes).toMatchObject({ 'feature_flag.result.reason': 'error', 'error.type': 'flag_not_found' });
    expect(ofF[2]!.attributes).not.toHaveProperty('feature_flag.result.variant');
    expect(ofF[5]!.attributes['feature_flag.result.value']).toBeNull();
    expect(ofF[13]!.attributes).toMatchObject({ 'feature_flag.version': '7', 'feature_flag.set.id': 'team-a' });
    expect(countsByFlag(summaries).g).toBe(variants.length);
  });

  it('keys object values by their content and reports a copy of the first one', () => {
    const inner = new InnerCollector();
    const s = summarizer(inner);
    const theme = { colors: ['#000', '#fff'], dense: true };
    s.record(evaluation('theme', { value: theme }));
    s.record(evaluation('theme', { value: theme }));
    s.record(evaluation('theme', { value: { colors: ['#000', '#fff'], dense: true } }));
    s.record(evaluation('theme', { value: { colors: ['#000'], dense: true } }));
    s.record(evaluation('theme', { value: '{"colors":["#000","#fff"],"dense":true}' }));
    theme.dense = false; // after the fact: the summary shows what was evaluated
    vi.advanceTimersByTime(10_000);
    const values = inner.summaries().map((e) => [e.attributes['feature_flag.result.value'], e.attributes['trackpipe.summary.count']]);
    expect(values).toEqual([
      [{ colors: ['#000', '#fff'], dense: true }, 3],
      [{ colors: ['#000'], dense: true }, 1],
      ['{"colors":["#000","#fff"],"dense":true}', 1],
    ]);
    const reported = inner.summaries()[0]!.attributes['feature_flag.result.value'] as { colors: string[] };
    expect(reported).not.toBe(theme);
    expect(Object.isFrozen(reported) && Object.isFrozen(reported.colors)).toBe(true);
  });

  it('counts NaN values as one key (reported as null, as JSON would)', () => {
    const inner = new InnerCollector();
    const s = summarizer(inner);
    for (let i = 0; i < 3; i++) s.record(evaluation('ratio', { value: Number.NaN }));
    vi.advanceTimersByTime(10_000);
    expect(inner.summaries().map((e) => [e.attributes['feature_flag.result.value'], e.attributes['trackpipe.summary.count']])).toEqual([[null, 3]]);
  });

  it('counts a flag with many distinct values (the index turns lists into maps) exactly', () => {
    const inner = new InnerCollector();
    const s = summarizer(inner);
    for (let round = 0; round < 3; round++) {
      for (let v = 0; v < 60; v++) s.record(evaluation('limit', { value: v, variant: undefined, reason: v % 2 === 0 ? 'SPLIT' : 'STATIC' }));
    }
    s.record(evaluation('other-flag'));
    vi.advanceTimersByTime(10_000);
    const summaries = inner.summaries();
    expect(summaries).toHaveLength(61);
    const limit = summaries.filter((e) => e.attributes['feature_flag.key'] === 'limit');
    expect(new Set(limit.map((e) => e.attributes['feature_flag.result.value']))).toEqual(new Set(Array.from({ length: 60 }, (_, v) => v)));
    expect(limit.every((e) => e.attributes['trackpipe.summary.count'] === 3)).toBe(true);
    expect(s.stats().keys).toBe(61);
  });

  it('records nothing for a window without evaluations, and counts each window on its own', () => {
    const inner = new InnerCollector();
    const s = summarizer(inner, { intervalMs: 1_000 });
    for (let w = 1; w <= 5; w++) {
      if (w !== 3) for (let i = 0; i < w; i++) s.record(evaluation('f'));
      vi.advanceTimersByTime(1_000);
    }
    const summaries = inner.summaries();
    expect(summaries.map((e) => e.attributes['trackpipe.summary.count'])).toEqual([1, 2, 4, 5]);
    expect(summaries.map((e) => e.attributes['trackpipe.summary.window_start'])).toEqual([T0, T0 + 1_000, T0 + 3_000, T0 + 4_000]);
    expect(summaries.map((e) => e.timestamp)).toEqual([T0 + 1_000, T0 + 2_000, T0 + 4_000, T0 + 5_000]);
    expect(s.stats()).toMatchObject({ windows: 5, summaries: 4, recorded: 12, exported: 12, queued: 0 });
  });

  it('stamps evaluations without a timestamp with the time they were recorded', async () => {
    const inner = new InnerCollector();
    const s = summarizer(inner);
    s.record(evaluation('f'));
    await vi.advanceTimersByTimeAsync(2_500);
    s.record(evaluation('f'));
    await vi.advanceTimersByTimeAsync(7_500);
    expect(inner.summaries()[0]!.attributes).toMatchObject({
      'trackpipe.summary.first_timestamp': T0,
      'trackpipe.summary.last_timestamp': T0 + 2_500,
    });
  });

  it('reads the clock afresh in every task, and at least every 64 evaluations within one', async () => {
    const inner = new InnerCollector();
    const s = summarizer(inner);
    s.record(evaluation('task'));
    vi.setSystemTime(T0 + 5);
    await Promise.resolve(); // a later task (the microtask queue has run)
    s.record(evaluation('task'));
    vi.setSystemTime(T0 + 9); // the same synchronous run from here on
    for (let i = 0; i < 64; i++) s.record(evaluation('run'));
    vi.setSystemTime(T0);
    await vi.advanceTimersByTimeAsync(10_000);
    const byFlag = Object.fromEntries(inner.summaries().map((e) => [e.attributes['feature_flag.key'], e.attributes]));
    expect(byFlag.task).toMatchObject({ 'trackpipe.summary.first_timestamp': T0, 'trackpipe.summary.last_timestamp': T0 + 5 });
    expect(byFlag.run?.['trackpipe.summary.first_timestamp']).toBeGreaterThanOrEqual(T0 + 5);
    expect(byFlag.run?.['trackpipe.summary.last_timestamp']).toBe(T0 + 9);
  });

  it('counts each flag under its own key whatever order flags come in, also after the flag last seen next to another was let go', () => {
    const inner = new InnerCollector();
    const s = summarizer(inner, { intervalMs: 1_000 });
    const window = (flags: string[]): Record<string, number> => {
      const before = inner.summaries().length;
      for (const f of flags) s.record(evaluation(f));
      vi.advanceTimersByTime(1_000);
      return countsByFlag(inner.summaries().slice(before));
    };
    // 'b' follows 'x'; then a window without 'b' lets it go while 'x' still names it as the flag after it.
    expect(window(['x', 'b', 'x', 'b', 'c'])).toEqual({ x: 2, b: 2, c: 1 });
    expect(window(['c', 'x'])).toEqual({ c: 1, x: 1 });
    expect(s.stats().keys).toBe(2);
    // A flag key built at run time is another string object with the same text: the same flag.
    const built = ['chec', 'kout'].join('');
    expect(window(['b', 'b', 'x', 'b', 'checkout', built, 'x', 'checkout', 'c', 'b'])).toEqual({ b: 4, x: 2, checkout: 3, c: 1 });
    expect(window(['b', 'x', 'c', 'checkout'].reverse())).toEqual({ b: 1, x: 1, c: 1, checkout: 1 });
    expect(s.stats()).toMatchObject({ recorded: 21, exported: 21, queued: 0, dropped: 0, keys: 4 });
  });
});

describe('distinct targeting keys', () => {
  it('estimates the distinct targeting keys of each key: exact for a few, within 15 % for thousands', () => {
    const inner = new InnerCollector();
    const s = summarizer(inner);
    for (let i = 0; i < 3; i++) s.record(evaluation('few', { targetingKey: 'user-1' }));
    s.record(evaluation('few', { targetingKey: 'user-2' }));
    for (let i = 0; i < 20_000; i++) s.record(evaluation('many', { targetingKey: `user-${i % 5_000}` }));
    for (let i = 0; i < 3_000; i++) s.record(evaluation('hashed', { targetingKey: `${'0'.repeat(56)}${i.toString(16).padStart(8, '0')}` }));
    s.record(evaluation('anonymous'));
    vi.advanceTimersByTime(10_000);
    const distinct = Object.fromEntries(inner.summaries().map((e) => [e.attributes['feature_flag.key'], e.attributes['trackpipe.summary.distinct_targeting_keys']]));
    expect(distinct.few).toBe(2);
    expect(Math.abs(distinct.many! - 5_000) / 5_000).toBeLessThan(0.15);
    expect(Math.abs(distinct.hashed! - 3_000) / 3_000).toBeLessThan(0.15);
    expect(distinct.anonymous).toBeUndefined();
  });

  it('starts each window afresh', () => {
    const inner = new InnerCollector();
    const s = summarizer(inner, { intervalMs: 1_000 });
    for (let i = 0; i < 10; i++) s.record(evaluation('f', { targetingKey: `a-${i}` }));
    vi.advanceTimersByTime(1_000);
    s.record(evaluation('f', { targetingKey: 'b' }));
    vi.advanceTimersByTime(1_000);
    expect(inner.summaries().map((e) => e.attributes['trackpipe.summary.distinct_targeting_keys'])).toEqual([10, 1]);
  });

  it('is left out with distinctTargetingKeys: false', () => {
    const inner = new InnerCollector();
    const s = summarizer(inner, { distinctTargetingKeys: false });
    s.record(evaluation('f', { targetingKey: 'user-1' }));
    vi.advanceTimersByTime(10_000);
    expect(inner.summaries()[0]!.attributes).not.toHaveProperty('trackpipe.summary.distinct_targeting_keys');
  });
});

describe('flush and close', () => {
  it('flush() records the open window first, then flushes the inner collector, and returns its report', async () => {
    const inner = new InnerCollector();
    const s = summarizer(inner);
    s.record(evaluation('f'));
    s.record(evaluation('g'));
    const report = await s.flush();
    expect(inner.calls).toEqual(['record', 'record', 'flush']);
    expect(report).toMatchObject({ complete: true, exported: 2 });
    expect(countsByFlag(inner.summaries())).toEqual({ f: 1, g: 1 });
    expect(s.stats()).toMatchObject({ recorded: 2, exported: 2, queued: 0, windows: 1 });
  });

  it('close() mid-window records the partial window, closes the inner collector, then counts later records as dropped (closed)', async () => {
    const inner = new InnerCollector();
    const s = summarizer(inner, { intervalMs: 10_000 });
    s.record(evaluation('f'));
    vi.advanceTimersByTime(10_000);
    s.record(evaluation('f'));
    s.record(evaluation('f'));
    vi.advanceTimersByTime(4_000);
    await s.close();
    expect(inner.summaries().map((e) => [e.attributes['trackpipe.summary.count'], e.timestamp])).toEqual([
      [1, T0 + 10_000],
      [2, T0 + 14_000],
    ]);
    expect(inner.calls.at(-1)).toBe('close');
    s.record(evaluation('f'));
    s.record({ name: 'checkout.completed' } as unknown as FlagEvaluationEvent);
    vi.advanceTimersByTime(60_000);
    expect(inner.summaries()).toHaveLength(2);
    expect(inner.events).toHaveLength(2);
    const stats = s.stats();
    expect(stats).toMatchObject({ recorded: 5, exported: 3, dropped: 2, queued: 0, keys: 0 });
    expect(stats.droppedByReason.closed).toBe(2);
    expect(identityOf(stats).accounted).toBe(stats.recorded);
  });

  it('counts nothing into a closed collector when a field getter closes it mid-record: the evaluation is dropped (closed), none waits forever', async () => {
    const inner = new InnerCollector();
    const s = summarizer(inner, { intervalMs: 10_000 });
    s.record(evaluation('f'));
    const closing: Promise<unknown>[] = [];
    s.record({
      ...evaluation('f'),
      get targetingKey() {
        closing.push(s.close());
        return 'user-2';
      },
    });
    await Promise.all(closing);
    expect(countsByFlag(inner.summaries())).toEqual({ f: 1 });
    const stats = s.stats();
    expect(stats).toMatchObject({ recorded: 2, exported: 1, dropped: 1, queued: 0 });
    expect(stats.droppedByReason.closed).toBe(1);
    expect(identityOf(stats).accounted).toBe(stats.recorded);
  });

  it('close() is idempotent: the window is recorded once, the inner collector asked each time', async () => {
    const inner = new InnerCollector();
    const s = summarizer(inner);
    s.record(evaluation('f'));
    await Promise.all([s.close(), s.close()]);
    await s.close();
    expect(inner.summaries()).toHaveLength(1);
    expect(inner.calls.filter((c) => c === 'close')).toHaveLength(3);
  });

  it('runs its window timer unref\'d: it never keeps the process alive', () => {
    vi.useRealTimers();
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const s = summarizer(new InnerCollector(), { intervalMs: 50 });
    expect(timers()).toBe(before);
    expect(s.stats().windows).toBe(0);
  });
});

describe('cardinality', () => {
  it('counts keys beyond maxKeys into one overflow bucket, and says so in stats', () => {
    const inner = new InnerCollector();
    const s = summarizer(inner, { maxKeys: 3 });
    for (let flag = 0; flag < 6; flag++) for (let i = 0; i <= flag; i++) s.record(evaluation(`flag-${flag}`, { targetingKey: `u${i}` }));
    expect(s.stats()).toMatchObject({ keys: 3, overflowed: 4 + 5 + 6, queued: 21 });
    vi.advanceTimersByTime(10_000);
    const summaries = inner.summaries();
    expect(summaries).toHaveLength(4);
    const other = summaries.at(-1)!;
    expect(other.attributes).toStrictEqual({
      'feature_flag.key': SUMMARY_OTHER,
      'trackpipe.summary.overflow': true,
      'trackpipe.summary.count': 15,
      'trackpipe.summary.first_timestamp': T0,
      'trackpipe.summary.last_timestamp': T0,
      'trackpipe.summary.window_start': T0,
      'trackpipe.summary.distinct_targeting_keys': 6,
    });
    expect(countsByFlag(summaries)).toEqual({ 'flag-0': 1, 'flag-1': 2, 'flag-2': 3, [SUMMARY_OTHER]: 15 });
    expect(s.stats()).toMatchObject({ recorded: 21, exported: 21, queued: 0, overflowed: 15 });
  });

  it('makes room for new keys by letting go of keys idle this window, so a new window overflows only past maxKeys keys of its own', () => {
    const inner = new InnerCollector();
    const s = summarizer(inner, { maxKeys: 3, intervalMs: 1_000 });
    for (const f of ['a', 'b', 'c']) s.record(evaluation(f));
    vi.advanceTimersByTime(1_000);
    expect(s.stats().keys).toBe(3); // kept for the next window: no allocation if they come back
    for (const f of ['a', 'd', 'e']) s.record(evaluation(f));
    vi.advanceTimersByTime(1_000);
    expect(s.stats().overflowed).toBe(0);
    expect(countsByFlag(inner.summaries())).toEqual({ a: 2, b: 1, c: 1, d: 1, e: 1 });
  });

  it('lets go of keys idle for a whole window, and counts them afresh when they come back', () => {
    const inner = new InnerCollector();
    const s = summarizer(inner, { intervalMs: 1_000 });
    for (let v = 0; v < 20; v++) s.record(evaluation('f', { value: v }));
    s.record(evaluation('g', { value: { deep: [1, 2] } }));
    vi.advanceTimersByTime(1_000);
    expect(s.stats().keys).toBe(21);
    vi.advanceTimersByTime(1_000);
    expect(s.stats().keys).toBe(0);
    s.record(evaluation('f', { value: 3 }));
    s.record(evaluation('g', { value: { deep: [1, 2] } }));
    vi.advanceTimersByTime(1_000);
    const last = inner.summaries().slice(-2);
    expect(last.map((e) => [e.attributes['feature_flag.key'], e.attributes['feature_flag.result.value'], e.attributes['trackpipe.summary.count']])).toEqual([
      ['f', 3, 1],
      ['g', { deep: [1, 2] }, 1],
    ]);
  });

  it('never holds more than maxKeys keys, whatever the stream', () => {
    const inner = new InnerCollector();
    const s = summarizer(inner, { maxKeys: 50, intervalMs: 1_000 });
    let most = 0;
    for (let w = 0; w < 20; w++) {
      for (let i = 0; i < 200; i++) {
        s.record(evaluation(`f-${(w * 37 + i) % 90}`, { value: i % 7 }));
        most = Math.max(most, s.stats().keys);
      }
      vi.advanceTimersByTime(1_000);
    }
    expect(most).toBe(50);
    const total = inner.summaries().reduce((sum, e) => sum + e.attributes['trackpipe.summary.count'], 0);
    expect(total).toBe(20 * 200);
    expect(s.stats().overflowed).toBeGreaterThan(0);
  });
});

describe('other events and bad input', () => {
  it('passes events other than flag evaluations through unchanged (the same object)', () => {
    const inner = new InnerCollector();
    const s = summarizer(inner);
    const other = { name: 'checkout.completed', attributes: { total: 42 } };
    s.record(other as unknown as FlagEvaluationEvent);
    expect(inner.events).toEqual([other]);
    expect(inner.events[0]).toBe(other);
    expect(s.stats()).toMatchObject({ recorded: 1, exported: 1, passedThrough: 1, queued: 0 });
  });

  it('drops what is not a flag evaluation it can count, names the reason, never throws, and warns once a minute', () => {
    const inner = new InnerCollector();
    const logger = new KeptLogger();
    const s = summarizer(inner, { logger });
    const throwing = new Proxy({}, {
      get(_target, property) {
        if (property === 'name') return 'feature_flag.evaluation';
        throw new Error('getter exploded');
      },
    });
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const bad: unknown[] = [
      null,
      42,
      'feature_flag.evaluation',
      {},
      { name: '' },
      { name: 'feature_flag.evaluation', value: true },
      { name: 'feature_flag.evaluation', flagKey: 7, value: true },
      throwing,
      proxy,
      evaluation('f', { value: cyclic as never }),
      evaluation('f', { value: 10n as never }),
    ];
    for (const event of bad) expect(() => s.record(event as FlagEvaluationEvent)).not.toThrow();
    s.record(evaluation('f'));
    vi.advanceTimersByTime(10_000);
    expect(inner.events).toHaveLength(1);
    const stats = s.stats();
    expect(stats.droppedByReason).toMatchObject({ invalid: 9, unserializable: 2 });
    expect(stats).toMatchObject({ recorded: 12, exported: 1, dropped: 11 });
    expect(stats.lastError?.code).toMatch(/^TRACKPIPE_ERR_EVENT_/);
    expect(logger.warnings).toHaveLength(1);
    vi.advanceTimersByTime(60_000);
    s.record(null as unknown as FlagEvaluationEvent);
    expect(logger.warnings).toHaveLength(2);
    expect(logger.warnings[1]!.fields).toMatchObject({ reason: 'invalid', unreportedSinceLastWarning: 10 });
  });

  it('counts nothing of an evaluation whose targeting key or timestamp getter throws, also for a key already held', () => {
    const inner = new InnerCollector();
    const s = summarizer(inner, { intervalMs: 1_000 });
    s.record(evaluation('f', { targetingKey: 'u1' }));
    for (const field of ['targetingKey', 'timestamp']) {
      const hostile = evaluation('f', { targetingKey: 'u1' });
      Object.defineProperty(hostile, field, {
        get() {
          throw new Error(`${field} exploded`);
        },
      });
      expect(() => s.record(hostile)).not.toThrow();
    }
    expect(identityOf(s.stats())).toEqual({ recorded: 3, accounted: 3 });
    vi.advanceTimersByTime(1_000);
    expect(inner.summaries().map((e) => e.attributes['trackpipe.summary.count'])).toEqual([1]);
    expect(s.stats()).toMatchObject({ recorded: 3, exported: 1, dropped: 2, queued: 0, droppedByReason: { invalid: 2 } });
  });

  it('counts the evaluations of a summary the inner collector refused (threw) as dropped (rejected), and keeps going', () => {
    const inner = new InnerCollector();
    const logger = new KeptLogger();
    const s = summarizer(inner, { logger, intervalMs: 1_000 });
    inner.throwOnRecord = new Error('inner exploded');
    for (let i = 0; i < 4; i++) s.record(evaluation('f'));
    expect(() => vi.advanceTimersByTime(1_000)).not.toThrow();
    inner.throwOnRecord = undefined;
    s.record(evaluation('f'));
    vi.advanceTimersByTime(1_000);
    const stats = s.stats();
    expect(stats).toMatchObject({ recorded: 5, exported: 1, dropped: 4, summaries: 1 });
    expect(stats.droppedByReason.rejected).toBe(4);
    expect(logger.warnings[0]!.message).toContain('inner exploded');
  });
});

describe('stats and the Collector contract', () => {
  it('keeps recorded = exported + dropped + queued through records, windows, flushes and close', async () => {
    const inner = new InnerCollector();
    const s = summarizer(inner, { intervalMs: 700, maxKeys: 4 });
    const check = () => {
      const { recorded, accounted } = identityOf(s.stats());
      expect(accounted).toBe(recorded);
    };
    for (let i = 0; i < 300; i++) {
      s.record(i % 17 === 0 ? (null as unknown as FlagEvaluationEvent) : evaluation(`f-${i % 6}`, { value: i % 3 }));
      check();
      if (i % 50 === 0) await s.flush();
      vi.advanceTimersByTime(13);
      check();
    }
    await s.close();
    check();
    expect(s.stats().queued).toBe(0);
  });

  it('reports the inner collector\'s figures for what it does not have itself', () => {
    const inner = new InnerCollector();
    const s = summarizer(inner);
    s.record(evaluation('f'));
    vi.advanceTimersByTime(10_000);
    const stats = s.stats();
    expect(stats.inner).toMatchObject({ recorded: 1, exported: 1 });
    expect(stats).toMatchObject({ inFlight: 0, queueCapacity: 10_000, recovered: 0, retries: 0 });
  });

  it('answers headroom from the inner collector (0 once closed)', async () => {
    const inner = new InnerCollector();
    const s = summarizer(inner);
    expect(s.headroom()).toBe(1_000);
    expect(s.headroom(0.5)).toBe(500);
    await s.close();
    expect(s.headroom()).toBe(0);
  });

  it('answers persisted() true only when the inner collector is durable and no evaluation waits in the open window', async () => {
    const inner = new InnerCollector();
    const s = summarizer(inner);
    expect(await s.persisted()).toBe(true);
    s.record(evaluation('f'));
    expect(await s.persisted()).toBe(false);
    await s.flush();
    expect(await s.persisted()).toBe(true);
    inner.durable = false;
    expect(await s.persisted()).toBe(false);
  });

  it('tells window listeners each window\'s summaries; a throwing listener is logged and the others still called', () => {
    const inner = new InnerCollector();
    const logger = new KeptLogger();
    const s = summarizer(inner, { logger, intervalMs: 1_000 });
    const seen: FlagEvaluationSummaryEvent[][] = [];
    s.onWindow(() => {
      throw new Error('listener broke');
    });
    const stop = s.onWindow((summaries) => seen.push([...summaries]));
    s.record(evaluation('f'));
    vi.advanceTimersByTime(1_000);
    stop();
    s.record(evaluation('f'));
    vi.advanceTimersByTime(1_000);
    expect(seen).toHaveLength(1);
    expect(seen[0]![0]!.attributes['trackpipe.summary.count']).toBe(1);
    expect(logger.warnings[0]!.message).toContain('listener broke');
    expect(inner.summaries()).toHaveLength(2);
  });

  it('visits the open window\'s counts per flag and variant, the overflow bucket included', () => {
    const s = summarizer(new InnerCollector(), { maxKeys: 2 });
    s.record(evaluation('a', { variant: 'on' }));
    s.record(evaluation('a', { variant: 'on' }));
    s.record(evaluation('a', { variant: undefined, value: false }));
    s.record(evaluation('b'));
    const seen: [string, string | undefined, number][] = [];
    s.forEachOpenCount((flag, variant, count) => seen.push([flag, variant, count]));
    expect(seen).toEqual([
      ['a', 'on', 2],
      ['a', undefined, 1],
      [SUMMARY_OTHER, undefined, 1],
    ]);
  });
});

describe('options', () => {
  it('applies the documented defaults', async () => {
    const s = new SummarizingCollector(new InnerCollector());
    expect(s.options).toMatchObject({ intervalMs: 10_000, maxKeys: 1_000, distinctTargetingKeys: true });
    await s.close();
  });

  it.each<[string, SummarizingOptions, string]>([
    ['intervalMs 0', { intervalMs: 0 }, 'intervalMs'],
    ['intervalMs NaN', { intervalMs: Number.NaN }, 'intervalMs'],
    ['intervalMs as text', { intervalMs: '1000' as unknown as number }, 'intervalMs'],
    ['intervalMs beyond a timer', { intervalMs: 2 ** 31 }, 'intervalMs'],
    ['maxKeys 0', { maxKeys: 0 }, 'maxKeys'],
    ['maxKeys fractional', { maxKeys: 1.5 }, 'maxKeys'],
    ['distinctTargetingKeys', { distinctTargetingKeys: 'yes' as unknown as boolean }, 'distinctTargetingKeys'],
    ['logger', { logger: console.log as unknown as KeptLogger }, 'logger'],
  ])('rejects an invalid %s with TRACKPIPE_ERR_OPTIONS_INVALID naming the option', (_label, options, option) => {
    const error = thrown(() => new SummarizingCollector(new InnerCollector(), options));
    expect(error.code).toBe('TRACKPIPE_ERR_OPTIONS_INVALID');
    expect(error.details).toEqual({ option });
    expect(error.message).toContain(option);
  });

  it.each<[string, () => unknown]>([
    ['a warn getter that throws', () => ({ get warn(): never { throw new Error('do not repeat me'); }, error: () => undefined })],
    ['a revoked proxy', () => { const { proxy, revoke } = Proxy.revocable({}, {}); revoke(); return proxy; }],
  ])('rejects a logger with %s naming logger, never with what it threw', (_label, logger) => {
    const error = thrown(() => new SummarizingCollector(new InnerCollector(), { logger: logger() as KeptLogger }));
    expect(error.code).toBe('TRACKPIPE_ERR_OPTIONS_INVALID');
    expect(error.details).toEqual({ option: 'logger' });
    expect(error.message).not.toContain('do not repeat me');
  });

  it.each<[string, () => unknown]>([
    ['a record getter that throws', () => Object.defineProperty(new InnerCollector(), 'record', { get: () => { throw new Error('do not repeat me'); } })],
    ['a revoked proxy', () => { const { proxy, revoke } = Proxy.revocable(new InnerCollector(), {}); revoke(); return proxy; }],
  ])('rejects an inner collector with %s naming inner, never with what it threw', (_label, inner) => {
    const error = thrown(() => new SummarizingCollector(inner() as InnerCollector));
    expect(error.code).toBe('TRACKPIPE_ERR_OPTIONS_INVALID');
    expect(error.details).toEqual({ option: 'inner' });
    expect(error.message).not.toContain('do not repeat me');
  });

  it('rejects an inner collector that is not a Collector', () => {
    const error = thrown(() => new SummarizingCollector({ record: () => undefined } as unknown as InnerCollector));
    expect(error.details).toEqual({ option: 'inner' });
  });
});

describe('through a BatchProcessor', () => {
  it('exports the summaries like any event: ids, timestamps, JSON with every attribute; close() delivers the partial window', async () => {
    vi.useRealTimers();
    const lines: string[] = [];
    const processor = new BatchProcessor(
      new FunctionExporter<Recorded<FlagEvaluationSummaryEvent>>((_events, { batch }) => {
        lines.push(...batch.encoded);
      }),
      { flushIntervalMs: 60_000, logger: silentLogger },
    );
    const s = new SummarizingCollector(processor, { intervalMs: 60_000, logger: silentLogger });
    for (let i = 0; i < 1_000; i++) s.record(evaluation(`f-${i % 4}`, { targetingKey: `u-${i % 10}` }));
    const report = await s.close();
    expect(report).toMatchObject({ complete: true, exported: 4, dropped: 0 });
    const exported = lines.map((line) => JSON.parse(line) as Recorded<FlagEvaluationSummaryEvent>);
    expect(exported).toHaveLength(4);
    for (const e of exported) {
      expect(e.name).toBe(FLAG_EVALUATION_SUMMARY_EVENT);
      expect(typeof e.id).toBe('string');
      expect(e.attributes).toMatchObject({ 'trackpipe.summary.count': 250, 'trackpipe.summary.distinct_targeting_keys': expect.any(Number) });
    }
    expect(s.stats()).toMatchObject({ recorded: 1_000, exported: 1_000, dropped: 0, queued: 0 });
    expect(s.stats().inner).toMatchObject({ recorded: 4, exported: 4 });
  });
});
