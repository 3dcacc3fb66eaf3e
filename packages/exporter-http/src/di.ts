import { type ExporterContext, type ExporterFactory, type Recorded, TOKENS, type TelemetryEvent } from '@trackpipe/core';
import { ContainerModule } from 'inversify';
import { HttpExporter } from './http-exporter.js';
import { type HttpExporterConfigOutput, httpExporterConfigSchema } from './options.js';

/**
 * Builds `type: "http"` exporters from config. Core validates each entry with `options`
 * ({@link httpExporterConfigSchema}) before anything is built, naming each bad path and never a value;
 * the exporter takes its name and logger from the context.
 */
export const httpExporterFactory: ExporterFactory<HttpExporterConfigOutput> = {
  type: 'http',
  options: httpExporterConfigSchema,
  create(options: HttpExporterConfigOutput, context: ExporterContext) {
    return new HttpExporter<Recorded<TelemetryEvent>>({ ...options, name: context.name });
  },
};

/** Binds {@link httpExporterFactory} under `TOKENS.ExporterFactory` (multi-bound: one factory per type). */
export const httpExporterModule = new ContainerModule(({ bind }) => {
  bind<ExporterFactory>(TOKENS.ExporterFactory).toConstantValue(httpExporterFactory);
});
