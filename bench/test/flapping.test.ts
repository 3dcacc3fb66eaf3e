import { describe, expect, it } from 'vitest';
import { flatness, slope } from '../src/scenarios/flapping.js';

describe('flapping: what "flat after the warm-up" means', () => {
  it('fits a least-squares slope', () => {
    expect(slope([0, 1, 2, 3], [10, 12, 14, 16])).toBeCloseTo(2);
    expect(slope([0, 1, 2], [5, 5, 5])).toBe(0);
    expect(slope([1], [3])).toBe(0);
  });

  it('judges only the samples after the warm-up, half against half', () => {
    const at = [1, 2, 3, 4, 5, 6, 7];
    // The warm-up (t ≤ 3) grows from 50 to 150 MB; after it RSS stays within 5 %, the delay within 20 % + 1 ms.
    const steady = flatness(at, [50, 100, 150, 150, 152, 149, 151], [9, 9, 2, 2, 2.5, 2.2, 2.4], 3);
    expect(steady).toMatchObject({ rssFirstMb: 152, rssSecondMb: 151, rssFlat: true, delayFlat: true });
  });

  it('says RSS is not flat when the second half grows more than 5 % above the first', () => {
    const growing = flatness([1, 2, 3, 4, 5, 6], [100, 110, 120, 130, 140, 150], [2, 2, 2, 2, 2, 2], 0);
    expect(growing).toMatchObject({ rssFirstMb: 120, rssSecondMb: 150, rssFlat: false, delayFlat: true });
    expect(growing?.rssSlopeMbPerMin).toBeCloseTo(600);
  });

  it('says the delay is not flat when the second half\'s median p99 grows past 20 % + 1 ms', () => {
    expect(flatness([1, 2, 3, 4], [100, 100, 100, 100], [2, 2, 4, 4], 0)?.delayFlat).toBe(false);
    expect(flatness([1, 2, 3, 4], [100, 100, 100, 100], [2, 2, 3.3, 3.3], 0)?.delayFlat).toBe(true);
  });

  it('cannot judge fewer than two samples after the warm-up', () => {
    expect(flatness([1, 2, 3], [1, 2, 3], [1, 1, 1], 2)).toBeUndefined();
  });
});
