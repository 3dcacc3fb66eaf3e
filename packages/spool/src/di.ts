import { join } from 'node:path';
import { type Logger, type QueueFactory, type Recorded, TOKENS, type TelemetryEvent } from '@trackpipe/core';
import type { MetricsRegistry } from '@trackpipe/core/metrics';
import { ContainerModule } from 'inversify';
import { Counter, Gauge, Histogram } from 'prom-client';
import type * as z from 'zod';
import { COMMIT_SECONDS_BUCKETS } from './histogram.js';
import { spoolOptionsSchema } from './options.js';
import { Spool } from './spool.js';

type Labels = { pipeline: string; exporter: string };

/** The spool metrics of one registry, fed by every spool opened for it. Read at scrape time. */
class SpoolMetrics {
  readonly #spools = new Map<Spool<unknown>, Labels>();
  readonly #commit: Histogram<'pipeline' | 'exporter'>;

  constructor(registry: MetricsRegistry) {
    const registers = [registry];
    const spools = this.#spools;
    const gauge = (name: string, help: string, read: (stats: ReturnType<Spool<unknown>['stats']>) => number, type: 'gauge' | 'counter' = 'gauge') => {
      const config = {
        name,
        help,
        labelNames: ['pipeline', 'exporter'] as const,
        registers,
        collect(this: Gauge<'pipeline' | 'exporter'> | Counter<'pipeline' | 'exporter'>) {
          this.reset();
          for (const [spool, labels] of spools) this.inc(labels, read(spool.stats()));
        },
      };
      if (type === 'counter') new Counter(config);
      else new Gauge(config);
    };
    gauge('trackpipe_spool_events', 'Events the spool holds: waiting on disk or in memory, or taken and not yet settled.', (s) => s.events);
    gauge('trackpipe_spool_bytes', 'Bytes of the events stored in the spool (their JSON), as of the last commit.', (s) => s.bytes);
    gauge('trackpipe_spool_capacity_bytes', 'The spool bound (maxBytes).', (s) => s.maxBytes);
    gauge('trackpipe_spool_uncommitted_events', 'Events waiting for their group commit (not yet durable).', (s) => s.uncommitted);
    gauge('trackpipe_spool_recovered_events_total', 'Events found in the spool when it was opened (exported first).', (s) => s.recovered, 'counter');
    gauge('trackpipe_spool_commit_failures_total', 'Group commits that failed (their events are committed again).', (s) => s.commitFailures, 'counter');
    this.#commit = new Histogram({
      name: 'trackpipe_spool_commit_duration_seconds',
      help: 'Seconds from the start of a group commit until it was flushed to the device.',
      labelNames: ['pipeline', 'exporter'] as const,
      buckets: [...COMMIT_SECONDS_BUCKETS],
      registers,
    });
  }

  /** Observes the commits of the spool about to be opened with `labels`; call `track` once it is open. */
  commitObserver(labels: Labels): (seconds: number) => void {
    return (seconds) => this.#commit.observe(labels, seconds);
  }

  track(spool: Spool<unknown>, labels: Labels): void {
    this.#spools.set(spool, labels);
  }
}

const metricsByRegistry = new WeakMap<MetricsRegistry, SpoolMetrics>();

/**
 * The queue factory behind a pipeline's `spool` section: one {@link Spool} per exporter, in
 * `<path>/<pipeline>/<exporter>`, its options checked by {@link spoolOptionsSchema}, its figures on
 * `registry` (when given) as `trackpipe_spool_*` metrics.
 */
export function spoolQueueFactory(parts: { registry?: MetricsRegistry; logger?: Logger } = {}): QueueFactory<z.output<typeof spoolOptionsSchema>> {
  const registry = parts.registry;
  let metrics: SpoolMetrics | undefined;
  if (registry !== undefined) {
    metrics = metricsByRegistry.get(registry);
    if (metrics === undefined) {
      metrics = new SpoolMetrics(registry);
      metricsByRegistry.set(registry, metrics);
    }
  }
  return {
    options: spoolOptionsSchema,
    open(options, context) {
      const labels = { pipeline: context.pipeline, exporter: context.exporter };
      const spool = new Spool<Recorded<TelemetryEvent>>({
        ...options,
        path: join(options.path, context.pipeline, context.exporter),
        logger: context.logger,
        ...(metrics === undefined ? {} : { onCommit: metrics.commitObserver(labels) }),
      });
      metrics?.track(spool, labels);
      return spool;
    },
  };
}

/**
 * Binds the spool queue factory under `TOKENS.QueueFactory`, so that a pipeline's `spool` section
 * works in `createCollector` (its metrics go into the container's `TOKENS.MetricsRegistry`).
 * `trackpipe serve` loads it.
 */
export const spoolModule: ContainerModule = new ContainerModule(({ bind }) => {
  bind<QueueFactory>(TOKENS.QueueFactory)
    .toDynamicValue((context) => spoolQueueFactory({ registry: context.get<MetricsRegistry>(TOKENS.MetricsRegistry) }))
    .inSingletonScope();
});
