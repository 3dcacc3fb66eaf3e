import { ContainerModule } from 'inversify';
import * as z from 'zod';
import { describe, expect, it } from 'vitest';
import { MemoryQueue, type Recorded, type TelemetryEvent, TrackpipeError, silentLogger } from '@trackpipe/core';
import { issuesOf } from '@trackpipe/core/config';
import { type QueueContext, type QueueFactory, TOKENS, createCollector, validateConfig } from '@trackpipe/core/di';

/** A queue factory of our own (the far side of the QueueFactory contract): memory queues it records opening. */
function queueModule(opened: QueueContext[], fail?: Error): ContainerModule {
  const factory: QueueFactory<{ path: string; capacity: number }> = {
    options: z.strictObject({ path: z.string().min(1), capacity: z.number().int().min(1).default(100) }),
    open(options, context) {
      if (fail !== undefined) throw fail;
      opened.push(context);
      return new MemoryQueue<Recorded<TelemetryEvent>>(options.capacity);
    },
  };
  return new ContainerModule(({ bind }) => {
    bind<QueueFactory>(TOKENS.QueueFactory).toConstantValue(factory);
  });
}

const twoExporters = (spool: Record<string, unknown>) => ({
  pipelines: [{ name: 'flags', spool, exporters: [{ type: 'function', ref: 'a' }, { type: 'function', name: 'b', ref: 'a' }] }],
  metrics: { enabled: false },
});

describe('a pipeline spool section', () => {
  it('opens one queue per exporter through the bound queue factory, and the processors use it', async () => {
    const opened: QueueContext[] = [];
    const delivered: number[] = [];
    const collector = await createCollector(twoExporters({ path: '/var/spool/trackpipe', capacity: 7 }), {
      modules: [queueModule(opened)],
      logger: silentLogger,
      functions: { a: (events) => void delivered.push(events.length) },
    });
    expect(opened.map((c) => [c.path, c.pipeline, c.exporter])).toEqual([
      ['pipelines[0].spool', 'flags', 'function'],
      ['pipelines[0].spool', 'flags', 'b'],
    ]);
    expect(collector.stats().queueCapacity).toBe(14);
    collector.record({ name: 'x' });
    await collector.close();
    expect(delivered).toEqual([1, 1]);
  });

  it('is validated by the factory schema before anything is built, naming each path', async () => {
    const opened: QueueContext[] = [];
    const issues = await validateConfig(twoExporters({ capacity: 0, colour: 'red' }), { modules: [queueModule(opened)], functions: { a: () => undefined } });
    expect(issues).toEqual([
      { path: 'pipelines[0].spool.path', message: 'is required' },
      { path: 'pipelines[0].spool.capacity', message: 'must be >= 1' },
      { path: 'pipelines[0].spool.colour', message: 'unknown key' },
    ]);
    expect(opened).toEqual([]);
  });

  it('says which module is missing when no queue factory is bound', async () => {
    const error = await createCollector(twoExporters({ path: '/tmp/x' }), { logger: silentLogger, functions: { a: () => undefined } }).catch((e: unknown) => e);
    expect(issuesOf(error)).toEqual([{ path: 'pipelines[0].spool', message: expect.stringContaining('spoolModule from @trackpipe/spool/di') }]);
  });

  it('reports a queue that cannot be opened under the spool path, with our error', async () => {
    const fail = new TrackpipeError('TRACKPIPE_ERR_SPOOL_UNAVAILABLE', 'spool directory /var/spool/x is not writable');
    const error = await createCollector(twoExporters({ path: '/var/spool/x' }), {
      modules: [queueModule([], fail)],
      logger: silentLogger,
      functions: { a: () => undefined },
    }).catch((e: unknown) => e);
    expect(issuesOf(error)[0]).toEqual({
      path: 'pipelines[0].spool',
      message: expect.stringContaining('could not be opened (TRACKPIPE_ERR_SPOOL_UNAVAILABLE: spool directory /var/spool/x is not writable)'),
    });
  });
});
