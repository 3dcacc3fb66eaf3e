import {
  Counter,
  Gauge,
  Histogram,
  type OpenMetricsContentType,
  type PrometheusContentType,
  Registry,
  collectDefaultMetrics,
  register as globalRegistry,
} from 'prom-client';
import type { CollectorStats, ExportObservation, ExportObserver } from '../contracts.js';
import { DROP_REASONS } from '../contracts.js';
import { TrackpipeError } from '../errors.js';
import { BUCKETS, EXPORT_OUTCOMES, FAILURE_KINDS, METRICS } from './definitions.js';

/** A prom-client registry of either exposition format. */
export type MetricsRegistry = Registry<PrometheusContentType> | Registry<OpenMetricsContentType>;

/**
 * What metrics read: a processor's figures and its export observations. `BatchProcessor` is one;
 * its `name` labels `pipeline` and its exporter's name labels `exporter`.
 */
export interface MetricsSource {
  readonly name: string;
  readonly exporter: { readonly name: string };
  stats(): CollectorStats;
  observe(observer: ExportObserver): () => void;
}

type Labels = { pipeline: string; exporter: string };

interface Tracked {
  readonly source: MetricsSource;
  readonly labels: Labels;
}

/**
 * The one set of metric objects of a registry, fed by any number of sources. Counters and gauges
 * read `stats()` when the registry is collected (nothing happens on `record()`); histograms are fed
 * by the sources' export observations. Sources with the same labels are summed.
 */
class RegistryMetrics {
  readonly #sources = new Set<Tracked>();
  /** Sources per label pair, so histogram series are removed when the last one leaves. */
  readonly #labelUsers = new Map<string, number>();
  readonly #duration: Histogram<'pipeline' | 'exporter' | 'outcome'>;
  readonly #batchEvents: Histogram<'pipeline' | 'exporter'>;
  readonly #batchBytes: Histogram<'pipeline' | 'exporter'>;

  constructor(registry: MetricsRegistry) {
    const registers = [registry];
    const sources = this.#sources;
    // Each counter or gauge sums one figure of every source's stats() at collect time.
    const fromStats = (
      metric: { readonly name: string; readonly help: string; readonly type: 'counter' | 'gauge' },
      read: (stats: CollectorStats) => number | undefined,
    ): void => {
      const config = {
        name: metric.name,
        help: metric.help,
        labelNames: ['pipeline', 'exporter'] as const,
        registers,
        collect(this: Counter<'pipeline' | 'exporter'> | Gauge<'pipeline' | 'exporter'>) {
          this.reset();
          for (const { source, labels } of sources) {
            const value = read(source.stats());
            if (value !== undefined) this.inc(labels, value);
          }
        },
      };
      if (metric.type === 'counter') new Counter(config);
      else new Gauge(config);
    };

    fromStats(METRICS.recorded, (s) => s.recorded);
    fromStats(METRICS.exported, (s) => s.exported);
    fromStats(METRICS.retries, (s) => s.retries);
    fromStats(METRICS.queued, (s) => s.queued);
    fromStats(METRICS.capacity, (s) => s.queueCapacity);
    fromStats(METRICS.inFlightEvents, (s) => s.inFlight);
    fromStats(METRICS.inFlightBatches, (s) => s.batchesInFlight);
    fromStats(METRICS.lastExport, (s) => (s.lastExportAt === undefined ? undefined : s.lastExportAt / 1000));
    new Counter({
      name: METRICS.dropped.name,
      help: METRICS.dropped.help,
      labelNames: METRICS.dropped.labels,
      registers,
      collect() {
        this.reset();
        for (const { source, labels } of sources) {
          const { droppedByReason } = source.stats();
          for (const reason of DROP_REASONS) this.inc({ ...labels, reason }, droppedByReason[reason]);
        }
      },
    });
    new Counter({
      name: METRICS.failures.name,
      help: METRICS.failures.help,
      labelNames: METRICS.failures.labels,
      registers,
      collect() {
        this.reset();
        for (const { source, labels } of sources) {
          const { failedExports } = source.stats();
          for (const kind of FAILURE_KINDS) this.inc({ ...labels, kind }, failedExports[kind]);
        }
      },
    });
    this.#duration = new Histogram({
      name: METRICS.duration.name,
      help: METRICS.duration.help,
      labelNames: METRICS.duration.labels,
      buckets: [...BUCKETS.duration],
      registers,
    });
    this.#batchEvents = new Histogram({
      name: METRICS.batchEvents.name,
      help: METRICS.batchEvents.help,
      labelNames: METRICS.batchEvents.labels,
      buckets: [...BUCKETS.batchEvents],
      registers,
    });
    this.#batchBytes = new Histogram({
      name: METRICS.batchBytes.name,
      help: METRICS.batchBytes.help,
      labelNames: METRICS.batchBytes.labels,
      buckets: [...BUCKETS.batchBytes],
      registers,
    });
  }

  /** Starts reading `source`; returns a function that stops (idempotent). */
  track(source: MetricsSource): () => void {
    const labels: Labels = { pipeline: source.name, exporter: source.exporter.name };
    const tracked: Tracked = { source, labels };
    const key = `${labels.pipeline}\u0000${labels.exporter}`;
    this.#sources.add(tracked);
    this.#labelUsers.set(key, (this.#labelUsers.get(key) ?? 0) + 1);
    const stopObserving = source.observe((o) => this.#observe(o));
    let tracking = true;
    return () => {
      if (!tracking) return;
      tracking = false;
      stopObserving();
      this.#sources.delete(tracked);
      const users = (this.#labelUsers.get(key) ?? 1) - 1;
      if (users > 0) {
        this.#labelUsers.set(key, users);
        return;
      }
      this.#labelUsers.delete(key);
      for (const outcome of EXPORT_OUTCOMES) this.#duration.remove({ ...labels, outcome });
      this.#batchEvents.remove(labels);
      this.#batchBytes.remove(labels);
    };
  }

  #observe(o: ExportObservation): void {
    const labels = { pipeline: o.pipeline, exporter: o.exporter };
    this.#duration.observe({ ...labels, outcome: o.outcome }, o.durationMs / 1000);
    this.#batchEvents.observe(labels, o.events);
    this.#batchBytes.observe(labels, o.bytes);
  }
}

/** One set of metric objects per registry, so any number of instrument() calls can share it. */
const perRegistry = new WeakMap<MetricsRegistry, RegistryMetrics>();

/**
 * Throws `TRACKPIPE_ERR_OPTIONS_INVALID` naming the first of `names` that `registry` already holds.
 * Called before any metric is created: prom-client registers each as it is built, so a clash found
 * half-way would leave the first ones registered, orphaned, and clashing with every later attempt.
 */
export function assertNamesFree(registry: MetricsRegistry, names: readonly string[], what: string): void {
  for (const name of names) {
    if (registry.getSingleMetric(name) !== undefined) {
      throw new TrackpipeError(
        'TRACKPIPE_ERR_OPTIONS_INVALID',
        `could not register ${what} in this registry: it already holds a metric named ${name} (another copy of @trackpipe/core may have registered it)`,
        { details: { metric: name } },
      );
    }
  }
}

function metricsOf(registry: MetricsRegistry): RegistryMetrics {
  let metrics = perRegistry.get(registry);
  if (metrics === undefined) {
    assertNamesFree(
      registry,
      Object.values(METRICS).map((metric) => metric.name),
      'Trackpipe metrics',
    );
    try {
      metrics = new RegistryMetrics(registry);
    } catch (error) {
      throw new TrackpipeError(
        'TRACKPIPE_ERR_OPTIONS_INVALID',
        'could not register Trackpipe metrics in this registry (another copy of @trackpipe/core may have registered them already)',
        { cause: error },
      );
    }
    perRegistry.set(registry, metrics);
  }
  return metrics;
}

/** Options of {@link instrument}. */
export interface InstrumentOptions {
  /** The registry the metrics go into. Default: a fresh `Registry` (or prom-client's global one with `global: true`). */
  registry?: MetricsRegistry;
  /** Use prom-client's global registry when no `registry` is given. Default false. */
  global?: boolean;
}

/** What {@link instrument} returns. */
export interface Instrumentation {
  /** The registry the metrics are in. */
  readonly registry: MetricsRegistry;
  /** Stops reading the sources and removes their series. Idempotent. */
  detach(): void;
}

/**
 * Registers Trackpipe's self-metrics for one or more processors into a registry. Any number of
 * calls may share a registry: its metric objects are created once and fed by every source.
 * Nothing runs on `record()`: counters and gauges read `stats()` at scrape time.
 */
export function instrument(sources: MetricsSource | readonly MetricsSource[], options: InstrumentOptions = {}): Instrumentation {
  const list: readonly MetricsSource[] = Array.isArray(sources) ? sources : [sources as MetricsSource];
  // All checked before any is tracked: a bad one after a good one would leave the good one read for
  // good, with no detach() to stop it.
  list.forEach((source, i) => checkSource(source, Array.isArray(sources) ? `sources[${i}]` : 'sources'));
  const registry = resolveRegistry(options);
  const metrics = metricsOf(registry);
  const stops = list.map((source) => metrics.track(source));
  return {
    registry,
    detach: () => {
      for (const stop of stops) stop();
    },
  };
}

/** Throws `TRACKPIPE_ERR_OPTIONS_INVALID` naming `path` unless `source` is a {@link MetricsSource}. */
function checkSource(source: unknown, path: string): void {
  const s = source as Partial<MetricsSource> | null;
  if (
    s === null ||
    typeof s !== 'object' ||
    typeof s.name !== 'string' ||
    s.exporter === null ||
    typeof s.exporter !== 'object' ||
    typeof s.exporter.name !== 'string' ||
    typeof s.stats !== 'function' ||
    typeof s.observe !== 'function'
  ) {
    throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', `${path} must be a processor (with a string name, exporter.name, stats() and observe())`, {
      details: { option: path },
    });
  }
}

/** The registry an option set asks for: the given one, prom-client's global one, or a fresh one. */
export function resolveRegistry(options: InstrumentOptions = {}): MetricsRegistry {
  return options.registry ?? (options.global === true ? globalRegistry : new Registry());
}

/**
 * Adds prom-client's default process metrics (CPU, memory, event loop, GC) to `registry`, once:
 * later calls for the same registry do nothing.
 */
export function enableDefaultMetrics(registry: MetricsRegistry): void {
  // process_cpu_user_seconds_total is the first default metric; present means already enabled.
  if (registry.getSingleMetric('process_cpu_user_seconds_total') !== undefined) return;
  collectDefaultMetrics({ register: registry });
}
