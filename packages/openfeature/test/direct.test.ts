import { afterEach, describe, expect, it, vi } from 'vitest';
import type { EvaluationDetails, FlagValue, HookContext } from '@openfeature/server-sdk';
import { consoleLogger, TrackpipeError } from '@trackpipe/core';
import { TrackpipeHook, type TrackpipeHookOptions } from '@trackpipe/openfeature';
import { RecordingCollector, RecordingLogger } from './support/fakes.js';

function thrown(fn: () => unknown): TrackpipeError {
  try {
    fn();
  } catch (error) {
    if (error instanceof TrackpipeError) return error;
    throw error;
  }
  throw new Error('expected a TrackpipeError, nothing was thrown');
}

/** What the SDK hands the finally stage, reduced to what a hook reads. */
function hookContext(context: Record<string, unknown> = {}): HookContext {
  return {
    flagKey: 'flag',
    defaultValue: false,
    flagValueType: 'boolean',
    context,
    clientMetadata: { providerMetadata: { name: 'test' } },
    providerMetadata: { name: 'test' },
  } as unknown as HookContext;
}

const details: EvaluationDetails<FlagValue> = { flagKey: 'flag', flagMetadata: {}, value: true, variant: 'on', reason: 'STATIC' };

describe('options', () => {
  it('applies the documented defaults', () => {
    const hook = new TrackpipeHook(new RecordingCollector());
    expect(hook.options).toStrictEqual({
      contextAttributes: [],
      hashAttributes: [],
      hashSalt: '',
      targetingKey: 'copy',
      sampleRatio: 1,
      random: Math.random,
      logger: consoleLogger,
      mode: 'events',
      summarizer: {},
    });
  });

  it.each<[string, TrackpipeHookOptions, string]>([
    ['contextAttributes', { contextAttributes: 'email' as unknown as string[] }, 'contextAttributes'],
    ['contextAttributes entry', { contextAttributes: ['plan', ''] }, 'contextAttributes[1]'],
    ['contextAttributes targetingKey', { contextAttributes: ['targetingKey'] }, 'contextAttributes[0]'],
    ['hashAttributes entry', { hashAttributes: [42 as unknown as string] }, 'hashAttributes[0]'],
    ['hashSalt', { hashSalt: 1234 as unknown as string }, 'hashSalt'],
    ['targetingKey', { targetingKey: 'encrypt' as unknown as 'hash' }, 'targetingKey'],
    ['sampleRatio above 1', { sampleRatio: 1.5 }, 'sampleRatio'],
    ['sampleRatio below 0', { sampleRatio: -0.1 }, 'sampleRatio'],
    ['sampleRatio NaN', { sampleRatio: Number.NaN }, 'sampleRatio'],
    ['random', { random: 0.5 as unknown as () => number }, 'random'],
    ['logger', { logger: console.log as unknown as RecordingLogger }, 'logger'],
  ])('rejects an invalid %s with TRACKPIPE_ERR_OPTIONS_INVALID naming the option', (_label, options, option) => {
    const error = thrown(() => new TrackpipeHook(new RecordingCollector(), options));
    expect(error.code).toBe('TRACKPIPE_ERR_OPTIONS_INVALID');
    expect(error.details).toEqual({ option });
    expect(error.message).toContain(option);
  });

  it('never echoes the salt in an error', () => {
    const error = thrown(() => new TrackpipeHook(new RecordingCollector(), { hashSalt: 987654321 as unknown as string }));
    expect(error.message).not.toContain('987654321');
  });

  it('rejects a collector without record()', () => {
    const error = thrown(() => new TrackpipeHook({} as unknown as RecordingCollector));
    expect(error.code).toBe('TRACKPIPE_ERR_OPTIONS_INVALID');
    expect(error.details).toEqual({ option: 'collector' });
  });

  it('accepts the bounds of sampleRatio', () => {
    expect(new TrackpipeHook(new RecordingCollector(), { sampleRatio: 0 }).options.sampleRatio).toBe(0);
    expect(new TrackpipeHook(new RecordingCollector(), { sampleRatio: 1 }).options.sampleRatio).toBe(1);
  });
});

describe('the finally stage', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('is synchronous: it returns undefined, not a promise, and is the only stage the hook has', () => {
    const collector = new RecordingCollector();
    const hook = new TrackpipeHook(collector);
    expect(hook.finally(hookContext(), details)).toBeUndefined();
    expect(collector.events).toHaveLength(1);
    const stages = hook as { before?: unknown; after?: unknown; error?: unknown };
    expect([stages.before, stages.after, stages.error]).toEqual([undefined, undefined, undefined]);
  });

  it('does not throw when called with details missing, and counts the failure', () => {
    const hook = new TrackpipeHook(new RecordingCollector(), { logger: new RecordingLogger() });
    expect(hook.finally(hookContext(), undefined as unknown as EvaluationDetails<FlagValue>)).toBeUndefined();
    expect(hook.stats().failed).toBe(1);
  });

  it('warns at most once a minute and then says how many failures it did not report', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const collector = new RecordingCollector();
    collector.throwOnRecord = new Error('full');
    const logger = new RecordingLogger();
    const hook = new TrackpipeHook(collector, { logger });
    for (let i = 0; i < 5; i++) hook.finally(hookContext(), details);
    expect(logger.warnings).toHaveLength(1);
    vi.advanceTimersByTime(59_999);
    hook.finally(hookContext(), details);
    expect(logger.warnings).toHaveLength(1);
    vi.advanceTimersByTime(1);
    hook.finally(hookContext(), details);
    expect(logger.warnings).toHaveLength(2);
    expect(logger.warnings[1]!.fields).toEqual({ error: 'full', failed: 7, suppressedSinceLastWarning: 5 });
    expect(hook.stats()).toEqual({ evaluations: 7, recorded: 0, sampledOut: 0, failed: 7, fullEvents: 0 });
  });

  it('keeps no personal data in its warnings', () => {
    const collector = new RecordingCollector();
    collector.throwOnRecord = new Error('full');
    const logger = new RecordingLogger();
    const hook = new TrackpipeHook(collector, { logger, contextAttributes: ['email'] });
    hook.finally(hookContext({ targetingKey: 'user-42', email: 'alice@example.com' }), details);
    const text = JSON.stringify(logger.warnings);
    expect(text).not.toContain('alice@example.com');
    expect(text).not.toContain('user-42');
  });

  it('converts context values that JSON cannot carry: BigInt to text, invalid dates and functions to null', () => {
    const collector = new RecordingCollector();
    const hook = new TrackpipeHook(collector, { contextAttributes: ['big', 'bad', 'fn', 'list'] });
    hook.finally(
      hookContext({ big: 10n, bad: new Date(Number.NaN), fn: () => 1, list: [1, undefined, 'x'] }),
      details,
    );
    expect(collector.events[0]!.context).toStrictEqual({ big: '10', bad: null, fn: null, list: [1, null, 'x'] });
    expect(() => JSON.stringify(collector.events[0])).not.toThrow();
  });

  it.each([undefined, null])('records no context attribute when the hook context has no context (%s): absent, not null', (context) => {
    const collector = new RecordingCollector();
    const hook = new TrackpipeHook(collector, { contextAttributes: ['plan'], hashAttributes: ['email'] });
    hook.finally({ ...hookContext(), context } as unknown as HookContext, details);
    expect(collector.events).toHaveLength(1);
    expect(collector.events[0]).not.toHaveProperty('context');
    expect(hook.stats()).toMatchObject({ recorded: 1, failed: 0 });
  });
});
