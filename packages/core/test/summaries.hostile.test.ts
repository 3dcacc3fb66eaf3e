import { describe, expect, it, vi } from 'vitest';
import { type FlushReport, type FlagEvaluationEvent, type SummarizingCollector } from '@trackpipe/core';
import { InnerCollector, T0, countsByFlag, evaluation, identityOf, summarizersOnFakeTime } from './summaries-fixtures.js';

// Hostile callers of a SummarizingCollector: user code (getters, toString, window listeners, the inner
// collector) that re-enters it — records, flushes, closes — at every point where it runs.

const summarizer = summarizersOnFakeTime();

/** Every summary's count is at least 1, and the identity holds. */
function expectSound(s: SummarizingCollector, inner: InnerCollector): void {
  for (const summary of inner.summaries()) expect(summary.attributes['trackpipe.summary.count']).toBeGreaterThanOrEqual(1);
  const stats = s.stats();
  expect(identityOf(stats).accounted).toBe(stats.recorded);
}

describe('re-entry while the last window closes', () => {
  it('drops (closed) what a window listener records during close(): nothing stays queued forever', async () => {
    const inner = new InnerCollector();
    const s = summarizer(inner);
    s.onWindow(() => s.record(evaluation('late')));
    s.record(evaluation('f'));
    await s.close();
    const stats = s.stats();
    expect(countsByFlag(inner.summaries())).toEqual({ f: 1 });
    expect(stats).toMatchObject({ recorded: 2, exported: 1, queued: 0, dropped: 1, droppedByReason: { closed: 1 } });
    expect(identityOf(stats).accounted).toBe(stats.recorded);
    expect(await s.persisted()).toBe(true);
  });

  it('drops (closed) what the inner collector records back into the summarizer during close()', async () => {
    const inner = new InnerCollector();
    const s = summarizer(inner);
    const record = inner.record.bind(inner);
    let echoes = 0;
    inner.record = (event) => {
      record(event);
      if (echoes++ < 5) s.record(evaluation('echo')); // bounded: the test must end on a broken summarizer too
    };
    s.record(evaluation('f'));
    s.record(evaluation('g'));
    await s.close();
    expect(countsByFlag(inner.summaries())).toEqual({ f: 1, g: 1 });
    expect(s.stats()).toMatchObject({ recorded: 4, exported: 2, queued: 0, droppedByReason: { closed: 2 } });
    expect(echoes).toBe(2);
  });
});

describe('re-entry while a window closes', () => {
  it('never emits a summary of 0 evaluations when the inner collector flushes the summarizer from record()', async () => {
    const inner = new InnerCollector();
    const s = summarizer(inner, { intervalMs: 1_000 });
    const record = inner.record.bind(inner);
    let flushes = 0;
    inner.record = (event) => {
      record(event);
      if (flushes++ < 3) void s.flush();
    };
    for (const flag of ['a', 'b', 'c', 'd']) s.record(evaluation(flag));
    vi.advanceTimersByTime(1_000);
    expect(countsByFlag(inner.summaries())).toEqual({ a: 1, b: 1, c: 1, d: 1 });
    expectSound(s, inner);
    s.record(evaluation('a'));
    await s.flush();
    expect(countsByFlag(inner.summaries())).toEqual({ a: 2, b: 1, c: 1, d: 1 });
    expectSound(s, inner);
  });

  it('counts what the inner collector records back while it takes a window\'s summaries into the next window, each evaluation once', async () => {
    const inner = new InnerCollector();
    const s = summarizer(inner, { intervalMs: 1_000 });
    const record = inner.record.bind(inner);
    let echoes = 0;
    inner.record = (event) => {
      record(event);
      // One evaluation back for every summary taken (bounded: the test must end on a broken summarizer too).
      if (echoes++ < 100) s.record(evaluation('a'));
    };
    s.record(evaluation('a'));
    s.record(evaluation('b'));
    vi.advanceTimersByTime(1_000);
    expect(echoes).toBe(2);
    expect(countsByFlag(inner.summaries())).toEqual({ a: 1, b: 1 });
    expect(s.stats()).toMatchObject({ recorded: 4, exported: 2, queued: 2, dropped: 0 });
    expectSound(s, inner);
  });

  it('keeps the accounting identity for a stats() call made by the inner collector while it takes a summary', () => {
    const inner = new InnerCollector();
    const s = summarizer(inner, { intervalMs: 1_000 });
    const seen: { recorded: number; accounted: number }[] = [];
    const record = inner.record.bind(inner);
    inner.record = (event) => {
      seen.push(identityOf(s.stats()));
      record(event);
    };
    for (const flag of ['a', 'b', 'b']) s.record(evaluation(flag));
    vi.advanceTimersByTime(1_000);
    expect(seen).toEqual([
      { recorded: 3, accounted: 3 },
      { recorded: 3, accounted: 3 },
    ]);
  });
});

describe('user code run while a key is looked up or added', () => {
  it.each(['variant', 'reason', 'errorCode', 'provider', 'version', 'setId'])(
    'drops (invalid) an evaluation whose %s is an object, without running its toString (which could record or close mid-way)',
    async (field) => {
      const inner = new InnerCollector();
      const s = summarizer(inner, { maxKeys: 1 });
      let calls = 0;
      const closing: Promise<FlushReport>[] = [];
      const hostile = {
        toString() {
          calls++;
          s.record(evaluation('g'));
          closing.push(s.close());
          return 'x';
        },
      };
      s.record(evaluation('f'));
      const fields: Partial<FlagEvaluationEvent> =
        field === 'version' || field === 'setId'
          ? { attributes: { [field === 'version' ? 'feature_flag.version' : 'feature_flag.set.id']: hostile as never } }
          : { [field]: hostile };
      s.record(evaluation('h', fields));
      await Promise.all(closing);
      expect(calls).toBe(0);
      const stats = s.stats();
      expect(stats).toMatchObject({ recorded: 2, queued: 1, keys: 1, droppedByReason: { invalid: 1 } });
      expect(stats.lastError?.message).toContain('must be strings');
      await s.close();
      expect(countsByFlag(inner.summaries())).toEqual({ f: 1 });
      expectSound(s, inner);
    },
  );

  it('keeps two equal object values one key when a getter read after the value lets the value\'s key go and another copy comes in', async () => {
    const inner = new InnerCollector();
    const s = summarizer(inner, { intervalMs: 1_000 });
    const first = { tier: 'gold' };
    s.record(evaluation('f', { value: first }));
    s.record({
      ...evaluation('f', { value: first }),
      get targetingKey() {
        // Two windows close: the key of { tier: 'gold' } is idle for one and let go; then another copy comes in.
        vi.advanceTimersByTime(2_000);
        s.record(evaluation('f', { value: { tier: 'gold' } }));
        return 'user-1';
      },
    });
    await s.flush();
    const last = inner.summaries().filter((summary) => summary.attributes['trackpipe.summary.window_start'] === T0 + 2_000);
    expect(last.map((summary) => summary.attributes['trackpipe.summary.count'])).toEqual([2]);
    expect(s.stats().keys).toBe(1);
    expectSound(s, inner);
  });
});

describe('timestamps', () => {
  it.each([Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NaN, '2026-01-01', new Date(T0), null])(
    'drops an evaluation whose timestamp is %s (invalid, as the processor would), counts nothing of it',
    async (timestamp) => {
      const inner = new InnerCollector();
      const s = summarizer(inner);
      s.record(evaluation('f', { timestamp: T0 - 5 }));
      s.record(evaluation('f', { timestamp: timestamp as number }));
      s.record(evaluation('f', { timestamp: T0 + 5 }));
      await s.flush();
      const [summary] = inner.summaries();
      expect(summary?.attributes).toMatchObject({
        'trackpipe.summary.count': 2,
        'trackpipe.summary.first_timestamp': T0 - 5,
        'trackpipe.summary.last_timestamp': T0 + 5,
      });
      expect(s.stats()).toMatchObject({ recorded: 3, exported: 2, droppedByReason: { invalid: 1 } });
      expect(s.stats().lastError?.message).toContain('timestamp');
    },
  );
});

describe('NaN in a dimension other than the value', () => {
  it.each([
    ['variant', { variant: Number.NaN as unknown as string }, 'feature_flag.result.variant', 'NaN'],
    ['reason', { reason: Number.NaN as unknown as string }, 'feature_flag.result.reason', 'nan'],
    ['provider', { provider: Number.NaN as unknown as string }, 'feature_flag.provider.name', 'NaN'],
    ['version', { attributes: { 'feature_flag.version': Number.NaN } }, 'feature_flag.version', Number.NaN],
    ['flag set', { attributes: { 'feature_flag.set.id': Number.NaN } }, 'feature_flag.set.id', Number.NaN],
  ])('counts the evaluations of a NaN %s as one key (NaN !== NaN made each one a new key)', async (_name, fields, attribute, shown) => {
    const inner = new InnerCollector();
    const s = summarizer(inner, { maxKeys: 4 });
    for (let i = 0; i < 6; i++) s.record(evaluation('f', fields));
    s.record(evaluation('g'));
    expect(s.stats().keys).toBe(2);
    await s.flush();
    expect(countsByFlag(inner.summaries())).toEqual({ f: 6, g: 1 });
    expect((inner.summaries()[0]?.attributes as Record<string, unknown> | undefined)?.[attribute]).toEqual(shown);
    expect(s.stats().overflowed).toBe(0);
    expectSound(s, inner);
  });
});

describe('object values whose JSON text is not an object', () => {
  it('counts a value whose toJSON answers a string, a number, a boolean or null under the key of that value: one summary per identity', async () => {
    const inner = new InnerCollector();
    const s = summarizer(inner);
    const day = new Date(T0);
    for (const value of ['on', { toJSON: () => 'on' }, { toJSON: () => 'on' }, day, day.toISOString(), 7, { toJSON: () => 7 }, false, { toJSON: () => false }, null, { toJSON: () => null }]) {
      s.record(evaluation('f', { value: value as FlagEvaluationEvent['value'] }));
    }
    await s.flush();
    const values = inner.summaries().map((e) => [e.attributes['feature_flag.result.value'], e.attributes['trackpipe.summary.count']]);
    expect(values).toEqual([
      ['on', 3],
      [day.toISOString(), 2],
      [7, 2],
      [false, 2],
      [null, 2],
    ]);
    expect(s.stats().keys).toBe(5);
    expectSound(s, inner);
  });
});

describe('record times at a window boundary', () => {
  it('never gives an evaluation recorded after a window closed, in the same synchronous run, a time before its window opened', async () => {
    const inner = new InnerCollector();
    const s = summarizer(inner, { intervalMs: 10_000 });
    s.record(evaluation('f')); // reads the clock: T0
    vi.advanceTimersByTime(10_000); // the window closes at T0 + 10 000, in this same synchronous run
    s.record(evaluation('f'));
    vi.advanceTimersByTime(5_000);
    await s.flush();
    const summaries = inner.summaries();
    expect(summaries).toHaveLength(2);
    for (const summary of summaries) {
      const a = summary.attributes;
      expect(a['trackpipe.summary.first_timestamp']).toBeGreaterThanOrEqual(a['trackpipe.summary.window_start']);
      expect(a['trackpipe.summary.last_timestamp']).toBeLessThanOrEqual(summary.timestamp);
    }
    expect(summaries[1]!.attributes['trackpipe.summary.first_timestamp']).toBe(T0 + 10_000);
  });
});

describe('an unserializable value when every key is in use', () => {
  it.each<[string, unknown]>([
    ['a BigInt', 10n],
    ['a symbol', Symbol('v')],
    ['a function', () => true],
  ])('drops %s as unserializable, as with room left: never counted into the overflow bucket, no idle key let go', async (_label, value) => {
    const inner = new InnerCollector();
    const s = summarizer(inner, { maxKeys: 2, intervalMs: 1_000 });
    s.record(evaluation('idle'));
    vi.advanceTimersByTime(1_000); // 'idle' is kept, idle, for the next window
    s.record(evaluation('f'));
    s.record(evaluation('g', { value: value as FlagEvaluationEvent['value'] })); // keys are full: 'f' counted, 'idle' kept
    expect(s.stats()).toMatchObject({ keys: 2, overflowed: 0, droppedByReason: { unserializable: 1 } });
    s.record(evaluation('h', { value: value as FlagEvaluationEvent['value'] })); // no idle key left to let go either way
    expect(s.stats()).toMatchObject({ overflowed: 0, droppedByReason: { unserializable: 2 } });
    await s.flush();
    expect(inner.summaries().some((summary) => summary.attributes['feature_flag.key'] === '__other__')).toBe(false);
    expectSound(s, inner);
  });
});
