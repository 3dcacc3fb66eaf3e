import type { Exporter, Logger } from '../contracts.js';
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
} as const;

/** What a factory is told about the exporter it builds. */
export interface ExporterContext {
  /** Config path of the exporter entry, e.g. `pipelines[0].exporters[1]`; errors name paths below it. */
  readonly path: string;
  /** The pipeline the exporter belongs to. */
  readonly pipeline: string;
  /** Where the exporter may report. Never log secrets. */
  readonly logger: Logger;
  /**
   * The name the configuration gives the exporter (its entry's `name`, default its `type`); use it as
   * `Exporter.name`. (createCollector renames an exporter whose name differs.)
   */
  readonly name?: string;
}

/**
 * Builds exporters of one config `type`. Third parties bind their own under
 * `TOKENS.ExporterFactory` in a ContainerModule, and config can use it at once.
 */
export interface ExporterFactory {
  /** The config `type` this factory answers to. */
  readonly type: string;
  /**
   * Validates `options` (the exporter's config entry without `type` and `name`, `${env:...}` already
   * substituted) and builds the exporter. On bad options, throws TRACKPIPE_ERR_CONFIG_INVALID whose
   * message names the path below `context.path` and never echoes a value (it may be a secret).
   */
  create(options: Readonly<Record<string, unknown>>, context: ExporterContext): Exporter<Recorded<TelemetryEvent>>;
}
