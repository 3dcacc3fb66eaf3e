import { Container } from 'inversify';
import { describe, expect, it } from 'vitest';
import { BatchProcessor, type ExporterContext, type ExporterFactory, TOKENS, silentLogger } from '@trackpipe/core';
import { MemoryExporter } from '@trackpipe/collector-memory';
import { createMemoryExporterModule, memoryExporterModule } from '@trackpipe/collector-memory/di';
import { buildExporter } from '@trackpipe/core/testing';
import * as z from 'zod';

const context: ExporterContext = { path: 'pipelines[0].exporters[1]', pipeline: 'flags', logger: silentLogger, name: 'memory' };

function memoryFactory(container: Container): ExporterFactory {
  const factory = container.getAll<ExporterFactory>(TOKENS.ExporterFactory).find((f) => f.type === 'memory');
  expect(factory).toBeDefined();
  return factory!;
}

describe('memoryExporterModule', () => {
  it('binds an ExporterFactory of type "memory" that a real container finds among the others', () => {
    const container = new Container();
    const other: ExporterFactory = { type: 'other', options: z.object({}), create: () => new MemoryExporter() };
    container.bind<ExporterFactory>(TOKENS.ExporterFactory).toConstantValue(other);
    container.load(memoryExporterModule);
    const types = container.getAll<ExporterFactory>(TOKENS.ExporterFactory).map((f) => f.type);
    expect(types.sort()).toEqual(['memory', 'other']);
  });

  it('builds a working MemoryExporter from no options, and applies the limits given', async () => {
    const container = new Container();
    container.load(memoryExporterModule);
    const factory = memoryFactory(container);
    const exporter = buildExporter(factory, {}, context);
    expect(exporter).toBeInstanceOf(MemoryExporter);
    expect(exporter.name).toBe('memory');
    const processor = new BatchProcessor(exporter, { logger: silentLogger, maxConcurrentExports: 1 });
    for (let i = 0; i < 4; i++) processor.record({ name: 'e' });
    await expect(processor.close()).resolves.toMatchObject({ complete: true, exported: 4 });
    expect((exporter as MemoryExporter).events).toHaveLength(4);

    const limited = buildExporter(factory, { maxBatchSize: 2 }, context) as MemoryExporter;
    const halved = new BatchProcessor(limited, { logger: silentLogger, maxConcurrentExports: 1 });
    for (let i = 0; i < 4; i++) halved.record({ name: 'e' });
    await halved.close();
    expect(limited.batches.map((b) => b.length)).toEqual([2, 2]);
  });

  it('throws TRACKPIPE_ERR_CONFIG_INVALID naming <path>.<key> for an unknown option, without echoing its value', () => {
    const container = new Container();
    container.load(memoryExporterModule);
    const factory = memoryFactory(container);
    let thrown: unknown;
    try {
      buildExporter(factory, { url: 'https://user:s3cret@example.com' }, context);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ code: 'TRACKPIPE_ERR_CONFIG_INVALID', details: { issues: [{ path: 'pipelines[0].exporters[1].url', message: 'unknown key' }] } });
    expect((thrown as Error).message).toContain('pipelines[0].exporters[1].url');
    expect((thrown as Error).message).not.toContain('s3cret');
  });

  it('throws TRACKPIPE_ERR_CONFIG_INVALID naming the path of a limit that is not an integer >= 1', () => {
    const factory = memoryFactory(loaded());
    expect(() => buildExporter(factory, { maxBatchBytes: '1kb' }, context)).toThrow(/exporters\[1\]\.maxBatchBytes: must be a number/);
    expect(() => buildExporter(factory, { maxBatchSize: 0 }, context)).toThrow(/exporters\[1\]\.maxBatchSize: must be >= 1/);
    expect(() => buildExporter(factory, { maxBatchSize: 1.5 }, context)).toThrow(/exporters\[1\]\.maxBatchSize: must be an integer/);
  });

  it('names the exporter after the config entry when the context carries a name', () => {
    const factory = memoryFactory(loaded());
    const named = { ...context, name: 'flags-memory' };
    expect(buildExporter(factory, {}, named).name).toBe('flags-memory');
  });

  it('hands every exporter it builds to onCreate, so config-built pipelines can be inspected', () => {
    const seen: { exporter: MemoryExporter; path: string }[] = [];
    const container = new Container();
    container.load(createMemoryExporterModule({ onCreate: (exporter, ctx) => seen.push({ exporter, path: ctx.path }) }));
    const exporter = memoryFactory(container).create({}, context);
    expect(seen).toHaveLength(1);
    expect(seen[0]?.exporter).toBe(exporter);
    expect(seen[0]?.path).toBe(context.path);
  });
});

function loaded(): Container {
  const container = new Container();
  container.load(memoryExporterModule);
  return container;
}
