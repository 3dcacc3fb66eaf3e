import { Container, type ContainerModule } from 'inversify';
import type * as z from 'zod';
import { BatchProcessor } from '../batch-processor.js';
import type { Environment } from '../config/env.js';
import { type ConfigIssue, configError, issuesFromZod, issuesOf, safeErrorMap } from '../config/issues.js';
import { parseConfig } from '../config/load.js';
import {
  type TrackpipeConfig,
  type TrackpipeConfigInput,
  exporterName,
  exporterOptions,
  toProcessorOptions,
} from '../config/schema.js';
import type { Collector, ErrorHandler, Exporter, FlushReport, Logger } from '../contracts.js';
import { TrackpipeError } from '../errors.js';
import type { Recorded, TelemetryEvent } from '../events.js';
import type { ExportFunction } from '../exporters/function.js';
import { FanoutCollector } from '../fanout.js';
import type { EventQueue } from '../queue.js';
import { type Instrumentation, type MetricsRegistry, enableDefaultMetrics, instrument } from '../metrics/instrument.js';
import { type MetricsServer, startMetricsServer } from '../metrics/server.js';
import { coreModule } from './modules.js';
import { type ExporterFactory, type QueueFactory, TOKENS } from './tokens.js';

/** Options of {@link createCollector}. */
export interface CreateCollectorOptions<E extends TelemetryEvent = TelemetryEvent> {
  /**
   * ContainerModules loaded after `coreModule`: exporter packages' `./di` modules and your own. Each
   * may bind exporter factories under `TOKENS.ExporterFactory`, or `rebind` a default. Default none.
   */
  modules?: readonly ContainerModule[];
  /**
   * Registry for the self-metrics. Default: the one bound to `TOKENS.MetricsRegistry` — a fresh
   * `Registry`, or prom-client's global one when the config says `metrics.global: true`.
   */
  registry?: MetricsRegistry;
  /** Where every part reports. Default: the one bound to `TOKENS.Logger` (the console). */
  logger?: Logger;
  /** Functions the `function` exporter type names with `ref`. Default none. */
  functions?: Readonly<Record<string, ExportFunction<Recorded<E>>>>;
  /** Called with every error any processor reports. Default none. */
  onError?: ErrorHandler;
  /** Variables for `${env:NAME}` in the config. Default: `process.env` (read by the config loader). */
  env?: Environment;
}

/** One pipeline of a configured collector: a fan-out over one processor per exporter. */
export class PipelineCollector<E extends TelemetryEvent = TelemetryEvent> extends FanoutCollector<E> {
  /** The pipeline's name. */
  readonly name: string;
  /** The pipeline's processors by exporter name (each with its own queue and `stats()`). */
  readonly exporters: ReadonlyMap<string, BatchProcessor<E>>;

  constructor(name: string, exporters: ReadonlyMap<string, BatchProcessor<E>>) {
    super([...exporters.values()]);
    this.name = name;
    this.exporters = exporters;
  }
}

/**
 * What {@link createCollector} returns: a Collector that records into every pipeline (and so into
 * every exporter's processor), plus the parts. `stats()` sums all processors (an event recorded once
 * counts once per exporter). `close()` closes every processor, then detaches the metrics and stops
 * the metrics server.
 */
export interface TrackpipeCollector<E extends TelemetryEvent = TelemetryEvent> extends Collector<E> {
  /** The validated configuration. */
  readonly config: TrackpipeConfig;
  /** The pipelines by name. */
  readonly pipelines: ReadonlyMap<string, PipelineCollector<E>>;
  /** The registry holding the self-metrics. */
  readonly registry: MetricsRegistry;
  /** The metrics server, when the config set `metrics.port`. */
  readonly metricsServer: MetricsServer | undefined;
}

class ConfiguredCollector<E extends TelemetryEvent> extends FanoutCollector<E> implements TrackpipeCollector<E> {
  readonly config: TrackpipeConfig;
  readonly pipelines: ReadonlyMap<string, PipelineCollector<E>>;
  readonly registry: MetricsRegistry;
  readonly metricsServer: MetricsServer | undefined;
  readonly #instrumentation: Instrumentation | undefined;
  #closing: Promise<FlushReport> | undefined;

  constructor(parts: {
    config: TrackpipeConfig;
    pipelines: ReadonlyMap<string, PipelineCollector<E>>;
    processors: readonly BatchProcessor<E>[];
    registry: MetricsRegistry;
    instrumentation: Instrumentation | undefined;
    server: MetricsServer | undefined;
  }) {
    super(parts.processors);
    this.config = parts.config;
    this.pipelines = parts.pipelines;
    this.registry = parts.registry;
    this.metricsServer = parts.server;
    this.#instrumentation = parts.instrumentation;
  }

  override close(options?: { timeoutMs?: number }): Promise<FlushReport> {
    this.#closing ??= (async () => {
      try {
        return await super.close(options);
      } finally {
        this.#instrumentation?.detach();
        await this.metricsServer?.close();
      }
    })();
    return this.#closing;
  }
}

/**
 * The composition root. Validates `config` (see `@trackpipe/core/config`), builds an inversify
 * container with `coreModule` and `options.modules`, resolves every `TOKENS.ExporterFactory`, builds
 * one BatchProcessor per exporter entry (fan-out: each exporter its own queue, so a slow or dead one
 * stalls only itself), registers the self-metrics, and starts the metrics server when the config
 * sets `metrics.port`. Throws TRACKPIPE_ERR_CONFIG_INVALID naming every bad path: an unknown exporter
 * `type` (listing the known ones), or options an exporter factory refused.
 */
export async function createCollector<E extends TelemetryEvent = TelemetryEvent>(
  input: TrackpipeConfigInput | TrackpipeConfig,
  options: CreateCollectorOptions<E> = {},
): Promise<TrackpipeCollector<E>> {
  const config = parseConfig(input, options.env === undefined ? {} : { env: options.env });
  const container = await compose(config, options);
  const checked = checkConfig(config, container);
  // Every entry is checked before anything is built, so nothing is opened for a config that fails.
  if (checked.issues.length > 0) throw configError(checked.issues);
  const logger = container.get<Logger>(TOKENS.Logger);
  const registry = container.get<MetricsRegistry>(TOKENS.MetricsRegistry);

  const processors: BatchProcessor<E>[] = [];
  const pipelines = new Map<string, PipelineCollector<E>>();
  const issues: ConfigIssue[] = [];
  /** Queues opened for exporters whose processor could not be built: closed before the error is thrown. */
  const orphans: EventQueue<never>[] = [];
  let cause: unknown;
  config.pipelines.forEach((pipeline, i) => {
    const members = new Map<string, BatchProcessor<E>>();
    pipeline.exporters.forEach((entry, j) => {
      const { factory, options: parsed, path } = checked.entries[i]![j]!;
      const name = exporterName(entry);
      let exporter: Exporter<Recorded<E>> | undefined;
      let queue: EventQueue<never> | undefined;
      try {
        exporter = factory.create(parsed, { path, pipeline: pipeline.name, logger, name });
        if (exporter?.name !== name) {
          issues.push({ path, message: `the "${entry.type}" factory must name its exporter context.name ("${name}")` });
          void Promise.resolve(exporter?.shutdown?.()).catch(() => undefined);
          return;
        }
        const spool = checked.spools[i];
        if (spool !== undefined) {
          try {
            queue = spool.factory.open(spool.options, { path: spool.path, pipeline: pipeline.name, exporter: name, logger }) as EventQueue<never>;
          } catch (error) {
            void Promise.resolve(exporter.shutdown?.()).catch(() => undefined);
            // Our own queue's errors name files, never secrets: say what went wrong.
            const why = error instanceof TrackpipeError ? error.message : 'see the error\'s cause';
            issues.push({ path: spool.path, message: `the spool of exporter "${name}" could not be opened (${why})` });
            cause ??= error;
            return;
          }
        }
        const processor = new BatchProcessor<E>(exporter, {
          ...toProcessorOptions(pipeline),
          logger,
          ...(queue === undefined ? {} : { queue }),
          ...(options.onError === undefined ? {} : { onError: options.onError }),
        });
        processors.push(processor);
        members.set(name, processor);
      } catch (error) {
        void Promise.resolve(exporter?.shutdown?.()).catch(() => undefined);
        // A spool opened for it holds its directory (and this process's claim on it) until closed.
        if (queue !== undefined) orphans.push(queue);
        // A factory's error may quote a value (a secret): only its code is named; it becomes the cause.
        const code = error instanceof TrackpipeError ? `: ${error.code}` : '';
        issues.push({ path, message: `the "${entry.type}" exporter could not be built${code} (see the error's cause)` });
        cause ??= error;
      }
    });
    pipelines.set(pipeline.name, new PipelineCollector(pipeline.name, members));
  });
  if (issues.length > 0) {
    await closeAll(processors);
    await Promise.allSettled(orphans.map((queue) => Promise.resolve().then(() => queue.close())));
    throw configError(issues, undefined, cause);
  }

  let instrumentation: Instrumentation | undefined;
  if (config.metrics.enabled) instrumentation = instrument(processors, { registry });
  if (config.metrics.defaultMetrics) enableDefaultMetrics(registry);
  let server: MetricsServer | undefined;
  if (config.metrics.port !== undefined) {
    try {
      server = await startMetricsServer({ registry, host: config.metrics.host, port: config.metrics.port, path: config.metrics.path });
    } catch (error) {
      instrumentation?.detach();
      await closeAll(processors);
      throw error;
    }
  }
  return new ConfiguredCollector<E>({ config, pipelines, processors, registry, instrumentation, server });
}

/**
 * Checks a configuration as `createCollector` would, without building anything: the schema and
 * `${env:NAME}` references, then each exporter entry's `type` (known to the loaded modules) and its
 * options against that factory's schema. Returns every problem by path (never a value); empty when
 * the configuration would build. What `trackpipe validate` runs.
 */
export async function validateConfig(
  input: unknown,
  options: Pick<CreateCollectorOptions, 'modules' | 'env' | 'functions'> = {},
): Promise<ConfigIssue[]> {
  let config: TrackpipeConfig;
  try {
    config = parseConfig(input, options.env === undefined ? {} : { env: options.env });
  } catch (error) {
    const listed = issuesOf(error);
    if (listed.length > 0) return listed;
    throw error;
  }
  return checkConfig(config, await compose(config, options)).issues;
}

async function compose(config: TrackpipeConfig, options: CreateCollectorOptions<never>): Promise<Container> {
  const container = new Container();
  container.bind<TrackpipeConfig>(TOKENS.Config).toConstantValue(config);
  container.bind(TOKENS.ExportFunctions).toConstantValue(options.functions ?? {});
  if (options.logger !== undefined) container.bind<Logger>(TOKENS.Logger).toConstantValue(options.logger);
  if (options.registry !== undefined) container.bind<MetricsRegistry>(TOKENS.MetricsRegistry).toConstantValue(options.registry);
  await container.loadAsync(coreModule, ...(options.modules ?? []));
  return container;
}

interface CheckedEntry {
  readonly factory: ExporterFactory;
  readonly options: unknown;
  readonly path: string;
}

interface CheckedSpool {
  readonly factory: QueueFactory;
  readonly options: unknown;
  readonly path: string;
}

interface Checked {
  readonly issues: ConfigIssue[];
  /** Each exporter entry's factory and validated options, by pipeline and position. */
  readonly entries: CheckedEntry[][];
  /** Each pipeline's spool factory and validated options, when it has a `spool` section. */
  readonly spools: (CheckedSpool | undefined)[];
}

/** Validates what the config asks of the loaded modules: exporter types and options, spool sections. */
function checkConfig(config: TrackpipeConfig, container: Container): Checked {
  const factories = factoriesByType(container.getAll<ExporterFactory>(TOKENS.ExporterFactory));
  const queues = container.isBound(TOKENS.QueueFactory) ? container.get<QueueFactory>(TOKENS.QueueFactory) : undefined;
  const issues: ConfigIssue[] = [];
  const known = [...factories.keys()].sort().join(', ');
  const validate = <O>(schema: z.ZodType<O>, value: unknown, path: string): { ok: true; value: O } | { ok: false } => {
    const parsed = schema.safeParse(value, { error: safeErrorMap });
    if (parsed.success) return { ok: true, value: parsed.data };
    issues.push(...issuesFromZod(parsed.error, path));
    return { ok: false };
  };
  const entries = config.pipelines.map((pipeline, i) =>
    pipeline.exporters.flatMap((entry, j): CheckedEntry[] => {
      const path = `pipelines[${i}].exporters[${j}]`;
      const factory = factories.get(entry.type);
      if (factory === undefined) {
        issues.push({ path: `${path}.type`, message: `unknown exporter type (known: ${known})` });
        return [];
      }
      const parsed = validate(factory.options, exporterOptions(entry), path);
      return parsed.ok ? [{ factory, options: parsed.value, path }] : [];
    }),
  );
  const spools = config.pipelines.map((pipeline, i): CheckedSpool | undefined => {
    if (pipeline.spool === undefined) return undefined;
    const path = `pipelines[${i}].spool`;
    if (queues === undefined) {
      issues.push({ path, message: 'needs a queue factory: load spoolModule from @trackpipe/spool/di (trackpipe serve does)' });
      return undefined;
    }
    const parsed = validate(queues.options, pipeline.spool, path);
    return parsed.ok ? { factory: queues, options: parsed.value, path } : undefined;
  });
  return { issues, entries, spools };
}

function factoriesByType(factories: readonly ExporterFactory[]): Map<string, ExporterFactory> {
  const byType = new Map<string, ExporterFactory>();
  for (const factory of factories) {
    const schema = (factory as { options?: { safeParse?: unknown } } | null)?.options;
    if (
      factory === null ||
      typeof factory !== 'object' ||
      typeof factory.type !== 'string' ||
      typeof factory.create !== 'function' ||
      typeof schema?.safeParse !== 'function'
    ) {
      throw new TrackpipeError(
        'TRACKPIPE_ERR_OPTIONS_INVALID',
        'a binding of TOKENS.ExporterFactory is not an ExporterFactory ({ type: string, options: a zod schema, create(options, context) })',
      );
    }
    if (byType.has(factory.type)) {
      throw new TrackpipeError(
        'TRACKPIPE_ERR_OPTIONS_INVALID',
        `two exporter factories are bound for type "${factory.type}"; bind each type once (use rebind to replace one)`,
      );
    }
    byType.set(factory.type, factory);
  }
  return byType;
}

async function closeAll(processors: readonly Collector<never>[]): Promise<void> {
  // Nothing was recorded; the deadline only bounds the exporters' shutdown.
  await Promise.allSettled(processors.map((p) => p.close({ timeoutMs: 1_000 })));
}
