import type * as z from 'zod';
import type { Exporter, Logger } from '../contracts.js';
import type { EventQueue } from '../queue.js';
import type { Recorded, TelemetryEvent } from '../events.js';

/**
 * Injection tokens. Plain symbols with no inversify import, so that any package can name them;
 * containers and modules live in `@trackpipe/core/di`.
 */
export const TOKENS = {
  /** Multi-bound: one {@link ExporterFactory} per exporter `type` ("http", "kafka", "memory", ...). */
  ExporterFactory: Symbol('@trackpipe/core:ExporterFactory'),
  /** The prom-client Registry that self-metrics go into. */
  MetricsRegistry: Symbol('@trackpipe/core:MetricsRegistry'),
  /** The {@link Logger} every part reports to. */
  Logger: Symbol('@trackpipe/core:Logger'),
  /** The validated configuration. */
  Config: Symbol('@trackpipe/core:Config'),
  /**
   * The functions the `function` exporter type refers to by name (`{ type: 'function', ref: 'myFn' }`):
   * a `Readonly<Record<string, ExportFunction>>`.
   */
  ExportFunctions: Symbol('@trackpipe/core:ExportFunctions'),
  /** The {@link QueueFactory} that opens a pipeline's `spool` (bound by `@trackpipe/spool/di`). */
  QueueFactory: Symbol('@trackpipe/core:QueueFactory'),
} as const;

/** What a factory is told about the exporter it builds. */
export interface ExporterContext {
  /** Config path of the exporter entry, e.g. `pipelines[0].exporters[1]`. */
  readonly path: string;
  /** The pipeline the exporter belongs to. */
  readonly pipeline: string;
  /** Where the exporter reports. Never log secrets. */
  readonly logger: Logger;
  /** The name the configuration gives the exporter (its entry's `name`, default its `type`): the exporter's `name`. */
  readonly name: string;
}

/**
 * Builds exporters of one config `type`. Third parties bind their own under
 * `TOKENS.ExporterFactory` in a ContainerModule (a plain object, or an `@injectable` class whose
 * constructor receives the logger, the metrics registry, ...), and config can use it at once.
 */
export interface ExporterFactory<O = unknown> {
  /** The config `type` this factory answers to. */
  readonly type: string;
  /**
   * The schema of the exporter's options: its config entry without `type` and `name`, `${env:...}`
   * already substituted. Core validates every entry with it before anything is built, and reports each
   * bad path without echoing a value (see `safeErrorMap` in `@trackpipe/core/config` for wording).
   */
  readonly options: z.ZodType<O>;
  /** Builds the exporter from validated options. Name it `context.name` and report to `context.logger`. */
  create(options: O, context: ExporterContext): Exporter<Recorded<TelemetryEvent>>;
}

/** What a {@link QueueFactory} is told about the queue it opens. */
export interface QueueContext {
  /** Config path of the pipeline's `spool` section, e.g. `pipelines[0].spool`. */
  readonly path: string;
  /** The pipeline the queue belongs to. */
  readonly pipeline: string;
  /** The exporter the queue feeds: each exporter of a pipeline has a queue of its own. */
  readonly exporter: string;
  /** Where the queue reports. */
  readonly logger: Logger;
}

/**
 * Opens the durable queue of a pipeline whose config has a `spool` section, once per exporter. Bound
 * under `TOKENS.QueueFactory` by `@trackpipe/spool/di`; core validates the section with `options`
 * before anything is opened, like an exporter entry.
 */
export interface QueueFactory<O = unknown> {
  /** Schema of a pipeline's `spool` section. */
  readonly options: z.ZodType<O>;
  /** Opens (and recovers) the queue for one exporter of the pipeline. */
  open(options: O, context: QueueContext): EventQueue<Recorded<TelemetryEvent>>;
}
