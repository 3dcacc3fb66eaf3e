import { describe, expect, it } from 'vitest';
import { describeIssues, resolveLimits, validateBatch, validateEvent, validateIdentify } from '../src/index.js';

const limits = resolveLimits();

function issuesOf(result: { ok: boolean; issues?: readonly { path: string; message: string }[] }): string {
  expect(result.ok).toBe(false);
  return describeIssues(result.issues ?? []);
}

describe('validateEvent', () => {
  it('accepts an event and copies only its known fields', () => {
    const result = validateEvent({ name: 'checkout', id: 'e1', timestamp: 1_700_000_000_000, attributes: { total: 12.5, items: [1, 2] } }, limits);
    expect(result).toEqual({
      ok: true,
      value: { name: 'checkout', id: 'e1', timestamp: 1_700_000_000_000, attributes: { total: 12.5, items: [1, 2] } },
    });
  });

  it('reads an ISO 8601 timestamp as epoch milliseconds', () => {
    const result = validateEvent({ name: 'x', timestamp: '2024-01-02T03:04:05.678Z' }, limits);
    expect(result.ok && result.value.timestamp).toBe(Date.UTC(2024, 0, 2, 3, 4, 5, 678));
  });

  it('names each wrong field with its path and never echoes the value', () => {
    const message = issuesOf(
      validateEvent({ name: '', attributes: [1], timestamp: -5, traceId: 'secret-ish', colour: 'red' }, limits),
    );
    expect(message).toContain('colour: unknown field');
    expect(message).toContain('name: must not be empty');
    expect(message).toContain('attributes: must be an object, got a list');
    expect(message).toContain('timestamp: must be epoch milliseconds');
    expect(message).toContain('traceId: must be 32 lowercase hex digits');
    expect(message).not.toContain('secret-ish');
  });

  it('requires a name', () => {
    expect(issuesOf(validateEvent({ attributes: {} }, limits))).toBe('name: required');
  });

  it('requires flagKey and value on a feature_flag.evaluation event, and accepts a full one', () => {
    expect(issuesOf(validateEvent({ name: 'feature_flag.evaluation' }, limits))).toBe(
      'flagKey: required for a feature_flag.evaluation event; value: required for a feature_flag.evaluation event',
    );
    const flag = {
      name: 'feature_flag.evaluation',
      flagKey: 'new-checkout',
      value: false,
      variant: 'off',
      reason: 'SPLIT',
      targetingKey: 'user-1',
      provider: 'in-memory',
      context: { plan: 'pro' },
    };
    expect(validateEvent(flag, limits)).toEqual({ ok: true, value: flag });
  });

  it('refuses attributes nested deeper than maxDepth', () => {
    let deep: Record<string, unknown> = { leaf: 1 };
    for (let i = 0; i < 20; i++) deep = { next: deep };
    expect(issuesOf(validateEvent({ name: 'x', attributes: deep }, limits))).toBe('attributes: is nested more than 16 levels deep');
  });

  it('refuses numbers JSON cannot carry anywhere in a value, naming their path (they would reach the destination as null)', () => {
    // JSON.parse reads 1e400 as Infinity; a gRPC Struct may hold NaN.
    const body = JSON.parse('{"name":"x","attributes":{"ok":1,"list":[1,{"big":1e400}]},"context":{"n":-1e400}}') as unknown;
    expect(issuesOf(validateEvent(body, limits))).toBe('attributes.list[1].big: must be a finite number; context.n: must be a finite number');
    expect(issuesOf(validateEvent({ name: 'feature_flag.evaluation', flagKey: 'k', value: { 'odd key': [Number.NaN] } }, limits))).toBe(
      'value["odd key"][0]: must be a finite number',
    );
  });

  it('refuses a timestamp later than any date (it has no time to export)', () => {
    expect(issuesOf(validateEvent({ name: 'x', timestamp: 1e300 }, limits))).toBe(
      'timestamp: must be epoch milliseconds (a number from 0 to 8640000000000000, a date JavaScript can hold)',
    );
    expect(validateEvent({ name: 'x', timestamp: 8_640_000_000_000_000 }, limits).ok).toBe(true);
  });

  it('refuses a body that is not an object', () => {
    expect(issuesOf(validateEvent([1, 2], limits))).toBe('must be an event object, got a list');
    expect(issuesOf(validateEvent(null, limits))).toBe('must be an event object, got null');
  });
});

describe('validateBatch', () => {
  it('accepts { batch: [...] } and answers the events in order', () => {
    const result = validateBatch({ batch: [{ name: 'a' }, { name: 'b' }] }, limits);
    expect(result).toEqual({ ok: true, value: [{ name: 'a' }, { name: 'b' }] });
  });

  it('refuses the whole batch when one event is wrong, naming it by index', () => {
    const batch = [{ name: 'a' }, { name: 'b' }, { name: 'c' }, { attributes: {} }];
    expect(issuesOf(validateBatch({ batch }, limits))).toBe('batch[3].name: required');
  });

  it('refuses a missing, empty, non-list or too long batch, and unknown top-level fields', () => {
    expect(issuesOf(validateBatch({}, limits))).toBe('batch: required');
    expect(issuesOf(validateBatch({ batch: [] }, limits))).toBe('batch: must not be empty');
    expect(issuesOf(validateBatch({ batch: {} }, limits))).toBe('batch: must be a list of events, got an object');
    expect(issuesOf(validateBatch({ batch: [{ name: 'a' }], extra: 1 }, limits))).toBe('extra: unknown field');
    const small = resolveLimits({ maxBatchEvents: 2 });
    expect(issuesOf(validateBatch({ batch: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] }, small))).toBe('batch: must have at most 2 events');
  });

  it('reports at most maxIssues problems and counts the rest', () => {
    const batch = Array.from({ length: 30 }, () => ({}));
    const result = validateBatch({ batch }, resolveLimits({ maxIssues: 5 }));
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.issues).toHaveLength(6);
      expect(result.issues[5]).toEqual({ path: '', message: 'and 25 more problems' });
    }
  });
});

describe('validateIdentify', () => {
  it('turns user traits into an identify event', () => {
    const result = validateIdentify({ userId: 'u-1', traits: { plan: 'pro' }, id: 'i-1', timestamp: 5 }, limits);
    expect(result).toEqual({ ok: true, value: { name: 'identify', id: 'i-1', timestamp: 5, attributes: { userId: 'u-1', traits: { plan: 'pro' } } } });
  });

  it('requires userId and refuses traits that are not an object', () => {
    expect(issuesOf(validateIdentify({ traits: 'x' }, limits))).toBe('userId: required; traits: must be an object, got a string');
    expect(issuesOf(validateIdentify({ userId: 'u', email: 'a@b' }, limits))).toBe('email: unknown field');
  });
});
