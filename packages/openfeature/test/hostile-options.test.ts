import { TrackpipeError } from '@trackpipe/core';
import { type TrackpipeHookOptions, TrackpipeHook } from '@trackpipe/openfeature';
import { describe, expect, it } from 'vitest';
import { RecordingCollector } from './support/fakes.js';

// Option values an application gets wrong in the worst way: objects whose Symbol.toPrimitive or
// toString throws, objects with no prototype (no way to make them text), functions. The hook still
// refuses them with TRACKPIPE_ERR_OPTIONS_INVALID naming the option, and runs none of the value's code.

const hostileValues: [string, () => unknown][] = [
  ['an object whose Symbol.toPrimitive throws', () => ({ [Symbol.toPrimitive]: () => { throw new Error('do not call me'); } })],
  ['an object whose toString throws', () => ({ toString: () => { throw new Error('do not call me'); } })],
  ['an object without a prototype', () => Object.create(null) as unknown],
  ['a function', () => () => 'do not print my source'],
];

const placements: [string, (value: unknown) => TrackpipeHookOptions][] = [
  ['targetingKey', (value) => ({ targetingKey: value as 'copy' })],
  ['sampleRatio', (value) => ({ sampleRatio: value as number })],
  ['mode', (value) => ({ mode: value as 'events' })],
  ['mode.sample', (value) => ({ mode: { summaries: true, sample: value as number } })],
  ['mode.seed', (value) => ({ mode: { summaries: true, sample: 0.5, seed: value as number } })],
  ['summarizer.intervalMs', (value) => ({ mode: 'summaries', summarizer: { intervalMs: value as number } })],
  ['summarizer.maxKeys', (value) => ({ mode: 'summaries', summarizer: { maxKeys: value as number } })],
];

describe.each(placements)('the %s option', (option, place) => {
  it.each(hostileValues)('is refused naming it when it is %s, without running its code', (_, value) => {
    const given = value();
    let thrown: unknown;
    try {
      new TrackpipeHook(new RecordingCollector(), place(given));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TrackpipeError);
    const error = thrown as TrackpipeError;
    expect(error.code).toBe('TRACKPIPE_ERR_OPTIONS_INVALID');
    // An object given as the mode is read as its object form: the error names its first bad key (mode.toString, mode.summaries).
    if (option === 'mode') expect(error.details.option).toMatch(/^mode(\.|$)/);
    else expect(error.details.option).toBe(option);
    expect(error.message).not.toContain('do not');
  });
});

describe('hook options objects that cannot be read', () => {
  function throwingGetter(field: string): object {
    return Object.defineProperty({}, field, {
      enumerable: true,
      get: () => {
        throw new Error('do not repeat me');
      },
    });
  }
  function revoked(): object {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    return proxy;
  }
  function revokedArray(): string[] {
    const { proxy, revoke } = Proxy.revocable<string[]>([], {});
    revoke();
    return proxy;
  }
  function refused(options: unknown): TrackpipeError {
    let thrown: unknown;
    try {
      new TrackpipeHook(new RecordingCollector(), options as TrackpipeHookOptions);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TrackpipeError);
    const error = thrown as TrackpipeError;
    expect(error.code).toBe('TRACKPIPE_ERR_OPTIONS_INVALID');
    expect(error.message).not.toContain('do not repeat me');
    return error;
  }

  it.each(['contextAttributes', 'hashSalt', 'targetingKey', 'sampleRatio', 'logger', 'mode', 'summarizer'])('names %s when its getter throws', (field) => {
    expect(refused(throwingGetter(field)).details.option).toBe(field);
  });

  it.each([
    ['mode.sample', () => ({ mode: Object.assign(throwingGetter('sample'), { summaries: true }) })],
    ['summarizer.intervalMs', () => ({ mode: 'summaries', summarizer: throwingGetter('intervalMs') })],
  ])('names %s when its getter throws', (field, options) => {
    expect(refused(options()).details.option).toBe(field);
  });

  it.each([
    ['contextAttributes', () => ({ contextAttributes: Object.defineProperty(['plan'], 0, { get: () => { throw new Error('do not repeat me'); } }) })],
    ['hashAttributes', () => ({ hashAttributes: Object.defineProperty(['email'], 0, { get: () => { throw new Error('do not repeat me'); } }) })],
    ['logger', () => ({ logger: Object.defineProperty({ error: () => undefined }, 'warn', { get: () => { throw new Error('do not repeat me'); } }) })],
  ])('names %s when a getter inside it throws', (field, options) => {
    expect(refused(options()).details.option).toBe(field);
  });

  it.each<[string, () => unknown, TrackpipeHookOptions]>([
    ['a record getter that throws', () => Object.defineProperty({}, 'record', { get: () => { throw new Error('do not repeat me'); } }), {}],
    ['a revoked proxy', () => revoked(), {}],
    ['a flush getter that throws, in the summary modes', () => Object.defineProperty(new RecordingCollector(), 'flush', { get: () => { throw new Error('do not repeat me'); } }), { mode: 'summaries' }],
  ])('refuses a collector with %s naming collector, never with what it threw', (_label, collector, options) => {
    let thrown: unknown;
    try {
      new TrackpipeHook(collector() as RecordingCollector, options);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TrackpipeError);
    expect((thrown as TrackpipeError).details.option).toBe('collector');
    expect((thrown as TrackpipeError).message).not.toContain('do not repeat me');
  });

  it.each([
    ['options', () => revoked()],
    ['contextAttributes', () => ({ contextAttributes: revokedArray() })],
    ['hashAttributes', () => ({ hashAttributes: revokedArray() })],
    ['logger', () => ({ logger: revoked() })],
    ['mode', () => ({ mode: revoked() })],
    ['summarizer', () => ({ mode: 'summaries', summarizer: revoked() })],
  ])('names %s when it is a revoked proxy', (field, options) => {
    expect(refused(options()).details.option).toBe(field);
  });
});
