import { describe, expect, it } from 'vitest';
import { BatchProcessor, SummarizingCollector, TrackpipeError, silentLogger } from '@trackpipe/core';
import { MemoryExporter } from '@trackpipe/core/testing';
import { instrumentFlagEvaluations } from '@trackpipe/core/metrics';
import { InnerCollector } from './summaries-fixtures.js';

// Options an application gets wrong in the worst way: values whose Symbol.toPrimitive or toString
// throws, objects with no prototype (no way to make them text), functions; option objects whose getters
// throw, revoked proxies. The constructor still fails with TRACKPIPE_ERR_OPTIONS_INVALID naming the
// option, runs none of the value's code and repeats nothing a getter threw.

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
  expect(e.message).not.toContain('sk_live');
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

/** Options whose every listed field is a getter that throws (a settings object over a store that failed). */
function throwingGetters(fields: readonly string[]): object {
  const options = {};
  for (const field of fields) {
    Object.defineProperty(options, field, {
      enumerable: true,
      get: () => {
        throw new Error('do not repeat me: sk_live_123456');
      },
    });
  }
  return options;
}

function revoked(): object {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
}

describe('options objects that cannot be read', () => {
  it.each(['maxQueueSize', 'name', 'retry', 'logger', 'queue', 'random'])('BatchProcessor names %s when its getter throws', (field) => {
    expectOptionError(thrownBy(() => new BatchProcessor(new MemoryExporter(), throwingGetters([field]))), field);
  });

  it('BatchProcessor names retry.maxBackoffMs when its getter throws, and refuses retry options that are not an object', () => {
    expectOptionError(thrownBy(() => new BatchProcessor(new MemoryExporter(), { retry: throwingGetters(['maxBackoffMs']) })), 'retry.maxBackoffMs');
    expectOptionError(thrownBy(() => new BatchProcessor(new MemoryExporter(), { retry: 5 as never })), 'retry');
  });

  it('BatchProcessor and SummarizingCollector refuse a revoked proxy as options, naming options', () => {
    expectOptionError(thrownBy(() => new BatchProcessor(new MemoryExporter(), revoked())), 'options');
    expectOptionError(thrownBy(() => new SummarizingCollector(new InnerCollector(), revoked())), 'options');
  });

  it.each(['intervalMs', 'maxKeys', 'distinctTargetingKeys', 'logger'])('SummarizingCollector names %s when its getter throws', (field) => {
    expectOptionError(thrownBy(() => new SummarizingCollector(new InnerCollector(), throwingGetters([field]))), field);
  });
});
