import { describe, expect, it } from 'vitest';
import { RetryPolicy, backoffDelay } from '@trackpipe/core/internal';

const schedule = { initialBackoffMs: 100, multiplier: 2, maxBackoffMs: 1_000, maxElapsedMs: 10_000 };
const top = () => 0.999_999;

describe('backoffDelay', () => {
  it('draws below min(maxBackoffMs, initial × multiplier^attempt)', () => {
    expect([0, 1, 2, 3, 4, 5].map((a) => backoffDelay(schedule, a, top))).toEqual([99, 199, 399, 799, 999, 999]);
    expect(backoffDelay(schedule, 3, () => 0)).toBe(0);
  });
});

describe('RetryPolicy', () => {
  it('delays only the failed batch after an isolated failure, by its own attempt count', () => {
    const policy = new RetryPolicy(schedule, top);
    const batch = { attempts: 0, firstAttemptAt: 0 };
    expect(policy.failed(batch, policy.epoch, undefined, 1_000)).toBe(1_099);
    expect(policy.pausedUntil).toBe(0);
    expect(policy.probing).toBe(false);
    expect(batch.attempts).toBe(1);
  });

  it('counts exports that fail together as one round', () => {
    const policy = new RetryPolicy(schedule, top);
    const epoch = policy.epoch; // both started together
    policy.failed({ attempts: 0, firstAttemptAt: 0 }, epoch, undefined, 1_000);
    policy.failed({ attempts: 0, firstAttemptAt: 0 }, epoch, undefined, 1_001);
    expect(policy.pausedUntil).toBe(0); // one round so far: not down
  });

  it('pauses the whole exporter after three failed rounds in a row, from the first ceiling, then probes until a success', () => {
    const policy = new RetryPolicy(schedule, top);
    policy.failed({ attempts: 0, firstAttemptAt: 0 }, policy.epoch, undefined, 1_000);
    policy.failed({ attempts: 0, firstAttemptAt: 0 }, policy.epoch, undefined, 1_100);
    expect(policy.pausedUntil).toBe(0); // two rounds: an unlucky streak, not yet down
    const notBefore = policy.failed({ attempts: 0, firstAttemptAt: 0 }, policy.epoch, undefined, 1_200);
    expect(policy.pausedUntil).toBe(1_200 + 99);
    expect(notBefore).toBe(policy.pausedUntil);
    expect(policy.probing).toBe(true);
    // Each failed probe raises the ceiling by a round, or to the batch's own attempt count if higher.
    policy.failed({ attempts: 0, firstAttemptAt: 0 }, policy.epoch, undefined, 1_300);
    expect(policy.pausedUntil).toBe(1_300 + 199);
    policy.failed({ attempts: 3, firstAttemptAt: 0 }, policy.epoch, undefined, 1_500);
    expect(policy.pausedUntil).toBe(1_500 + 799);
    policy.succeeded(policy.epoch);
    expect(policy.pausedUntil).toBe(0);
    expect(policy.probing).toBe(false);
  });

  it('does not let a success that started before the failure lift a Retry-After pause', () => {
    const policy = new RetryPolicy(schedule, top);
    const before = policy.epoch;
    policy.failed({ attempts: 0, firstAttemptAt: 0 }, before, 500, 1_000);
    policy.succeeded(before);
    expect(policy.pausedUntil).toBe(1_500);
  });

  it('clamps Retry-After to maxBackoffMs, Infinity included', () => {
    const policy = new RetryPolicy(schedule, top);
    expect(policy.failed({ attempts: 0, firstAttemptAt: 0 }, policy.epoch, 600_000, 1_000)).toBe(2_000);
    expect(policy.failed({ attempts: 0, firstAttemptAt: 0 }, policy.epoch, Number.POSITIVE_INFINITY, 3_000)).toBe(4_000);
  });

  it('cuts a delay to the end of the budget, and drops only after it', () => {
    const policy = new RetryPolicy({ ...schedule, maxElapsedMs: 1_050 }, top);
    const batch = { attempts: 0, firstAttemptAt: 0 };
    expect(policy.failed(batch, policy.epoch, undefined, 1_000)).toBe(1_050);
    expect(policy.failed(batch, policy.epoch, undefined, 1_050)).toBeUndefined();
  });
});
