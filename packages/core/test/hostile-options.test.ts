import { describe, expect, it } from 'vitest';
import { SummarizingCollector, TrackpipeError, silentLogger } from '@trackpipe/core';
import { instrumentFlagEvaluations } from '@trackpipe/core/metrics';
import { InnerCollector } from './summaries-fixtures.js';

// Option values an application gets wrong in the worst way: objects whose Symbol.toPrimitive or
// toString throws, objects with no prototype (no way to make them text), functions. The constructor
// still fails with TRACKPIPE_ERR_OPTIONS_INVALID naming the option, and runs none of the value's code.

const hostileValues: [string, () => unknown][] = [
  ['an object whose Symbol.toPrimitive throws', () => ({ [Symbol.toPrimitive]: () => { throw new Error('do not call me'); } })],
  ['an object whose toString throws', () => ({ toString: () => { throw new Error('do not call me'); } })],
  ['an object without a prototype', () => Object.create(null) as unknown],
  ['a function', () => () => 'do not print my source'],
];

function thrownBy(build: () => unknown): unknown {
  try {
    build();
  } catch (error) {
    return error;
  }
  return undefined;
}

function expectOptionError(error: unknown, option: string): void {
  expect(error).toBeInstanceOf(TrackpipeError);
  const e = error as TrackpipeError;
  expect(e.code).toBe('TRACKPIPE_ERR_OPTIONS_INVALID');
  expect(e.details.option).toBe(option);
  expect(e.message).toContain(option);
  expect(e.message).not.toContain('do not');
}

describe('SummarizingCollector options', () => {
  it.each(hostileValues)('names intervalMs and maxKeys when they are %s', (_, value) => {
    expectOptionError(thrownBy(() => new SummarizingCollector(new InnerCollector(), { intervalMs: value() as number, logger: silentLogger })), 'intervalMs');
    expectOptionError(thrownBy(() => new SummarizingCollector(new InnerCollector(), { maxKeys: value() as number, logger: silentLogger })), 'maxKeys');
  });
});

describe('instrumentFlagEvaluations options', () => {
  it.each(hostileValues)('names maxSeries when it is %s', (_, value) => {
    const summarizer = new SummarizingCollector(new InnerCollector(), { logger: silentLogger });
    expectOptionError(thrownBy(() => instrumentFlagEvaluations(summarizer, { maxSeries: value() as number })), 'maxSeries');
    void summarizer.close();
  });
});
