// Hostile evaluations: whatever a provider, an application's context or a caller hands the hook, it
// never throws into the evaluation, records the evaluation (leaving out only what cannot be read),
// and loses no other evaluation.
import { createHash } from 'node:crypto';
import { type EvaluationDetails, type FlagValue, type HookContext, InMemoryProvider, OpenFeature } from '@openfeature/server-sdk';
import { BatchProcessor, type FlagEvaluationEvent, FunctionExporter, type Recorded, type TelemetryEvent, silentLogger } from '@trackpipe/core';
import { type HookMode, TrackpipeHook } from '@trackpipe/openfeature';
import { afterAll, describe, expect, it } from 'vitest';
import { RecordingCollector } from './support/fakes.js';

function hookContext(context: object = {}, providerMetadata: unknown = { name: 'test' }): HookContext {
  return { flagKey: 'flag', defaultValue: false, flagValueType: 'boolean', context, clientMetadata: {}, providerMetadata } as unknown as HookContext;
}

function details(extra: Record<string, unknown> = {}): EvaluationDetails<FlagValue> {
  return { flagKey: 'flag', flagMetadata: {}, value: true, variant: 'on', reason: 'STATIC', ...extra };
}

const throwingGetter = (key: string): object =>
  Object.defineProperty({}, key, {
    enumerable: true,
    get() {
      throw new Error('getter');
    },
  });

function cycle(): Record<string, unknown> {
  const o: Record<string, unknown> = { a: 1 };
  o.self = o;
  o.list = [o, 2];
  return o;
}

function nested(levels: number): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  let at = root;
  for (let i = 0; i < levels; i++) at = at.n = {};
  return root;
}

function revoked(): object {
  const { proxy, revoke } = Proxy.revocable({ a: 1 }, {});
  revoke();
  return proxy;
}

function only(collector: RecordingCollector): FlagEvaluationEvent {
  expect(collector.events).toHaveLength(1);
  return collector.events[0]!;
}

describe('hostile flag metadata and provider metadata', () => {
  it.each<[string, unknown]>([
    ['a version getter that throws', throwingGetter('version')],
    ['a version whose toString throws', { version: { toString: () => { throw new Error('toString'); } } }],
    ['a symbol version', { version: Symbol('v') }],
    ['an object version', { version: { major: 1 } }],
    ['null metadata', null],
    ['a string as metadata', 'v1'],
  ])('records the evaluation without a version when the flag metadata holds %s', (_what, flagMetadata) => {
    const collector = new RecordingCollector();
    const hook = new TrackpipeHook(collector, { logger: silentLogger });
    expect(hook.finally(hookContext(), details({ flagMetadata }))).toBeUndefined();
    const event = only(collector);
    expect(event).toMatchObject({ flagKey: 'flag', value: true, variant: 'on', provider: 'test' });
    expect(event.attributes).toBeUndefined();
    expect(hook.stats()).toEqual({ evaluations: 1, recorded: 1, sampledOut: 0, failed: 0, fullEvents: 1 });
  });

  it('keeps the flag set id when only the version cannot be read', () => {
    const collector = new RecordingCollector();
    const hook = new TrackpipeHook(collector, { logger: silentLogger });
    hook.finally(hookContext(), details({ flagMetadata: Object.assign(throwingGetter('version'), { flagSetId: 'checkout' }) }));
    expect(only(collector).attributes).toEqual({ 'feature_flag.set.id': 'checkout' });
  });

  it.each<[string, unknown]>([
    ['a name getter that throws', throwingGetter('name')],
    ['null provider metadata', null],
    ['a name that is not a string', { name: 42 }],
  ])('records the evaluation without a provider when the provider metadata has %s', (_what, providerMetadata) => {
    const collector = new RecordingCollector();
    const hook = new TrackpipeHook(collector, { logger: silentLogger });
    hook.finally(hookContext({ targetingKey: 'u-1' }, providerMetadata), details());
    const event = only(collector);
    expect(event).toMatchObject({ flagKey: 'flag', value: true, targetingKey: 'u-1' });
    expect(event.provider).toBeUndefined();
  });
});

describe('hostile evaluation contexts', () => {
  it('copies an attribute holding a cycle, a throwing getter, a revoked proxy or 10 000 levels of nesting, with null where it cannot be copied', () => {
    const collector = new RecordingCollector();
    const hook = new TrackpipeHook(collector, { logger: silentLogger, contextAttributes: ['cyclic', 'getter', 'proxy', 'deep', 'plan'] });
    hook.finally(hookContext({ cyclic: cycle(), getter: { ok: 1, ...{}, bad: undefined, nested: throwingGetter('x') }, proxy: revoked(), deep: nested(10_000), plan: 'pro' }), details());
    const context = only(collector).context!;
    expect(context.cyclic).toEqual({ a: 1, self: null, list: [null, 2] });
    expect(context.getter).toEqual({ ok: 1, nested: { x: null } });
    expect(context.proxy).toBeNull();
    expect(context.plan).toBe('pro');
    // 64 levels are copied, deeper ones are null; the event still encodes.
    let depth = 0;
    for (let at = context.deep as Record<string, unknown> | null; at !== null && typeof at === 'object'; at = at.n as Record<string, unknown> | null) depth++;
    expect(depth).toBe(64);
    expect(() => JSON.stringify(only(collector))).not.toThrow();
    expect(hook.stats().failed).toBe(0);
  });

  it('records as null a list or object that would take an attribute past 10 000 items in all (a sparse array of length 2^32 - 1 is not walked), and the rest of the event', () => {
    const collector = new RecordingCollector();
    const hook = new TrackpipeHook(collector, { logger: silentLogger, contextAttributes: ['sparse', 'full', 'over', 'wide', 'plan'], hashAttributes: ['hashed'] });
    const sparse: unknown[] = [];
    sparse.length = 2 ** 32 - 1;
    const wide = Object.fromEntries(Array.from({ length: 10_001 }, (_, i) => [`k${i}`, i]));
    // 100 lists of 100: the first 99 fit with their parent (100 + 99 * 100 = 10 000), the last does not.
    const over = Array.from({ length: 100 }, () => Array.from({ length: 100 }, (_, i) => i));
    const full = Array.from({ length: 10_000 }, (_, i) => i);
    hook.finally(hookContext({ sparse, full, over, wide, plan: 'pro', hashed: sparse }), details());
    const context = only(collector).context!;
    expect(context.sparse).toBeNull();
    expect(context.full).toEqual(full);
    expect((context.over as unknown[]).slice(0, 99)).toEqual(over.slice(0, 99));
    expect((context.over as unknown[])[99]).toBeNull();
    expect(context.wide).toBeNull();
    expect(context.plan).toBe('pro');
    expect(typeof context.hashed).toBe('string');
    expect(hook.stats().failed).toBe(0);
  });

  it('records a top-level attribute whose getter throws as null, and the rest of the event', () => {
    const collector = new RecordingCollector();
    const hook = new TrackpipeHook(collector, { logger: silentLogger, contextAttributes: ['plan', 'email'], targetingKey: 'copy' });
    hook.finally(hookContext(Object.assign(throwingGetter('email'), { plan: 'pro', targetingKey: 'u-1' })), details());
    expect(only(collector)).toMatchObject({ targetingKey: 'u-1', context: { plan: 'pro', email: null } });
  });

  it('records the evaluation without a targeting key when reading it throws or it is no string', () => {
    const collector = new RecordingCollector();
    const hook = new TrackpipeHook(collector, { logger: silentLogger, targetingKey: 'hash' });
    hook.finally(hookContext(throwingGetter('targetingKey')), details());
    hook.finally(hookContext({ targetingKey: 42 }), details());
    hook.finally(hookContext({ targetingKey: { id: 'u-1' } }), details());
    expect(collector.events).toHaveLength(3);
    for (const event of collector.events) expect(event.targetingKey).toBeUndefined();
  });

  it('hashes an attribute holding a cycle to the digest of its JSON with null in place of the cycle', () => {
    const collector = new RecordingCollector();
    const hook = new TrackpipeHook(collector, { logger: silentLogger, hashAttributes: ['profile'], hashSalt: 's' });
    hook.finally(hookContext({ profile: cycle() }), details());
    const digest = createHash('sha256').update('s').update(JSON.stringify({ a: 1, self: null, list: [null, 2] })).digest('hex');
    expect(only(collector).context).toEqual({ profile: digest });
  });

  it('records an own "__proto__" attribute as an ordinary key (copied and hashed), and inherited names such as toString as absent', () => {
    const collector = new RecordingCollector();
    const hook = new TrackpipeHook(collector, { logger: silentLogger, contextAttributes: ['__proto__', 'toString', 'constructor', 'plan'], hashAttributes: ['hasOwnProperty'] });
    const context = JSON.parse('{"__proto__": {"admin": true, "__proto__": {"deep": 1}}, "plan": "pro"}') as object;
    hook.finally(hookContext(context), details());
    const recorded = only(collector).context!;
    expect(Object.keys(recorded).sort()).toEqual(['__proto__', 'plan']);
    expect(Object.getPrototypeOf(recorded)).toBe(Object.prototype);
    expect(JSON.parse(JSON.stringify(recorded)) as unknown).toEqual(JSON.parse('{"__proto__": {"admin": true, "__proto__": {"deep": 1}}, "plan": "pro"}'));
    expect(({} as Record<string, unknown>).admin).toBeUndefined();

    // Without the attribute in the context, nothing is recorded, not Object.prototype's members.
    const bare = new RecordingCollector();
    new TrackpipeHook(bare, { logger: silentLogger, contextAttributes: ['toString', 'constructor', '__proto__'], hashAttributes: ['valueOf'] }).finally(hookContext({}), details());
    expect(only(bare).context).toBeUndefined();
  });
});

interface Pipeline {
  processor: BatchProcessor<TelemetryEvent>;
  exported: Recorded<TelemetryEvent>[];
}

function pipeline(): Pipeline {
  const exported: Recorded<TelemetryEvent>[] = [];
  const processor = new BatchProcessor<TelemetryEvent>(new FunctionExporter<Recorded<TelemetryEvent>>((events) => void exported.push(...events)), {
    flushIntervalMs: 60_000,
    logger: silentLogger,
  });
  return { processor, exported };
}

const HOSTILE: [string, object, Record<string, unknown>, unknown][] = [
  ['value undefined', {}, { value: undefined }, { name: 'p' }],
  ['value symbol', {}, { value: Symbol('s') }, { name: 'p' }],
  ['value BigInt', {}, { value: 10n }, { name: 'p' }],
  ['a cyclic value', {}, { value: cycle() }, { name: 'p' }],
  ['a 5 MB string value', {}, { value: 'x'.repeat(5_000_000) }, { name: 'p' }],
  ['a flag key that is a number', {}, { flagKey: 42 }, { name: 'p' }],
  ['metadata with a throwing getter', {}, { flagMetadata: throwingGetter('version') }, { name: 'p' }],
  ['a cyclic context attribute', { targetingKey: 'u', plan: cycle() }, {}, { name: 'p' }],
  ['a context attribute with a throwing getter', Object.assign(throwingGetter('plan'), { targetingKey: 'u' }), {}, { name: 'p' }],
  ['a revoked proxy attribute', { plan: revoked() }, {}, { name: 'p' }],
  ['a targeting key getter that throws', throwingGetter('targetingKey'), {}, { name: 'p' }],
  ['provider metadata whose name throws', {}, {}, throwingGetter('name')],
];

describe.each<[string, HookMode]>([
  ['events', 'events'],
  ['summaries', 'summaries'],
  ['sampled summaries', { summaries: true, sample: 1, seed: 3 }],
])('every hostile evaluation in mode %s', (_label, mode) => {
  it('is taken without throwing, counted as recorded, and the evaluations around it are delivered', async () => {
    const { processor, exported } = pipeline();
    const hook = new TrackpipeHook(processor, { mode, logger: silentLogger, contextAttributes: ['plan'], targetingKey: 'hash' });
    for (const [i, [, context, extra, provider]] of HOSTILE.entries()) {
      hook.finally(hookContext({ targetingKey: `before-${i}` }), details({ flagKey: `ok-${i}` }));
      expect(() => hook.finally(hookContext(context, provider), details(extra))).not.toThrow();
    }
    const stats = hook.stats();
    expect(stats).toMatchObject({ evaluations: 2 * HOSTILE.length, recorded: 2 * HOSTILE.length, failed: 0, sampledOut: 0 });
    await hook.close();
    const keys = exported.map((e) =>
      e.name === 'feature_flag.evaluation' ? (e as FlagEvaluationEvent).flagKey : (e.attributes?.['feature_flag.key'] as string | undefined),
    );
    for (let i = 0; i < HOSTILE.length; i++) expect(keys).toContain(`ok-${i}`);
    // Nothing vanished: what the pipeline could not encode is counted with its reason.
    const p = processor.stats();
    expect(p.recorded).toBe(p.exported + p.dropped);
    if (hook.summarizer !== undefined) {
      const s = hook.summarizer.stats();
      expect(s.recorded).toBe(2 * HOSTILE.length);
      expect(s.recorded).toBe(s.exported + s.dropped + s.queued);
    }
  });
});

describe('hostile evaluations through the OpenFeature SDK', () => {
  afterAll(async () => {
    await OpenFeature.close();
  });

  it('records an evaluation whose invocation context holds a cycle and a throwing getter, and returns the flag value', async () => {
    const collector = new RecordingCollector();
    const hook = new TrackpipeHook(collector, { logger: silentLogger, contextAttributes: ['profile'] });
    await OpenFeature.setProviderAndWait('trackpipe-hostile', new InMemoryProvider({ f: { variants: { on: true }, defaultVariant: 'on', disabled: false } }));
    const client = OpenFeature.getClient('trackpipe-hostile');
    client.addHooks(hook);
    const profile = Object.assign(cycle(), { secret: throwingGetter('x') });
    expect(await client.getBooleanValue('f', false, { targetingKey: 'u-1', profile: profile as never })).toBe(true);
    expect(only(collector)).toMatchObject({ flagKey: 'f', value: true, targetingKey: 'u-1', context: { profile: { a: 1, self: null, list: [null, 2], secret: { x: null } } } });
  });
});
