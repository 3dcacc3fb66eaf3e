import { afterAll, describe, expect, it } from 'vitest';
import {
  type Client,
  type EvaluationContext,
  type EvaluationDetails,
  type FlagValue,
  type HookContext,
  InMemoryProvider,
  type JsonValue,
  OpenFeature,
  type Provider,
  type ResolutionDetails,
} from '@openfeature/server-sdk';
import {
  BatchProcessor,
  FLAG_EVALUATION_EVENT,
  FLAG_EVALUATION_SUMMARY_EVENT,
  type FlagEvaluationEvent,
  type FlagEvaluationSummaryEvent,
  FunctionExporter,
  type Recorded,
  type TelemetryEvent,
  TrackpipeError,
  isFlagEvaluationSummary,
  silentLogger,
} from '@trackpipe/core';
import { SAMPLE_RATIO_ATTRIBUTE, TrackpipeHook, type TrackpipeHookOptions } from '@trackpipe/openfeature';
import { RecordingCollector, RecordingLogger } from './support/fakes.js';

// The hook's modes with the real OpenFeature SDK and a real BatchProcessor: every evaluation as an
// event, summaries only, or summaries plus a seeded sample of full events.

const FLAGS = {
  'new-checkout': {
    variants: { on: true, off: false },
    defaultVariant: 'off',
    disabled: false,
    contextEvaluator: (context: EvaluationContext) => (context.plan === 'pro' ? 'on' : 'off'),
  },
  theme: { variants: { light: { bg: '#fff' }, dark: { bg: '#000' } }, defaultVariant: 'dark', disabled: false },
};

/** A provider that reports the flag's version and flag set in its metadata, as flagd does. */
class VersionedProvider implements Provider {
  readonly metadata = { name: 'versioned' } as const;
  readonly runsOn = 'server';
  version = 3;
  resolveBooleanEvaluation(): Promise<ResolutionDetails<boolean>> {
    return Promise.resolve({ value: true, variant: 'on', reason: 'STATIC', flagMetadata: { version: this.version, flagSetId: 'team-a', owner: 'ada' } });
  }
  resolveStringEvaluation(_key: string, value: string): Promise<ResolutionDetails<string>> {
    return Promise.resolve({ value, reason: 'DEFAULT' });
  }
  resolveNumberEvaluation(_key: string, value: number): Promise<ResolutionDetails<number>> {
    return Promise.resolve({ value, reason: 'DEFAULT' });
  }
  resolveObjectEvaluation<T extends JsonValue>(_key: string, value: T): Promise<ResolutionDetails<T>> {
    return Promise.resolve({ value, reason: 'DEFAULT' });
  }
}

interface Pipeline {
  processor: BatchProcessor<TelemetryEvent>;
  exported: Recorded<TelemetryEvent>[];
  lines: string[];
}

function pipeline(): Pipeline {
  const exported: Recorded<TelemetryEvent>[] = [];
  const lines: string[] = [];
  const processor = new BatchProcessor<TelemetryEvent>(
    new FunctionExporter<Recorded<TelemetryEvent>>((events, { batch }) => {
      exported.push(...events);
      lines.push(...batch.encoded);
    }),
    { flushIntervalMs: 60_000, logger: silentLogger },
  );
  return { processor, exported, lines };
}

let domains = 0;
async function client(hook: TrackpipeHook, provider: Provider = new InMemoryProvider(FLAGS)): Promise<Client> {
  const domain = `trackpipe-modes-${++domains}`;
  await OpenFeature.setProviderAndWait(domain, provider);
  const c = OpenFeature.getClient(domain);
  c.addHooks(hook);
  return c;
}

function user(i: number): EvaluationContext {
  return { targetingKey: `user-${i}`, plan: i % 3 === 0 ? 'pro' : 'free', email: `user-${i}@example.com` };
}

const summariesOf = (events: readonly TelemetryEvent[]) => events.filter((e): e is FlagEvaluationSummaryEvent => isFlagEvaluationSummary(e));
const fullOf = (events: readonly TelemetryEvent[]) => events.filter((e): e is FlagEvaluationEvent => e.name === FLAG_EVALUATION_EVENT);

afterAll(async () => {
  await OpenFeature.close();
});

describe('mode "summaries"', () => {
  it('records one summary per flag, variant and value instead of one event per evaluation, and the counts add up', async () => {
    const { processor, exported } = pipeline();
    const hook = new TrackpipeHook(processor, { mode: 'summaries', logger: new RecordingLogger() });
    const flags = await client(hook);
    for (let i = 0; i < 300; i++) {
      await flags.getBooleanValue('new-checkout', false, user(i));
      await flags.getObjectValue('theme', {}, user(i));
    }
    await flags.getStringValue('retired-flag', 'fallback', user(1));
    const report = await hook.close();

    expect(report).toMatchObject({ complete: true, exported: 4, dropped: 0 });
    expect(fullOf(exported)).toEqual([]);
    const summaries = summariesOf(exported);
    const rows = summaries.map((s) => [
      s.attributes['feature_flag.key'],
      s.attributes['feature_flag.result.variant'],
      s.attributes['feature_flag.result.value'],
      s.attributes['feature_flag.result.reason'],
      s.attributes['error.type'],
      s.attributes['trackpipe.summary.count'],
    ]);
    expect(rows).toEqual([
      ['new-checkout', 'on', true, 'targeting_match', undefined, 100],
      ['theme', 'dark', { bg: '#000' }, 'static', undefined, 300],
      ['new-checkout', 'off', false, 'targeting_match', undefined, 200],
      ['retired-flag', undefined, 'fallback', 'error', 'flag_not_found', 1],
    ]);
    const distinct = summaries[0]!.attributes['trackpipe.summary.distinct_targeting_keys']!;
    expect(Math.abs(distinct - 100)).toBeLessThanOrEqual(10);
    expect(hook.stats()).toEqual({ evaluations: 601, recorded: 601, sampledOut: 0, failed: 0, fullEvents: 0 });
    expect(hook.summarizer?.stats()).toMatchObject({ recorded: 601, exported: 601, queued: 0 });
  });

  it('never exports a targeting key or a context attribute, whatever the targetingKey option', async () => {
    for (const targetingKey of ['copy', 'hash'] as const) {
      const { processor, lines } = pipeline();
      const hook = new TrackpipeHook(processor, { mode: 'summaries', targetingKey, contextAttributes: ['plan', 'email'] });
      const flags = await client(hook);
      for (let i = 0; i < 20; i++) await flags.getBooleanValue('new-checkout', false, user(i));
      await hook.close();
      const wire = lines.join('\n');
      expect(lines.length).toBeGreaterThan(0);
      expect(wire).not.toContain('user-');
      expect(wire).not.toContain('example.com');
      expect(wire).not.toContain('"pro"');
    }
  });

  it('keys summaries by the flag version and flag set from the provider\'s flag metadata', async () => {
    const { processor, exported } = pipeline();
    const hook = new TrackpipeHook(processor, { mode: 'summaries' });
    const provider = new VersionedProvider();
    const flags = await client(hook, provider);
    await flags.getBooleanValue('rollout', false);
    await flags.getBooleanValue('rollout', false);
    provider.version = 4;
    await flags.getBooleanValue('rollout', false);
    await hook.close();
    expect(summariesOf(exported).map((s) => [s.attributes['feature_flag.version'], s.attributes['feature_flag.set.id'], s.attributes['trackpipe.summary.count']])).toEqual([
      ['3', 'team-a', 2],
      ['4', 'team-a', 1],
    ]);
  });

  it('delivers the open window on hook.flush() and keeps counting after it', async () => {
    const { processor, exported } = pipeline();
    const hook = new TrackpipeHook(processor, { mode: 'summaries', summarizer: { intervalMs: 3_600_000 } });
    const flags = await client(hook);
    await flags.getBooleanValue('new-checkout', false, user(1));
    await hook.flush();
    expect(summariesOf(exported)).toHaveLength(1);
    await flags.getBooleanValue('new-checkout', false, user(1));
    await hook.close();
    expect(summariesOf(exported).map((s) => s.attributes['trackpipe.summary.count'])).toEqual([1, 1]);
  });

  it('passes the summarizer options through, and takes the hook\'s logger by default', async () => {
    const logger = new RecordingLogger();
    const hook = new TrackpipeHook(pipeline().processor, { mode: 'summaries', logger, summarizer: { intervalMs: 2_500, maxKeys: 7, distinctTargetingKeys: false } });
    expect(hook.summarizer?.options).toStrictEqual({ intervalMs: 2_500, maxKeys: 7, distinctTargetingKeys: false, logger });
    await hook.close();
  });
});

describe('mode { summaries: true, sample, seed }', () => {
  it('counts every evaluation in summaries and also records a seeded share as full events', async () => {
    const { processor, exported } = pipeline();
    const hook = new TrackpipeHook(processor, { mode: { summaries: true, sample: 0.1, seed: 42 }, targetingKey: 'hash', hashSalt: 's', contextAttributes: ['plan'] });
    const flags = await client(hook);
    for (let i = 0; i < 2_000; i++) await flags.getBooleanValue('new-checkout', false, user(i));
    await hook.close();

    const summaries = summariesOf(exported);
    expect(summaries.reduce((sum, s) => sum + s.attributes['trackpipe.summary.count'], 0)).toBe(2_000);
    const full = fullOf(exported);
    expect(full.length).toBeGreaterThan(140);
    expect(full.length).toBeLessThan(260);
    for (const event of full) {
      expect(event.attributes).toEqual({ [SAMPLE_RATIO_ATTRIBUTE]: 0.1 });
      expect(event.targetingKey).toMatch(/^[0-9a-f]{64}$/);
      expect(event.context).toHaveProperty('plan');
    }
    expect(hook.stats()).toEqual({ evaluations: 2_000, recorded: 2_000, sampledOut: 0, failed: 0, fullEvents: full.length });
  });

  it('picks the same evaluations for the same seed, and others for another seed', async () => {
    const sampled = async (seed: number): Promise<string[]> => {
      const { processor, exported } = pipeline();
      const hook = new TrackpipeHook(processor, { mode: { summaries: true, sample: 0.05, seed } });
      const flags = await client(hook);
      for (let i = 0; i < 400; i++) await flags.getBooleanValue('new-checkout', false, user(i));
      await hook.close();
      return fullOf(exported).map((e) => e.targetingKey ?? '');
    };
    const first = await sampled(7);
    expect(first.length).toBeGreaterThan(0);
    expect(await sampled(7)).toEqual(first);
    expect(await sampled(8)).not.toEqual(first);
  });

  it('with sample 0 records summaries only; with sample 1 also every evaluation in full', async () => {
    for (const sample of [0, 1]) {
      const { processor, exported } = pipeline();
      const hook = new TrackpipeHook(processor, { mode: { summaries: true, sample } });
      const flags = await client(hook);
      for (let i = 0; i < 30; i++) await flags.getBooleanValue('new-checkout', false, user(i));
      await hook.close();
      expect(fullOf(exported)).toHaveLength(sample * 30);
      expect(summariesOf(exported).reduce((sum, s) => sum + s.attributes['trackpipe.summary.count'], 0)).toBe(30);
    }
  });

  it('counts a failing random source as failed, never throws into the evaluation', async () => {
    const hook = new TrackpipeHook(pipeline().processor, {
      mode: { summaries: true, sample: 0.5 },
      random: () => {
        throw new Error('no entropy');
      },
      logger: new RecordingLogger(),
    });
    const flags = await client(hook);
    expect(await flags.getBooleanValue('new-checkout', false, { plan: 'pro' })).toBe(true);
    expect(hook.stats()).toEqual({ evaluations: 1, recorded: 0, sampledOut: 0, failed: 1, fullEvents: 0 });
    await hook.close();
  });
});

describe('mode "events" (the default)', () => {
  it('records every evaluation as a full event, with the flag version from the metadata, and no summarizer', async () => {
    const collector = new RecordingCollector();
    const hook = new TrackpipeHook(collector);
    const flags = await client(hook, new VersionedProvider());
    await flags.getBooleanValue('rollout', false);
    expect(hook.summarizer).toBeUndefined();
    expect(collector.events).toEqual([
      {
        name: FLAG_EVALUATION_EVENT,
        flagKey: 'rollout',
        value: true,
        variant: 'on',
        reason: 'STATIC',
        provider: 'versioned',
        attributes: { 'feature_flag.version': '3', 'feature_flag.set.id': 'team-a' },
      },
    ]);
    expect(hook.stats().fullEvents).toBe(1);
  });

  it('flush() and close() reach the collector, or answer an empty report for a record-only one', async () => {
    const calls: string[] = [];
    const collector = new RecordingCollector();
    collector.flush = () => {
      calls.push('flush');
      return Promise.resolve({ complete: true, exported: 0, dropped: 0, droppedByReason: {}, remaining: 0 });
    };
    const hook = new TrackpipeHook(collector);
    await hook.flush();
    expect(calls).toEqual(['flush']);
    const recordOnly = new TrackpipeHook({ record: () => undefined });
    expect(await recordOnly.close()).toEqual({ complete: true, exported: 0, dropped: 0, droppedByReason: {}, remaining: 0 });
  });

  it('flush() and close() reject, never throw, when reading the collector\'s method throws', async () => {
    const collector = { record: () => undefined };
    for (const method of ['flush', 'close']) {
      Object.defineProperty(collector, method, {
        get: () => {
          throw new Error(`${method} cannot be read`);
        },
      });
    }
    const hook = new TrackpipeHook(collector);
    let flushed: Promise<unknown> | undefined;
    let closed: Promise<unknown> | undefined;
    expect(() => (flushed = hook.flush())).not.toThrow();
    expect(() => (closed = hook.close())).not.toThrow();
    await expect(flushed).rejects.toThrow('flush cannot be read');
    await expect(closed).rejects.toThrow('close cannot be read');
  });
});

describe('mode options', () => {
  function thrown(options: TrackpipeHookOptions, collector: ConstructorParameters<typeof TrackpipeHook>[0] = new RecordingCollector()): TrackpipeError {
    try {
      new TrackpipeHook(collector, options);
    } catch (error) {
      if (error instanceof TrackpipeError) return error;
      throw error;
    }
    throw new Error('expected a TrackpipeError');
  }

  it.each<[string, TrackpipeHookOptions, string]>([
    ['an unknown mode', { mode: 'sampled' as unknown as 'events' }, 'mode'],
    ['summaries not true', { mode: { summaries: false as unknown as true, sample: 0.1 } }, 'mode.summaries'],
    ['sample above 1', { mode: { summaries: true, sample: 2 } }, 'mode.sample'],
    ['sample missing', { mode: { summaries: true } as unknown as { summaries: true; sample: number } }, 'mode.sample'],
    ['a fractional seed', { mode: { summaries: true, sample: 0.1, seed: 1.5 } }, 'mode.seed'],
    ['sampleRatio with summaries', { mode: 'summaries', sampleRatio: 0.5 }, 'sampleRatio'],
    ['summarizer not an object', { summarizer: 5 as unknown as object }, 'summarizer'],
    ['summarizer.intervalMs', { mode: 'summaries', summarizer: { intervalMs: -1 } }, 'summarizer.intervalMs'],
    ['summarizer.maxKeys', { summarizer: { maxKeys: 0 } }, 'summarizer.maxKeys'],
  ])('rejects %s with TRACKPIPE_ERR_OPTIONS_INVALID naming the option', (_label, options, option) => {
    const error = thrown(options);
    expect(error.code).toBe('TRACKPIPE_ERR_OPTIONS_INVALID');
    expect(error.details).toEqual({ option });
  });

  it('needs a whole Collector in the summary modes', () => {
    const error = thrown({ mode: 'summaries' }, { record: () => undefined });
    expect(error.details).toEqual({ option: 'collector' });
  });

  it('in the finally stage of a summary mode adds one record() to the summarizer and returns nothing', async () => {
    const collector = new RecordingCollector();
    const hook = new TrackpipeHook(collector, { mode: 'summaries' });
    const context = { flagKey: 'f', context: { targetingKey: 'u' }, providerMetadata: { name: 'p' } } as unknown as HookContext;
    const details: EvaluationDetails<FlagValue> = { flagKey: 'f', flagMetadata: {}, value: 1, variant: 'one', reason: 'STATIC' };
    expect(hook.finally(context, details)).toBeUndefined();
    expect(collector.events).toEqual([]);
    expect(hook.summarizer?.stats()).toMatchObject({ recorded: 1, queued: 1 });
    await hook.close();
    expect(collector.events).toHaveLength(1);
    expect(collector.events[0]).toMatchObject({ name: FLAG_EVALUATION_SUMMARY_EVENT, attributes: { 'feature_flag.key': 'f', 'trackpipe.summary.count': 1 } });
  });
});
