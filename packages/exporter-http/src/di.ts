import { type ExporterContext, type ExporterFactory, type Recorded, TOKENS, type TelemetryEvent } from '@trackpipe/core';
import { parseExporterOptions } from '@trackpipe/core/config';
import { ContainerModule } from 'inversify';
import { HttpExporter } from './http-exporter.js';
import { httpExporterConfigSchema } from './options.js';

/**
 * Builds `type: "http"` exporters from config. Validates the options with the exporter's schema
 * first; bad ones throw TRACKPIPE_ERR_CONFIG_INVALID naming `<context.path>.<field>` and the problem,
 * never the value. The exporter takes its name (`context.name`, default `"http"`) and logger from the
 * context.
 */
export const httpExporterFactory: ExporterFactory = {
  type: 'http',
  create(options: Readonly<Record<string, unknown>>, context: ExporterContext) {
    const parsed = parseExporterOptions(httpExporterConfigSchema, options, context);
    return new HttpExporter<Recorded<TelemetryEvent>>({ ...parsed, name: context.name ?? 'http', logger: context.logger });
  },
};

/** Binds {@link httpExporterFactory} under `TOKENS.ExporterFactory` (multi-bound: one factory per type). */
export const httpExporterModule = new ContainerModule(({ bind }) => {
  bind<ExporterFactory>(TOKENS.ExporterFactory).toConstantValue(httpExporterFactory);
});
