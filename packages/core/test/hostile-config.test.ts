import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { TrackpipeError, silentLogger } from '@trackpipe/core';
import { issuesOf, parseConfig, parseExporterOptions } from '@trackpipe/core/config';
import { createCollector } from '@trackpipe/core/di';
import { z } from 'zod';

// A configuration given as an object may hold class instances where plain data belongs (a pipeline
// built by a class with getters over a settings store). When reading one throws,
// the configuration still fails with TRACKPIPE_ERR_CONFIG_INVALID at the path of that object, and
// what the getter threw — which may quote a secret — is not repeated.

const SECRET = 'sk_live_9f8e7d6c5b4a39281706';

class PipelineSettings {
  get name(): string {
    throw new Error(`settings store refused token ${SECRET}`);
  }
  get exporters(): unknown[] {
    return [{ type: 'console' }];
  }
}

/** A settings object whose every field read throws (as a class instance with getters would). */
class Unreadable {
  get type(): string {
    throw new Error(`settings store refused token ${SECRET}`);
  }
  get maxBatchSize(): number {
    throw new Error(`settings store refused token ${SECRET}`);
  }
}

function thrown(build: () => unknown): TrackpipeError {
  try {
    build();
  } catch (error) {
    expect(error).toBeInstanceOf(TrackpipeError);
    return error as TrackpipeError;
  }
  throw new Error('expected a throw');
}

describe('a configuration object holding a class instance whose getter throws', () => {
  it.each([
    ['a pipeline that is a class instance with a throwing getter', { pipelines: [new PipelineSettings()] }, 'pipelines[0]'],
    ['an exporter entry that is a class instance with a throwing getter', { pipelines: [{ name: 'main', exporters: [new Unreadable()] }] }, 'pipelines[0].exporters[0]'],
    ['a batch section that is a class instance with a throwing getter', { pipelines: [{ name: 'main', batch: new Unreadable(), exporters: [{ type: 'console' }] }] }, 'pipelines[0].batch'],
  ])('fails with TRACKPIPE_ERR_CONFIG_INVALID naming the path of %s, without the secret it threw', (_, config, path) => {
    const error = thrown(() => parseConfig(config, { env: {} }));
    expect(error.code).toBe('TRACKPIPE_ERR_CONFIG_INVALID');
    expect(issuesOf(error).map((issue) => issue.path)).toEqual([path]);
    expect(inspect(error, { depth: 10 })).not.toContain(SECRET);
  });

  it('makes createCollector fail the same way, building nothing', async () => {
    const error: unknown = await createCollector({ pipelines: [new PipelineSettings()] } as never, { env: {}, logger: silentLogger }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TrackpipeError);
    expect((error as TrackpipeError).code).toBe('TRACKPIPE_ERR_CONFIG_INVALID');
    expect(issuesOf(error as TrackpipeError).map((issue) => issue.path)).toEqual(['pipelines[0]']);
    expect(inspect(error, { depth: 10 })).not.toContain(SECRET);
  });
});

describe('parseExporterOptions given options that cannot be read', () => {
  type Tree = { readonly [key: string]: Tree | string };
  const tree: z.ZodType<Tree> = z.lazy(() => z.record(z.string(), z.union([z.string(), tree])));
  const schema = z.object({ url: z.string(), attributes: tree.optional() });
  const path = 'pipelines[0].exporters[1]';

  const throwingGetter = (): unknown => ({
    get url(): string {
      throw new Error('secret-value-in-the-message');
    },
  });
  const revokedProxy = (): unknown => {
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    return proxy;
  };
  const deeplyNested = (): unknown => {
    let deep: Tree = { leaf: 'x' };
    for (let i = 0; i < 100_000; i++) deep = { a: deep };
    return { url: 'http://127.0.0.1/', attributes: deep };
  };

  it.each([
    ['a getter that throws', throwingGetter, 'a getter threw, or a proxy refused'],
    ['a revoked proxy', revokedProxy, 'a getter threw, or a proxy refused'],
    ['attributes nested 100 000 deep', deeplyNested, 'nested too deep'],
  ])('%s: TRACKPIPE_ERR_CONFIG_INVALID naming the path, never what was thrown', (_, make, why) => {
    let thrown: unknown;
    try {
      parseExporterOptions(schema, make(), { path });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TrackpipeError);
    expect((thrown as TrackpipeError).code).toBe('TRACKPIPE_ERR_CONFIG_INVALID');
    expect(issuesOf(thrown)).toEqual([{ path, message: `the options could not be read (${why})` }]);
    expect((thrown as Error).message).not.toContain('secret-value');
  });
});
