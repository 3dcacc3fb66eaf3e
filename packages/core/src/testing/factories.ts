import { parseExporterOptions } from '../config/issues.js';
import type { Exporter } from '../contracts.js';
import type { ExporterContext, ExporterFactory } from '../di/tokens.js';
import type { Recorded, TelemetryEvent } from '../events.js';
import { silentLogger } from '../logger.js';

/**
 * Builds an exporter through its factory the way `createCollector` does for one config entry:
 * validates `options` with the factory's schema (throwing TRACKPIPE_ERR_CONFIG_INVALID naming each bad
 * path below `context.path`, never a value), then calls `create`. For testing factories.
 */
export function buildExporter<O>(
  factory: ExporterFactory<O>,
  options: Readonly<Record<string, unknown>>,
  context: Partial<ExporterContext> = {},
): Exporter<Recorded<TelemetryEvent>> {
  const full: ExporterContext = { path: 'pipelines[0].exporters[0]', pipeline: 'default', logger: silentLogger, name: factory.type, ...context };
  return factory.create(parseExporterOptions(factory.options, options, full), full);
}
