import 'reflect-metadata';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Container, ContainerModule, decorate, inject, injectable } from 'inversify';
import { Registry, register as globalRegistry } from 'prom-client';
import * as z from 'zod';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ExportBatch,
  type ExportResult,
  ExportResults,
  type Exporter,
  type Logger,
  type Recorded,
  type TelemetryEvent,
  TrackpipeError,
  consoleLogger,
  silentLogger,
} from '@trackpipe/core';
import { issuesOf } from '@trackpipe/core/config';
import { type ExporterContext, type ExporterFactory, TOKENS, coreModule, createCollector, exporterModule, validateConfig } from '@trackpipe/core/di';
import { METRICS } from '@trackpipe/core/metrics';
import { parseExposition, samples, valueOf } from '@trackpipe/core/testing';

type Event = Recorded<TelemetryEvent>;

// ---- a third-party exporter package, as it would be written outside this repository -----------

/** Where the "list" exporter delivers: a token of the third party's own. */
const LIST_SINK = Symbol('third-party:ListSink');

class ListExporter implements Exporter<Event> {
  shutdowns = 0;
  constructor(
    readonly name: string,
    private readonly sink: Event[],
    private readonly capacity: number,
  ) {}

  async export(batch: ExportBatch<Event>): Promise<ExportResult> {
    if (this.sink.length + batch.events.length > this.capacity) return ExportResults.reject({ error: new Error('list is full') });
    this.sink.push(...batch.events);
    return ExportResults.ok();
  }

  async shutdown(): Promise<void> {
    this.shutdowns++;
  }
}

const listOptions = z.strictObject({ capacity: z.number().int().min(1).default(1_000) });

/**
 * A class the container constructs: every constructor parameter names its token with inject(), so
 * no emitted decorator metadata is needed. decorate() applies the decorators without decorator
 * syntax; examples/custom-exporter writes the same with @injectable() and @inject() (which need
 * `experimentalDecorators`, set in tsconfig.base.json).
 */
class ListExporterFactory implements ExporterFactory<z.output<typeof listOptions>> {
  readonly type = 'list';
  readonly options = listOptions;
  readonly contexts: ExporterContext[] = [];
  readonly built: ListExporter[] = [];

  constructor(
    readonly logger: Logger,
    private readonly sink: Event[],
  ) {}

  create({ capacity }: z.output<typeof listOptions>, context: ExporterContext): Exporter<Event> {
    this.contexts.push(context);
    const exporter = new ListExporter(context.name, this.sink, capacity);
    this.built.push(exporter);
    return exporter;
  }
}

decorate(injectable(), ListExporterFactory);
decorate(inject(TOKENS.Logger), ListExporterFactory, 0);
decorate(inject(LIST_SINK), ListExporterFactory, 1);

function listModule(sink: Event[]): { module: ContainerModule; factory: () => ListExporterFactory } {
  let instance: ListExporterFactory | undefined;
  const module = new ContainerModule(({ bind }) => {
    bind<Event[]>(LIST_SINK).toConstantValue(sink);
    bind<ExporterFactory>(TOKENS.ExporterFactory)
      .to(ListExporterFactory)
      .inSingletonScope()
      .onActivation((_context, factory) => (instance = factory as unknown as ListExporterFactory));
  });
  return { module, factory: () => instance! };
}

// -------------------------------------------------------------------------------------------------

const events = (n: number): TelemetryEvent[] => Array.from({ length: n }, (_, i) => ({ name: 'signup', attributes: { i } }));

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trackpipe-di-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('coreModule', () => {
  it('binds the built-in exporter factories and default Logger and MetricsRegistry', async () => {
    const container = new Container();
    await container.loadAsync(coreModule);
    expect(container.getAll<ExporterFactory>(TOKENS.ExporterFactory).map((f) => f.type)).toEqual(['console', 'file', 'function']);
    expect(container.get(TOKENS.Logger)).toBe(consoleLogger);
    const registry = container.get<Registry>(TOKENS.MetricsRegistry);
    expect(registry).toBeInstanceOf(Registry);
    expect(registry).not.toBe(globalRegistry);
    expect(container.get(TOKENS.MetricsRegistry)).toBe(registry);
  });

  it('keeps a Logger or MetricsRegistry bound before it, and picks the global registry when the config asks', async () => {
    const container = new Container();
    container.bind<Logger>(TOKENS.Logger).toConstantValue(silentLogger);
    container.bind(TOKENS.Config).toConstantValue({ metrics: { global: true } });
    await container.loadAsync(coreModule);
    expect(container.get(TOKENS.Logger)).toBe(silentLogger);
    expect(container.get(TOKENS.MetricsRegistry)).toBe(globalRegistry);
  });
});

describe('createCollector', () => {
  it('builds a third-party exporter type from a module and uses it from config', async () => {
    const sink: Event[] = [];
    const list = listModule(sink);
    const logger: Logger = { warn: () => undefined, error: () => undefined };
    const tp = await createCollector(
      { pipelines: [{ name: 'audit', exporters: [{ type: 'list', name: 'ledger', capacity: 50 }] }] },
      { modules: [list.module], logger },
    );
    for (const event of events(20)) tp.record(event);
    const report = await tp.flush();
    expect(report).toMatchObject({ complete: true, exported: 20, dropped: 0 });
    expect(sink.map((e) => e.attributes?.i)).toEqual([...Array(20).keys()]);
    const factory = list.factory();
    expect(factory.logger).toBe(logger); // resolved through @inject(TOKENS.Logger)
    expect(factory.contexts).toEqual([{ path: 'pipelines[0].exporters[0]', pipeline: 'audit', logger, name: 'ledger' }]);
    expect(tp.pipelines.get('audit')!.exporters.get('ledger')!.exporter.name).toBe('ledger');
    await tp.close();
    expect(factory.built[0]!.shutdowns).toBe(1);
  });

  it('lists the known types, third-party ones included, when a type is unknown', async () => {
    const list = listModule([]);
    const error = await createCollector(
      { pipelines: [{ exporters: [{ type: 'list' }, { type: 'kafak' }] }, { name: 'b', exporters: [{ type: 'htp' }] }] },
      { modules: [list.module], logger: silentLogger },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrackpipeError);
    expect(issuesOf(error)).toEqual([
      { path: 'pipelines[0].exporters[1].type', message: 'unknown exporter type (known: console, file, function, list)' },
      { path: 'pipelines[1].exporters[0].type', message: 'unknown exporter type (known: console, file, function, list)' },
    ]);
    expect(list.factory().built).toEqual([]); // no exporter is built for a config that fails
  });

  it('reports options a factory schema refuses under the exporter path, and builds nothing', async () => {
    const list = listModule([]);
    const error = await createCollector(
      {
        pipelines: [
          {
            exporters: [
              { type: 'list', name: 'ok' },
              { type: 'list', name: 'bad', capacity: 0, colour: 'red' },
              { type: 'file' },
            ],
          },
        ],
      },
      { modules: [list.module], logger: silentLogger },
    ).catch((e: unknown) => e);
    expect(issuesOf(error)).toEqual([
      { path: 'pipelines[0].exporters[1].capacity', message: 'must be >= 1' },
      { path: 'pipelines[0].exporters[1].colour', message: 'unknown key' },
      { path: 'pipelines[0].exporters[2].path', message: 'is required' },
    ]);
    expect(list.factory()?.built ?? []).toEqual([]);
  });

  it('wraps a factory that throws something else, naming the exporter and keeping the cause', async () => {
    const boom = new Error('driver not installed');
    const broken = exporterModule({
      type: 'broken',
      options: z.object({}),
      create: () => {
        throw boom;
      },
    });
    const error = await createCollector({ pipelines: [{ exporters: [{ type: 'broken' }] }] }, { modules: [broken], logger: silentLogger }).catch(
      (e: unknown) => e as TrackpipeError,
    );
    expect(issuesOf(error)).toEqual([{ path: 'pipelines[0].exporters[0]', message: 'the "broken" exporter could not be built (see the error\'s cause)' }]);
    expect((error as TrackpipeError).cause).toBe(boom);
  });

  it('never puts what a factory threw into the message, even a config error quoting a value', async () => {
    const leaky = exporterModule({
      type: 'leaky',
      options: z.object({ token: z.string() }),
      create: ({ token }) => {
        throw new TrackpipeError('TRACKPIPE_ERR_CONFIG_INVALID', `token ${token} is not valid here`);
      },
    });
    const error = (await createCollector({ pipelines: [{ exporters: [{ type: 'leaky', token: 'sk-live-123456' }] }] }, { modules: [leaky], logger: silentLogger }).catch(
      (e: unknown) => e,
    )) as TrackpipeError;
    expect(issuesOf(error)).toEqual([
      { path: 'pipelines[0].exporters[0]', message: 'the "leaky" exporter could not be built: TRACKPIPE_ERR_CONFIG_INVALID (see the error\'s cause)' },
    ]);
    expect(error.message).not.toContain('sk-live');
  });

  it('refuses an exporter that does not carry its configured name (metric labels would lie)', async () => {
    const stubborn = exporterModule({ type: 'stubborn', options: z.object({}), create: () => new ListExporter('always-this-name', [], 1) });
    const error = await createCollector({ pipelines: [{ exporters: [{ type: 'stubborn', name: 'renamed' }] }] }, { modules: [stubborn], logger: silentLogger }).catch(
      (e: unknown) => e,
    );
    expect(issuesOf(error)).toEqual([{ path: 'pipelines[0].exporters[0]', message: 'the "stubborn" factory must name its exporter context.name ("renamed")' }]);
  });

  it('validateConfig() finds the same problems without building anything', async () => {
    const { module, factory } = listModule([]);
    const issues = await validateConfig(
      { pipelines: [{ exporters: [{ type: 'list', capacity: 0 }, { type: 'nope' }, { type: 'file' }] }] },
      { modules: [module] },
    );
    expect(issues).toEqual([
      { path: 'pipelines[0].exporters[0].capacity', message: 'must be >= 1' },
      { path: 'pipelines[0].exporters[1].type', message: expect.stringContaining('unknown exporter type (known: console, file, function, list)') },
      { path: 'pipelines[0].exporters[2].path', message: 'is required' },
    ]);
    expect(factory()?.built ?? []).toEqual([]);
    expect(await validateConfig({ pipelines: [{ exporters: [{ type: 'list' }] }] }, { modules: [module] })).toEqual([]);
  });

  it('refuses two factories for one type', async () => {
    const twice = exporterModule({ type: 'file', options: z.object({}), create: () => new ListExporter('x', [], 1) });
    await expect(createCollector({ pipelines: [{ exporters: [{ type: 'file', path: 'x' }] }] }, { modules: [twice] })).rejects.toMatchObject({
      code: 'TRACKPIPE_ERR_OPTIONS_INVALID',
      message: expect.stringContaining('two exporter factories are bound for type "file"') as string,
    });
  });

  it('lets a module rebind a core default', async () => {
    const seen: string[] = [];
    const logger: Logger = { warn: (m) => seen.push(m), error: (m) => seen.push(m) };
    const quiet = new ContainerModule(({ rebind }) => {
      rebind<Logger>(TOKENS.Logger).toConstantValue(logger);
    });
    const tp = await createCollector(
      { pipelines: [{ exporters: [{ type: 'function', ref: 'refuse' }] }], metrics: { enabled: false } },
      { modules: [quiet], functions: { refuse: () => ExportResults.reject({ error: new Error('nope') }) } },
    );
    tp.record({ name: 'x' });
    await tp.flush();
    expect(seen.join('\n')).toContain('TRACKPIPE_ERR_EXPORT_REJECTED');
    await tp.close();
  });

  it('fans out to every pipeline and exporter: file, function and a named exporter', async () => {
    const file = join(dir, 'events.ndjson');
    const called: number[] = [];
    const rename = exporterModule({ type: 'stubborn', options: z.object({}), create: (_options, context) => new ListExporter(context.name, [], 1_000) });
    const tp = await createCollector(
      {
        pipelines: [
          { name: 'disk', exporters: [{ type: 'file', path: file }] },
          { name: 'app', exporters: [{ type: 'function', ref: 'count' }, { type: 'stubborn', name: 'renamed' }] },
        ],
      },
      { modules: [rename], logger: silentLogger, functions: { count: (batch) => void called.push(batch.length) } },
    );
    for (const event of events(5)) tp.record(event);
    await tp.flush();
    const lines = (await readFile(file, 'utf8')).trim().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as Event).attributes?.i)).toEqual([0, 1, 2, 3, 4]);
    expect(called.reduce((a, b) => a + b, 0)).toBe(5);
    expect(tp.stats()).toMatchObject({ recorded: 15, exported: 15 });
    expect(tp.pipelines.get('app')!.stats()).toMatchObject({ recorded: 10, exported: 10 });
    expect([...tp.pipelines.get('app')!.exporters.keys()]).toEqual(['function', 'renamed']);

    const families = parseExposition(await tp.registry.metrics());
    expect(valueOf(families, METRICS.exported.name, { pipeline: 'app', exporter: 'renamed' })).toBe(5);
    expect(valueOf(families, METRICS.exported.name, { pipeline: 'disk', exporter: 'file' })).toBe(5);
    await tp.close();
  });

  it('lets several collectors share one registry, and detaches each on close()', async () => {
    const registry = new Registry();
    const options = { registry, logger: silentLogger, functions: { noop: () => undefined } };
    const a = await createCollector({ pipelines: [{ name: 'a', exporters: [{ type: 'function', ref: 'noop' }] }] }, options);
    const b = await createCollector({ pipelines: [{ name: 'b', exporters: [{ type: 'function', ref: 'noop' }] }] }, options);
    expect(a.registry).toBe(registry);
    a.record({ name: 'x' });
    b.record({ name: 'x' });
    b.record({ name: 'y' });
    let families = parseExposition(await registry.metrics());
    expect(valueOf(families, METRICS.recorded.name, { pipeline: 'a', exporter: 'function' })).toBe(1);
    expect(valueOf(families, METRICS.recorded.name, { pipeline: 'b', exporter: 'function' })).toBe(2);
    await a.close();
    families = parseExposition(await registry.metrics());
    expect(samples(families, METRICS.recorded.name, { pipeline: 'a' })).toEqual([]);
    expect(valueOf(families, METRICS.recorded.name, { pipeline: 'b', exporter: 'function' })).toBe(2);
    await b.close();
  });

  it('follows the metrics section: global registry, default metrics, or no self-metrics at all', async () => {
    const functions = { noop: () => undefined };
    const global = await createCollector(
      { pipelines: [{ exporters: [{ type: 'function', ref: 'noop' }] }], metrics: { global: true, defaultMetrics: true } },
      { functions, logger: silentLogger },
    );
    expect(global.registry).toBe(globalRegistry);
    const families = parseExposition(await globalRegistry.metrics());
    expect(families.get(METRICS.recorded.name)).toBeDefined();
    expect(families.get('process_cpu_user_seconds_total')).toBeDefined();
    await global.close();

    const off = await createCollector(
      { pipelines: [{ exporters: [{ type: 'function', ref: 'noop' }] }], metrics: { enabled: false } },
      { functions, logger: silentLogger },
    );
    expect(off.registry).not.toBe(globalRegistry);
    expect(await off.registry.metrics()).not.toContain('trackpipe_');
    expect(off.metricsServer).toBeUndefined();
    await off.close();
  });

  it('serves /metrics when the config sets a port, and close() stops the server', async () => {
    const tp = await createCollector(
      { pipelines: [{ exporters: [{ type: 'function', ref: 'noop' }] }], metrics: { port: 0, path: '/m' } },
      { functions: { noop: () => undefined }, logger: silentLogger },
    );
    expect(tp.metricsServer!.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/m$/);
    tp.record({ name: 'x' });
    await tp.flush();
    const families = parseExposition(await (await fetch(tp.metricsServer!.url)).text());
    expect(valueOf(families, METRICS.exported.name, { pipeline: 'default', exporter: 'function' })).toBe(1);
    const first = tp.close();
    expect(tp.close()).toBe(first);
    expect(await first).toMatchObject({ complete: true });
    await expect(fetch(tp.metricsServer!.url)).rejects.toThrow();
  });
});
