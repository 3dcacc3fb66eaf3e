import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ExporterFactory, ExportResults, TOKENS, type TelemetryEvent, silentLogger } from '@trackpipe/core';
import { ContainerModule } from 'inversify';
import * as z from 'zod';
import { createCollector, validateConfig } from '@trackpipe/core/di';
import { parseExposition, valueOf } from '@trackpipe/core/testing';
import { spoolModule } from '@trackpipe/spool/di';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'trackpipe-spool-di-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const config = (spool: Record<string, unknown>) => ({
  pipelines: [{ name: 'flags', spool, batch: { maxBatchSize: 50 }, exporters: [{ type: 'function', name: 'sink', ref: 'sink' }] }],
});

describe('a pipeline spool section with spoolModule', () => {
  it('keeps what the destination did not take across a restart, exports it first, and counts it as recovered', async () => {
    const down = await createCollector(config({ path: dir }), {
      modules: [spoolModule],
      logger: silentLogger,
      functions: { sink: () => ExportResults.retry() },
    });
    for (let i = 0; i < 120; i++) down.record({ name: 'flag', attributes: { i } });
    expect(await down.persisted()).toBe(true);
    const closed = await down.close({ timeoutMs: 300 });
    expect(closed.complete).toBe(false);
    expect(down.stats()).toMatchObject({ recorded: 120, exported: 0, dropped: 0, queued: 120 });

    const received: number[] = [];
    const registry = new Registry();
    const up = await createCollector(config({ path: dir }), {
      modules: [spoolModule],
      registry,
      logger: silentLogger,
      functions: { sink: (events) => void received.push(...events.map((e: TelemetryEvent) => e.attributes?.i as number)) },
    });
    expect(up.stats()).toMatchObject({ recovered: 120, recorded: 120 });
    up.record({ name: 'flag', attributes: { i: 120 } });
    const report = await up.flush();
    expect(report).toMatchObject({ complete: true, exported: 121 });
    expect(received).toEqual(Array.from({ length: 121 }, (_, i) => i)); // recovered first, in order
    const families = parseExposition(await registry.metrics());
    const labels = { pipeline: 'flags', exporter: 'sink' };
    expect(valueOf(families, 'trackpipe_spool_recovered_events_total', labels)).toBe(120);
    expect(valueOf(families, 'trackpipe_spool_capacity_bytes', labels)).toBe(1024 * 1024 * 1024);
    expect(valueOf(families, 'trackpipe_spool_commit_duration_seconds_count', labels)).toBeGreaterThan(0);
    await up.close();
  });

  it('names every bad field of the section, and a directory that cannot be used', async () => {
    const issues = await validateConfig(config({ maxBytes: 10, sync: { intervalMs: -1 }, colour: 'red' }), {
      modules: [spoolModule],
      functions: { sink: () => undefined },
    });
    expect(issues).toEqual([
      { path: 'pipelines[0].spool.path', message: 'is required' },
      { path: 'pipelines[0].spool.maxBytes', message: 'must be >= 1024' },
      { path: 'pipelines[0].spool.sync.intervalMs', message: 'must be >= 0' },
      { path: 'pipelines[0].spool.colour', message: 'unknown key' },
    ]);
    const file = join(dir, 'a-file');
    await writeFile(file, 'not a directory');
    const error = await createCollector(config({ path: file }), {
      modules: [spoolModule],
      logger: silentLogger,
      functions: { sink: () => undefined },
    }).catch((e: unknown) => e as Error);
    expect((error as Error).message).toContain('pipelines[0].spool: the spool of exporter "sink" could not be opened (TRACKPIPE_ERR_SPOOL_UNAVAILABLE');
  });
});

describe('an exporter whose factory breaks the contract after its spool was opened', () => {
  it('fails the start naming its entry, and leaves the spool directory closed: the next start on it succeeds', async () => {
    // A factory of the application's that names its exporter as asked but gives it no export() method.
    const brokenFactory: ExporterFactory = { type: 'broken', options: z.strictObject({}), create: (_, context) => ({ name: context.name }) as never };
    const brokenModule = new ContainerModule(({ bind }) => void bind<ExporterFactory>(TOKENS.ExporterFactory).toConstantValue(brokenFactory));
    const error = await createCollector(
      { pipelines: [{ name: 'flags', spool: { path: dir }, exporters: [{ type: 'broken', name: 'sink' }] }] },
      { modules: [spoolModule, brokenModule], logger: silentLogger },
    ).catch((e: unknown) => e as Error);
    expect(error).toMatchObject({ code: 'TRACKPIPE_ERR_CONFIG_INVALID' });
    expect((error as Error).message).toContain('pipelines[0].exporters[0]');
    const next = await createCollector(config({ path: dir }), { modules: [spoolModule], logger: silentLogger, functions: { sink: () => undefined } });
    next.record({ name: 'flag' });
    expect(await next.flush()).toMatchObject({ complete: true, exported: 1 });
    await next.close();
  });
});
