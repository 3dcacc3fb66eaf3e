import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FlushTracker } from '@trackpipe/core/internal';

function tracker() {
  let settled = 0;
  const waiting: boolean[] = [];
  const flushes = new FlushTracker<number>({
    settledBelow: (mark) => settled >= mark,
    snapshot: () => settled,
    reportSince: (before, complete) => ({ complete, exported: settled - before, dropped: 0, droppedByReason: {}, remaining: 0 }),
    waiting: (w) => waiting.push(w),
  });
  return { flushes, waiting, settle: (n: number) => (settled = n) };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('FlushTracker', () => {
  it('answers at once when the mark is already settled, without telling the owner to wait', async () => {
    const { flushes, waiting } = tracker();
    expect(await flushes.wait(0, undefined)).toMatchObject({ complete: true });
    expect(waiting).toEqual([]);
  });

  it('releases each waiter when its own mark is settled, and says when nobody waits any more', async () => {
    const { flushes, waiting, settle } = tracker();
    const early = flushes.wait(5, undefined);
    const late = flushes.wait(10, undefined);
    expect(waiting).toEqual([true]);
    settle(5);
    flushes.check();
    expect(await early).toMatchObject({ complete: true, exported: 5 });
    expect(flushes.waiting).toBe(true);
    settle(10);
    flushes.check();
    expect(await late).toMatchObject({ complete: true, exported: 10 });
    expect(waiting).toEqual([true, false]);
  });

  it('answers incomplete when the timeout passes first', async () => {
    const { flushes } = tracker();
    const pending = flushes.wait(3, 100);
    await vi.advanceTimersByTimeAsync(100);
    expect(await pending).toMatchObject({ complete: false });
    expect(flushes.waiting).toBe(false);
  });
});
