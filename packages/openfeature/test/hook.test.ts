import { createHash } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type Client,
  type EvaluationContext,
  type EvaluationDetails,
  type FlagValue,
  type Hook,
  InMemoryProvider,
  OpenFeature,
  type Provider,
} from '@openfeature/server-sdk';
import {
  BatchProcessor,
  FLAG_EVALUATION_EVENT,
  type FlagEvaluationEvent,
  FunctionExporter,
  type Recorded,
} from '@trackpipe/core';
import { SAMPLE_RATIO_ATTRIBUTE, TrackpipeHook, type TrackpipeHookOptions } from '@trackpipe/openfeature';
import { ErrorResultProvider, RecordingCollector, RecordingLogger, SdkLogger, ThrowingProvider } from './support/fakes.js';

const FLAGS = {
  'new-checkout': {
    variants: { on: true, off: false },
    defaultVariant: 'off',
    disabled: false,
    contextEvaluator: (context: EvaluationContext) => (context.plan === 'pro' ? 'on' : 'off'),
  },
  'banner-text': { variants: { hello: 'Hello', welcome: 'Welcome' }, defaultVariant: 'welcome', disabled: false },
  'max-items': { variants: { small: 10, large: 100 }, defaultVariant: 'large', disabled: false },
  theme: {
    variants: { dark: { background: '#000000', accents: ['#ff0000', '#00ff00'] } },
    defaultVariant: 'dark',
    disabled: false,
  },
};

/** An evaluation context full of personal data. */
function personalContext(): EvaluationContext {
  return {
    targetingKey: 'user-42',
    email: 'alice@example.com',
    name: 'Alice Example',
    age: 42,
    plan: 'pro',
    signedUpAt: new Date('2024-05-01T10:00:00Z'),
    address: { city: 'Berlin', street: 'Hauptstrasse 1', tags: ['home', new Date('2020-01-01T00:00:00Z')] },
  };
}

const PERSONAL_VALUES = ['alice@example.com', 'Alice Example', 'Berlin', 'Hauptstrasse', 'user-42'];

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

let domains = 0;

interface Setup {
  client: Client;
  collector: RecordingCollector;
  hook: TrackpipeHook;
  logger: RecordingLogger;
  sdkLogger: SdkLogger;
}

/** A client on its own domain with its own provider, the hook added, and loggers that keep their lines. */
async function setup(options: TrackpipeHookOptions = {}, provider: Provider = new InMemoryProvider(FLAGS)): Promise<Setup> {
  const domain = `trackpipe-test-${++domains}`;
  await OpenFeature.setProviderAndWait(domain, provider);
  const collector = new RecordingCollector();
  const logger = new RecordingLogger();
  const hook = new TrackpipeHook(collector, { logger, ...options });
  const sdkLogger = new SdkLogger();
  const client = OpenFeature.getClient(domain);
  client.setLogger(sdkLogger);
  client.addHooks(hook);
  return { client, collector, hook, logger, sdkLogger };
}

afterAll(async () => {
  await OpenFeature.close();
});

describe('recording evaluations with the real OpenFeature SDK', () => {
  it('records boolean, string, number and object evaluations with key, value, variant, reason, targeting key and provider', async () => {
    const { client, collector } = await setup();
    const context = personalContext();
    expect(await client.getBooleanValue('new-checkout', false, context)).toBe(true);
    expect(await client.getStringValue('banner-text', 'Hi', context)).toBe('Welcome');
    expect(await client.getNumberValue('max-items', 1, context)).toBe(100);
    expect(await client.getObjectValue('theme', {}, context)).toEqual(FLAGS.theme.variants.dark);

    expect(collector.events).toStrictEqual([
      {
        name: FLAG_EVALUATION_EVENT,
        flagKey: 'new-checkout',
        value: true,
        variant: 'on',
        reason: 'TARGETING_MATCH',
        targetingKey: 'user-42',
        provider: 'in-memory',
      },
      {
        name: FLAG_EVALUATION_EVENT,
        flagKey: 'banner-text',
        value: 'Welcome',
        variant: 'welcome',
        reason: 'STATIC',
        targetingKey: 'user-42',
        provider: 'in-memory',
      },
      {
        name: FLAG_EVALUATION_EVENT,
        flagKey: 'max-items',
        value: 100,
        variant: 'large',
        reason: 'STATIC',
        targetingKey: 'user-42',
        provider: 'in-memory',
      },
      {
        name: FLAG_EVALUATION_EVENT,
        flagKey: 'theme',
        value: { background: '#000000', accents: ['#ff0000', '#00ff00'] },
        variant: 'dark',
        reason: 'STATIC',
        targetingKey: 'user-42',
        provider: 'in-memory',
      },
    ]);
  });

  it('records no evaluation-context attribute by default, so no personal data beyond the targeting key', async () => {
    const { client, collector } = await setup();
    await client.getBooleanValue('new-checkout', false, personalContext());
    const [event] = collector.events;
    expect(event).toBeDefined();
    expect(event!.context).toBeUndefined();
    const text = JSON.stringify(collector.events);
    for (const value of ['alice@example.com', 'Alice Example', 'Berlin', 'Hauptstrasse']) expect(text).not.toContain(value);
  });

  it('reads the merged context: global, client and invocation attributes are all candidates', async () => {
    const { client, collector } = await setup({ contextAttributes: ['region', 'plan', 'requestPath'] });
    client.setContext({ region: 'eu-west' });
    await client.getBooleanValue('new-checkout', false, { targetingKey: 'user-7', plan: 'free', requestPath: '/cart' });
    expect(collector.events[0]).toMatchObject({
      value: false,
      targetingKey: 'user-7',
      context: { region: 'eu-west', plan: 'free', requestPath: '/cart' },
    });
  });

  it('reads the context as the provider saw it, including attributes added by before hooks', async () => {
    const { client, collector } = await setup({ contextAttributes: ['tenant'] });
    const addTenant: Hook = { before: () => ({ tenant: 'acme' }) };
    await client.getBooleanValue('new-checkout', false, { targetingKey: 'user-7' }, { hooks: [addTenant] });
    expect(collector.events[0]).toMatchObject({ context: { tenant: 'acme' } });
  });

  it('records only the evaluations of clients the hook was added to', async () => {
    const { client, collector } = await setup();
    const unhooked = OpenFeature.getClient(`trackpipe-test-${domains}`);
    await unhooked.getBooleanValue('new-checkout', false);
    expect(collector.events).toHaveLength(0);
    await client.getBooleanValue('new-checkout', false);
    expect(collector.events).toHaveLength(1);
  });
});

describe('context attributes: allow-list and hashing', () => {
  it('copies only allow-listed attributes, dates as ISO strings, nested objects included', async () => {
    const { client, collector } = await setup({ contextAttributes: ['plan', 'signedUpAt', 'address', 'notInContext'] });
    await client.getNumberValue('max-items', 1, personalContext());
    const event = collector.events[0]!;
    expect(event.context).toStrictEqual({
      plan: 'pro',
      signedUpAt: '2024-05-01T10:00:00.000Z',
      address: { city: 'Berlin', street: 'Hauptstrasse 1', tags: ['home', '2020-01-01T00:00:00.000Z'] },
    });
    expect(JSON.stringify(event)).not.toContain('alice@example.com');
    expect(JSON.stringify(event)).not.toContain('Alice Example');
  });

  it('records a copy of the attributes: changing the context object afterwards does not change the event', async () => {
    const { client, collector } = await setup({ contextAttributes: ['address'] });
    const context = personalContext();
    await client.getStringValue('banner-text', 'Hi', context);
    (context.address as { city: string }).city = 'Paris';
    expect(collector.events[0]!.context).toMatchObject({ address: { city: 'Berlin' } });
  });

  it('hashes listed attributes to the SHA-256 hex digest of salt + value', async () => {
    const { client, collector } = await setup({ hashAttributes: ['email', 'signedUpAt'], hashSalt: 'pepper' });
    await client.getBooleanValue('new-checkout', false, personalContext());
    expect(collector.events[0]!.context).toStrictEqual({
      email: sha256('pepperalice@example.com'),
      signedUpAt: sha256('pepper2024-05-01T10:00:00.000Z'),
    });
    expect(collector.events[0]!.context!.email).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(collector.events)).not.toContain('alice@example.com');
  });

  it('hashes without salt to the plain SHA-256 digest (known answer for "abc")', async () => {
    const { client, collector } = await setup({ hashAttributes: ['nickname'], targetingKey: 'hash' });
    await client.getBooleanValue('new-checkout', false, { targetingKey: 'abc', nickname: 'abc' });
    const digest = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';
    expect(collector.events[0]).toMatchObject({ targetingKey: digest, context: { nickname: digest } });
  });

  it('hashes non-string values as their JSON text', async () => {
    const { client, collector } = await setup({ hashAttributes: ['age', 'address'] });
    const context = personalContext();
    await client.getBooleanValue('new-checkout', false, context);
    expect(collector.events[0]!.context).toStrictEqual({
      age: sha256('42'),
      address: sha256(
        JSON.stringify({ city: 'Berlin', street: 'Hauptstrasse 1', tags: ['home', '2020-01-01T00:00:00.000Z'] }),
      ),
    });
  });

  it('hashes an attribute that is listed both to copy and to hash', async () => {
    const { client, collector } = await setup({ contextAttributes: ['email', 'plan'], hashAttributes: ['email'] });
    await client.getBooleanValue('new-checkout', false, personalContext());
    expect(collector.events[0]!.context).toStrictEqual({ email: sha256('alice@example.com'), plan: 'pro' });
  });

  it.each([
    ['copy', 'user-42'],
    ['hash', sha256('saltuser-42')],
    ['omit', undefined],
  ] as const)('targetingKey "%s" records the targeting key accordingly', async (mode, expected) => {
    const { client, collector } = await setup({ targetingKey: mode, hashSalt: 'salt' });
    await client.getBooleanValue('new-checkout', false, personalContext());
    expect(collector.events).toHaveLength(1);
    expect(collector.events[0]!.targetingKey).toBe(expected);
    if (mode !== 'copy') expect(JSON.stringify(collector.events)).not.toContain('user-42');
  });

  it('records no targeting key when the context has none', async () => {
    const { client, collector } = await setup();
    await client.getBooleanValue('new-checkout', false, { plan: 'pro' });
    expect(collector.events[0]).not.toHaveProperty('targetingKey');
  });
});

describe('sampling', () => {
  it('records only evaluations whose random draw is below sampleRatio, and marks them with the ratio', async () => {
    const draws = [0.1, 0.5, 0.9, 0.49];
    const { client, collector, hook } = await setup({ sampleRatio: 0.5, random: () => draws.shift() ?? 0.99 });
    for (const key of ['new-checkout', 'banner-text', 'max-items', 'theme']) {
      await client.getObjectDetails(key, {});
    }
    expect(collector.events.map((e) => e.flagKey)).toEqual(['new-checkout', 'theme']);
    for (const event of collector.events) expect(event.attributes).toStrictEqual({ [SAMPLE_RATIO_ATTRIBUTE]: 0.5 });
    expect(hook.stats()).toEqual({ evaluations: 4, recorded: 2, sampledOut: 2, failed: 0, fullEvents: 2 });
  });

  it('records nothing with sampleRatio 0', async () => {
    const { client, collector, hook } = await setup({ sampleRatio: 0, random: () => 0 });
    await client.getBooleanValue('new-checkout', false);
    await client.getBooleanValue('new-checkout', false);
    expect(collector.events).toHaveLength(0);
    expect(hook.stats()).toEqual({ evaluations: 2, recorded: 0, sampledOut: 2, failed: 0, fullEvents: 0 });
  });

  it('records everything with the default ratio 1, without drawing a random number or adding attributes', async () => {
    let drawn = 0;
    const { client, collector } = await setup({
      random: () => {
        drawn++;
        return 0.999;
      },
    });
    await client.getBooleanValue('new-checkout', false);
    await client.getStringValue('banner-text', 'Hi');
    expect(collector.events).toHaveLength(2);
    expect(drawn).toBe(0);
    for (const event of collector.events) expect(event).not.toHaveProperty('attributes');
  });
});

type Evaluate = (client: Client) => Promise<EvaluationDetails<FlagValue>>;

interface Scenario {
  name: string;
  provider: () => Provider;
  evaluate: Evaluate;
  expected: Partial<FlagEvaluationEvent>;
}

const scenarios: Scenario[] = [
  {
    name: 'success',
    provider: () => new InMemoryProvider(FLAGS),
    evaluate: (client) => client.getStringDetails('banner-text', 'Hi', { targetingKey: 'u1' }),
    expected: { flagKey: 'banner-text', value: 'Welcome', variant: 'welcome', reason: 'STATIC', provider: 'in-memory' },
  },
  {
    name: 'provider returns an error result (FLAG_NOT_FOUND) without throwing',
    provider: () => new ErrorResultProvider(),
    evaluate: (client) => client.getBooleanDetails('missing-flag', true, { targetingKey: 'u1' }),
    expected: { flagKey: 'missing-flag', value: true, reason: 'ERROR', errorCode: 'FLAG_NOT_FOUND', provider: 'error-result' },
  },
  {
    name: 'provider throws FLAG_NOT_FOUND (in-memory, unknown flag)',
    provider: () => new InMemoryProvider(FLAGS),
    evaluate: (client) => client.getNumberDetails('no-such-flag', 7, { targetingKey: 'u1' }),
    expected: { flagKey: 'no-such-flag', value: 7, reason: 'ERROR', errorCode: 'FLAG_NOT_FOUND', provider: 'in-memory' },
  },
  {
    name: 'provider throws a plain error',
    provider: () => new ThrowingProvider(),
    evaluate: (client) => client.getObjectDetails('any-flag', { fallback: true }, { targetingKey: 'u1' }),
    expected: { flagKey: 'any-flag', value: { fallback: true }, reason: 'ERROR', errorCode: 'GENERAL', provider: 'throwing' },
  },
  {
    name: 'type mismatch (a boolean flag read as a string)',
    provider: () => new InMemoryProvider(FLAGS),
    evaluate: (client) => client.getStringDetails('new-checkout', 'fallback', { targetingKey: 'u1' }),
    expected: { flagKey: 'new-checkout', value: 'fallback', reason: 'ERROR', errorCode: 'TYPE_MISMATCH', provider: 'in-memory' },
  },
];

describe('exactly one event per evaluation', () => {
  it.each(scenarios)('$name: one event per evaluation, matching what the application got', async ({ provider, evaluate, expected }) => {
    const { client, collector, hook, sdkLogger } = await setup({}, provider());
    const first = await evaluate(client);
    expect(collector.events).toHaveLength(1);
    const event = collector.events[0]!;
    expect(event).toMatchObject({ name: FLAG_EVALUATION_EVENT, targetingKey: 'u1', ...expected });
    // The event says what the application received.
    expect(event.value).toEqual(first.value);
    expect(event.reason).toBe(first.reason);
    expect(event.errorCode).toBe(first.errorCode);
    if (expected.errorCode === undefined) expect(event).not.toHaveProperty('errorCode');

    // Concurrent evaluations: still exactly one each.
    await Promise.all(Array.from({ length: 9 }, () => evaluate(client)));
    expect(collector.events).toHaveLength(10);
    expect(collector.events.every((e) => e.flagKey === expected.flagKey && e.errorCode === expected.errorCode)).toBe(true);
    expect(hook.stats()).toEqual({ evaluations: 10, recorded: 10, sampledOut: 0, failed: 0, fullEvents: 10 });
    expect(sdkLogger.lines.filter((line) => line.includes('hook'))).toEqual([]);
  });

  it('records one event, with the error the application got, when another hook\'s after stage throws', async () => {
    const { client, collector } = await setup();
    const failingAfter: Hook = {
      after: () => {
        throw new Error('after failed');
      },
    };
    const details = await client.getBooleanDetails('new-checkout', false, { plan: 'pro' }, { hooks: [failingAfter] });
    expect(details).toMatchObject({ value: false, reason: 'ERROR', errorCode: 'GENERAL' });
    expect(collector.events).toHaveLength(1);
    expect(collector.events[0]).toMatchObject({ flagKey: 'new-checkout', value: false, reason: 'ERROR', errorCode: 'GENERAL' });
  });

  it('records one event when a before hook throws and the provider is never asked', async () => {
    const { client, collector } = await setup();
    const failingBefore: Hook = {
      before: () => {
        throw new Error('before failed');
      },
    };
    await client.getNumberValue('max-items', 3, {}, { hooks: [failingBefore] });
    expect(collector.events).toHaveLength(1);
    expect(collector.events[0]).toMatchObject({ flagKey: 'max-items', value: 3, reason: 'ERROR', errorCode: 'GENERAL' });
  });
});

describe('never throws into the evaluation', () => {
  it('returns the flag value, counts the failure and warns once when the collector\'s record() throws', async () => {
    const { client, collector, hook, logger, sdkLogger } = await setup();
    collector.throwOnRecord = new Error('collector exploded');
    expect(await client.getBooleanValue('new-checkout', false, { plan: 'pro' })).toBe(true);
    expect(await client.getStringValue('banner-text', 'Hi')).toBe('Welcome');
    expect(await client.getNumberValue('max-items', 1)).toBe(100);
    expect(hook.stats()).toEqual({ evaluations: 3, recorded: 0, sampledOut: 0, failed: 3, fullEvents: 0 });
    // Our hook swallowed it: the SDK never saw a failing hook.
    expect(sdkLogger.lines).toEqual([]);
    expect(logger.warnings).toHaveLength(1);
    expect(logger.warnings[0]!.fields).toMatchObject({ error: 'collector exploded', failed: 1 });

    collector.throwOnRecord = undefined;
    await client.getBooleanValue('new-checkout', false);
    expect(collector.events).toHaveLength(1);
    expect(hook.stats()).toEqual({ evaluations: 4, recorded: 1, sampledOut: 0, failed: 3, fullEvents: 1 });
  });

  it('survives a throwing random source and a throwing logger', async () => {
    const { client, hook } = await setup({
      sampleRatio: 0.5,
      random: () => {
        throw new Error('no entropy');
      },
      logger: {
        warn: () => {
          throw new Error('logger broken');
        },
        error: () => {
          throw new Error('logger broken');
        },
      },
    });
    expect(await client.getBooleanValue('new-checkout', false, { plan: 'pro' })).toBe(true);
    expect(hook.stats()).toEqual({ evaluations: 1, recorded: 0, sampledOut: 0, failed: 1, fullEvents: 0 });
  });
});

describe('with a core BatchProcessor', () => {
  it('delivers the events through a FunctionExporter with ids, timestamps, and no personal data by default', async () => {
    const batches: (readonly string[])[] = [];
    const processor = new BatchProcessor<FlagEvaluationEvent>(
      new FunctionExporter<Recorded<FlagEvaluationEvent>>((_events, { batch }) => {
        batches.push(batch.encoded);
      }),
      { flushIntervalMs: 60_000 },
    );
    const domain = 'trackpipe-batch';
    await OpenFeature.setProviderAndWait(domain, new InMemoryProvider(FLAGS));
    const client = OpenFeature.getClient(domain);
    client.addHooks(new TrackpipeHook(processor, { contextAttributes: ['plan'], targetingKey: 'hash' }));

    await client.getBooleanValue('new-checkout', false, personalContext());
    await client.getStringValue('no-such-flag', 'x', personalContext());
    const report = await processor.close();

    expect(report).toMatchObject({ complete: true, exported: 2, dropped: 0 });
    const lines = batches.flat();
    expect(lines).toHaveLength(2);
    const events = lines.map((line) => JSON.parse(line) as Recorded<FlagEvaluationEvent>);
    expect(events[0]).toMatchObject({
      name: FLAG_EVALUATION_EVENT,
      flagKey: 'new-checkout',
      value: true,
      reason: 'TARGETING_MATCH',
      targetingKey: sha256('user-42'),
      context: { plan: 'pro' },
    });
    expect(events[1]).toMatchObject({ flagKey: 'no-such-flag', value: 'x', reason: 'ERROR', errorCode: 'FLAG_NOT_FOUND' });
    for (const event of events) {
      expect(typeof event.id).toBe('string');
      expect(typeof event.timestamp).toBe('number');
    }
    const text = lines.join('\n');
    for (const value of PERSONAL_VALUES) expect(text).not.toContain(value);
  });
});
