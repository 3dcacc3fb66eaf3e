import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  type CollectorStats,
  type FlagEvaluationEvent,
  type TelemetryEvent,
  TrackpipeError,
  eventIdTime,
  flagEvaluation,
} from '@trackpipe/core';
import { MemoryCollector } from '@trackpipe/collector-memory';

function flag(flagKey: string, value: boolean | string = true): FlagEvaluationEvent {
  return flagEvaluation({ flagKey, value });
}

function expectIdentity(stats: CollectorStats): void {
  expect(stats.recorded).toBe(stats.exported + stats.dropped + stats.queued + stats.inFlight);
  const byReason = Object.values(stats.droppedByReason).reduce((a, b) => a + b, 0);
  expect(byReason).toBe(stats.dropped);
}

/** Marks when a promise settles, so a test can check it has not yet. */
function track<T>(promise: Promise<T>): { settled: () => boolean; promise: Promise<T> } {
  let settled = false;
  const tracked = promise.finally(() => {
    settled = true;
  });
  return { settled: () => settled, promise: tracked };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('MemoryCollector: recording', () => {
  it('assigns an id and a timestamp when absent and keeps the ones given', () => {
    const collector = new MemoryCollector<TelemetryEvent>();
    const bare: TelemetryEvent = { name: 'page.view' };
    const given: TelemetryEvent = { name: 'page.view', id: 'my-id', timestamp: 1234 };
    collector.record(bare);
    collector.record(given);
    const [first, second] = collector.getEvents();
    expect(first).toBe(bare);
    expect(first?.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(typeof first?.timestamp).toBe('number');
    expect(eventIdTime(first!.id)).toBe(first?.timestamp);
    expect(second).toMatchObject({ id: 'my-id', timestamp: 1234 });
  });

  it('counts null, non-objects, nameless events and revoked proxies as dropped (invalid) without throwing', () => {
    const collector = new MemoryCollector<TelemetryEvent>();
    const { proxy, revoke } = Proxy.revocable({ name: 'revoked' }, {});
    revoke();
    const inputs: unknown[] = [null, undefined, 42, 'event', {}, { name: '' }, { name: 7 }, proxy];
    for (const input of inputs) expect(() => collector.record(input as TelemetryEvent)).not.toThrow();
    collector.record({ name: 'ok' });
    const stats = collector.stats();
    expect(stats).toMatchObject({ recorded: 9, exported: 1, dropped: 8 });
    expect(stats.droppedByReason.invalid).toBe(8);
    expect(stats.lastError?.code).toBe('TRACKPIPE_ERR_EVENT_INVALID');
    expect(collector.size).toBe(1);
    expectIdentity(stats);
  });

  it('keeps a frozen event without an id as a copy with an id, leaving the original untouched', () => {
    const collector = new MemoryCollector<TelemetryEvent>();
    const frozen = Object.freeze({ name: 'frozen' });
    collector.record(frozen);
    expect(collector.getEvents()[0]).toMatchObject({ name: 'frozen', id: expect.any(String) });
    expect(frozen).toEqual({ name: 'frozen' });
  });

  it('keeps exactly maxSize events without evicting, then discards the oldest one per record beyond it', () => {
    const collector = new MemoryCollector({ maxSize: 3 });
    const events = Array.from({ length: 8 }, (_, i) => flag(`f${i}`));
    for (const event of events.slice(0, 3)) collector.record(event);
    expect(collector.size).toBe(3);
    expect(collector.getEvents().map((e) => e.flagKey)).toEqual(['f0', 'f1', 'f2']);
    expect(collector.evicted).toBe(0);

    collector.record(events[3]!);
    expect(collector.size).toBe(3);
    expect(collector.getEvents().map((e) => e.flagKey)).toEqual(['f1', 'f2', 'f3']);
    expect(collector.stats()).toMatchObject({ recorded: 4, exported: 4, dropped: 0 });
    expect(collector.evicted).toBe(1);

    // Around the ring more than once.
    for (const event of events.slice(4)) collector.record(event);
    expect(collector.getEvents().map((e) => e.flagKey)).toEqual(['f5', 'f6', 'f7']);
    const stats = collector.stats();
    expect(stats).toMatchObject({ recorded: 8, exported: 8, dropped: 0, queued: 0, inFlight: 0, queueCapacity: 3 });
    expect(collector.evicted).toBe(5);
    expectIdentity(stats);
  });

  it('keeps a ring of one holding only the latest event', () => {
    const collector = new MemoryCollector({ maxSize: 1 });
    collector.record(flag('a'));
    collector.record(flag('b'));
    expect(collector.getEvents().map((e) => e.flagKey)).toEqual(['b']);
    expect(collector.last()?.flagKey).toBe('b');
  });

  it('keeps memory bounded over one million records: the ring holds maxSize events, the newest ones', () => {
    const maxSize = 1_000;
    const total = 1_000_000;
    const collector = new MemoryCollector<TelemetryEvent>({ maxSize });
    for (let i = 0; i < total; i++) collector.record({ name: 'tick', attributes: { i } });
    expect(collector.size).toBe(maxSize);
    const held = collector.getEvents();
    expect(held).toHaveLength(maxSize);
    expect(held[0]?.attributes?.i).toBe(total - maxSize);
    expect(held.at(-1)?.attributes?.i).toBe(total - 1);
    const stats = collector.stats();
    expect(stats).toMatchObject({ recorded: total, exported: total, dropped: 0, queueCapacity: maxSize });
    expect(collector.evicted).toBe(total - maxSize);
    expectIdentity(stats);
  });

  it('rejects invalid options with TRACKPIPE_ERR_OPTIONS_INVALID naming the option', () => {
    for (const maxSize of [0, -1, 1.5, Number.NaN]) {
      expect(() => new MemoryCollector({ maxSize })).toThrow(expect.objectContaining({ code: 'TRACKPIPE_ERR_OPTIONS_INVALID' }));
    }
    expect(() => new MemoryCollector({ maxSize: 0 })).toThrow(/maxSize must be an integer from 1 to 1000000000/);
    expect(() => new MemoryCollector({ waitForTimeoutMs: -5 })).toThrow(TrackpipeError);
  });

  it('refuses a maxSize past 1e9 and a timeout past 2147483647 ms (a RangeError from the array; a timer Node fires at once)', async () => {
    expect(() => new MemoryCollector({ maxSize: 1e12 })).toThrow(expect.objectContaining({ code: 'TRACKPIPE_ERR_OPTIONS_INVALID', message: expect.stringContaining('maxSize') }));
    expect(() => new MemoryCollector({ waitForTimeoutMs: 3e9 })).toThrow(expect.objectContaining({ code: 'TRACKPIPE_ERR_OPTIONS_INVALID', message: expect.stringContaining('waitForTimeoutMs') }));
    await expect(new MemoryCollector().waitFor(1, { timeoutMs: 3e9 })).rejects.toMatchObject({ code: 'TRACKPIPE_ERR_OPTIONS_INVALID', message: expect.stringContaining('timeoutMs') });
    expect(new MemoryCollector({ maxSize: 1e9, waitForTimeoutMs: 2_147_483_647 }).maxSize).toBe(1e9);
  });
});

describe('MemoryCollector: queries', () => {
  function mixed(): MemoryCollector<TelemetryEvent> {
    const collector = new MemoryCollector<TelemetryEvent>({ maxSize: 8 });
    // 10 records into 8 slots: the ring has wrapped, the first two are gone.
    const keys = ['x', 'y', 'a', 'b', 'a', 'a', 'b', 'a', 'c', 'a'];
    keys.forEach((flagKey, i) => collector.record(flagEvaluation({ flagKey, value: i })));
    collector.record({ name: 'page.view', attributes: { path: '/' } });
    collector.record({ name: 'page.view', attributes: { path: '/a' } });
    return collector;
  }
  const values = (events: readonly TelemetryEvent[]): unknown[] => events.map((e) => (e as FlagEvaluationEvent).value ?? e.attributes?.path);

  it('filters by flagKey, name and where together, oldest first', () => {
    const collector = mixed();
    expect(values(collector.getEvents())).toEqual([4, 5, 6, 7, 8, 9, '/', '/a']);
    expect(values(collector.getEvents({ flagKey: 'a' }))).toEqual([4, 5, 7, 9]);
    expect(values(collector.getEvents({ name: 'page.view' }))).toEqual(['/', '/a']);
    const odd = (e: TelemetryEvent): boolean => typeof (e as FlagEvaluationEvent).value === 'number' && ((e as FlagEvaluationEvent).value as number) % 2 === 1;
    expect(values(collector.getEvents({ name: 'feature_flag.evaluation', flagKey: 'a', where: odd }))).toEqual([5, 7, 9]);
  });

  it('applies limit after the filters: the most recent N matching events, still oldest first', () => {
    const collector = mixed();
    expect(values(collector.getEvents({ flagKey: 'a', limit: 2 }))).toEqual([7, 9]);
    expect(values(collector.getEvents({ limit: 3 }))).toEqual([9, '/', '/a']);
    expect(values(collector.getEvents({ flagKey: 'b', limit: 5 }))).toEqual([6]);
    expect(values(collector.getEvents({ flagKey: 'a', where: (e) => (e as FlagEvaluationEvent).value !== 9, limit: 1 }))).toEqual([7]);
    expect(collector.getEvents({ flagKey: 'a', limit: 0 })).toEqual([]);
    expect(collector.getEvents({ flagKey: 'x' })).toEqual([]);
    expect(() => collector.getEvents({ limit: -1 })).toThrow(expect.objectContaining({ code: 'TRACKPIPE_ERR_OPTIONS_INVALID' }));
  });

  it('counts with the same filters, and last() returns the most recent match', () => {
    const collector = mixed();
    expect(collector.count()).toBe(8);
    expect(collector.count({ flagKey: 'a' })).toBe(4);
    expect(collector.count({ name: 'page.view', where: (e) => e.attributes?.path === '/a' })).toBe(1);
    expect((collector.last({ flagKey: 'b' }) as FlagEvaluationEvent).value).toBe(6);
    expect(collector.last({ flagKey: 'missing' })).toBeUndefined();
  });

  it('takes null (from JavaScript) as no filter in count(), getEvents() and last(), as undefined', () => {
    const collector = mixed();
    const none = null as unknown as undefined;
    expect(collector.count(none)).toBe(8);
    expect(collector.getEvents(none)).toEqual(collector.getEvents());
    expect(collector.last(none)).toBe(collector.getEvents().at(-1));
  });

  it('returns copies: later records, evictions and clear() do not change an array already returned', () => {
    const collector = new MemoryCollector({ maxSize: 2 });
    collector.record(flag('a'));
    collector.record(flag('b'));
    const before = collector.getEvents();
    const filtered = collector.getEvents({ flagKey: 'a' });
    collector.record(flag('c'));
    expect(before.map((e) => e.flagKey)).toEqual(['a', 'b']);
    expect(filtered.map((e) => e.flagKey)).toEqual(['a']);
    before.pop();
    expect(collector.getEvents().map((e) => e.flagKey)).toEqual(['b', 'c']);
    const held = collector.getEvents();
    expect(collector.clear()).toBe(2);
    expect(held).toHaveLength(2);
    expect(collector.getEvents()).toEqual([]);
    expect(collector.size).toBe(0);
  });

  it('clear() empties the ring but keeps the figures (the events were delivered)', () => {
    const collector = new MemoryCollector({ maxSize: 2 });
    for (const key of ['a', 'b', 'c']) collector.record(flag(key));
    collector.clear();
    collector.record(flag('d'));
    expect(collector.getEvents().map((e) => e.flagKey)).toEqual(['d']);
    const stats = collector.stats();
    expect(stats).toMatchObject({ recorded: 4, exported: 4, dropped: 0 });
    expect(collector.evicted).toBe(1);
    expectIdentity(stats);
  });
});

describe('MemoryCollector: flush and close', () => {
  it('flush() resolves at once with a complete, empty report', async () => {
    const collector = new MemoryCollector();
    collector.record(flag('a'));
    await expect(collector.flush()).resolves.toEqual({ complete: true, exported: 0, dropped: 0, droppedByReason: {}, remaining: 0 });
    expect(collector.size).toBe(1);
  });

  it('close() releases the events, ignores later records and counts them as dropped (closed)', async () => {
    const collector = new MemoryCollector();
    collector.record(flag('a'));
    collector.record(flag('b'));
    const report = await collector.close();
    expect(report).toMatchObject({ complete: true, remaining: 0 });
    expect(collector.closed).toBe(true);
    expect(collector.size).toBe(0);
    expect(collector.getEvents()).toEqual([]);
    collector.record(flag('c'));
    collector.record(null as unknown as FlagEvaluationEvent);
    expect(collector.size).toBe(0);
    await expect(collector.close()).resolves.toMatchObject({ complete: true });
    const stats = collector.stats();
    expect(stats).toMatchObject({ recorded: 4, exported: 2, dropped: 2 });
    expect(stats.droppedByReason.closed).toBe(2);
    expectIdentity(stats);
  });
});

describe('MemoryCollector: waitFor', () => {
  it('resolves with an event recorded later, asynchronously, that matches the predicate', async () => {
    const collector = new MemoryCollector();
    const later = flag('new-checkout', 'on');
    setTimeout(() => {
      collector.record(flag('other'));
      setImmediate(() => collector.record(later));
    }, 20);
    const got = await collector.waitFor((e) => e.flagKey === 'new-checkout', { timeoutMs: 20_000 });
    expect(got).toBe(later);
    expect(got.value).toBe('on');
  });

  it('resolves on the very record that makes the condition true, with no polling timer', async () => {
    vi.useFakeTimers();
    const collector = new MemoryCollector();
    const wait = track(collector.waitFor(2, { flagKey: 'a' }));
    expect(vi.getTimerCount()).toBe(1); // the deadline, nothing else
    collector.record(flag('a'));
    collector.record(flag('b'));
    await Promise.resolve();
    await Promise.resolve();
    expect(wait.settled()).toBe(false);
    const second = flag('a');
    collector.record(second);
    const events = await wait.promise;
    expect(events.map((e) => e.flagKey)).toEqual(['a', 'a']);
    expect(events[1]).toBe(second);
    expect(vi.getTimerCount()).toBe(0); // the deadline was cleared
  });

  it('resolves at once when the condition already holds', async () => {
    const collector = new MemoryCollector();
    collector.record(flag('a', 'first'));
    collector.record(flag('a', 'second'));
    await expect(collector.waitFor(2)).resolves.toHaveLength(2);
    // The predicate form answers the most recent matching event held.
    await expect(collector.waitFor((e) => e.flagKey === 'a')).resolves.toMatchObject({ value: 'second' });
    await expect(collector.waitFor(() => true, { flagKey: 'a', where: (e) => e.value === 'first' })).resolves.toMatchObject({
      value: 'first',
    });
  });

  it('counts matching events held, so an eviction takes one back', async () => {
    const collector = new MemoryCollector({ maxSize: 2 });
    const wait = track(collector.waitFor(2, { flagKey: 'a' }));
    collector.record(flag('a'));
    collector.record(flag('b'));
    collector.record(flag('b')); // evicts the first "a"
    collector.record(flag('a'));
    await Promise.resolve();
    await Promise.resolve();
    expect(wait.settled()).toBe(false);
    collector.record(flag('a'));
    await expect(wait.promise).resolves.toHaveLength(2);
  });

  it('starts counting again after clear()', async () => {
    const collector = new MemoryCollector();
    const wait = track(collector.waitFor(2));
    collector.record(flag('a'));
    collector.clear();
    collector.record(flag('b'));
    await Promise.resolve();
    await Promise.resolve();
    expect(wait.settled()).toBe(false);
    collector.record(flag('c'));
    await expect(wait.promise).resolves.toMatchObject([{ flagKey: 'b' }, { flagKey: 'c' }]);
  });

  it('rejects after timeoutMs with a message saying how many events it saw and the last names and flag keys', async () => {
    vi.useFakeTimers();
    const collector = new MemoryCollector<TelemetryEvent>();
    collector.record({ name: 'app.start' });
    for (const key of ['a', 'b', 'c']) collector.record(flagEvaluation({ flagKey: key, value: true }));
    collector.record({ name: 'page.view' });
    const wait = track(collector.waitFor((e) => (e as FlagEvaluationEvent).flagKey === 'missing', { timeoutMs: 500 }));
    const assertion = expect(wait.promise).rejects.toThrow(
      'MemoryCollector.waitFor: timed out after 500 ms waiting for an event matching the predicate; ' +
        'saw 7 events held (7 recorded); last 5, oldest first: ' +
        'feature_flag.evaluation[b], feature_flag.evaluation[c], page.view, feature_flag.evaluation[d], late.unrelated',
    );
    await vi.advanceTimersByTimeAsync(400);
    collector.record(flagEvaluation({ flagKey: 'd', value: false }));
    collector.record({ name: 'late.unrelated' });
    await vi.advanceTimersByTimeAsync(99);
    expect(wait.settled()).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await assertion;
  });

  it('names the filter and the matching count when a count wait times out', async () => {
    vi.useFakeTimers();
    const collector = new MemoryCollector();
    collector.record(flag('a'));
    collector.record(flag('b'));
    const wait = collector.waitFor(3, { flagKey: 'a', timeoutMs: 100 });
    const assertion = expect(wait).rejects.toThrow(
      'MemoryCollector.waitFor: timed out after 100 ms waiting for 3 events matching flagKey "a"; ' +
        'saw 2 events held, 1 matching (2 recorded); last 2, oldest first: feature_flag.evaluation[a], feature_flag.evaluation[b]',
    );
    await vi.advanceTimersByTimeAsync(100);
    await assertion;
  });

  it('rejects at once when the count can never be held, and pending waits when the collector closes', async () => {
    const collector = new MemoryCollector({ maxSize: 2 });
    await expect(collector.waitFor(3)).rejects.toThrow('3 events can never be held at once: maxSize is 2');
    await expect(collector.waitFor(0)).rejects.toThrow(expect.objectContaining({ code: 'TRACKPIPE_ERR_OPTIONS_INVALID' }));
    collector.record(flag('a'));
    const pending = collector.waitFor((e) => e.flagKey === 'z', { timeoutMs: 60_000 });
    void collector.close();
    await expect(pending).rejects.toThrow(
      'the collector was closed while waiting for an event matching the predicate; saw 1 event held (1 recorded); last 1, oldest first: feature_flag.evaluation[a]',
    );
    await expect(collector.waitFor(1)).rejects.toThrow('the collector is closed');
  });

  it('rejects the wait when its predicate throws, and record() still does not throw', async () => {
    const collector = new MemoryCollector();
    const wait = collector.waitFor((e) => {
      if (e.flagKey === 'boom') throw new Error('predicate broke');
      return false;
    });
    expect(() => collector.record(flag('boom'))).not.toThrow();
    await expect(wait).rejects.toThrow('predicate broke');
    expect(collector.size).toBe(1);
  });
});
