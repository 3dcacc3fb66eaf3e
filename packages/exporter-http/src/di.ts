import { type ExporterContext, type ExporterFactory, TOKENS } from '@trackpipe/core';
import { ContainerModule } from 'inversify';
import { httpExporterOptionsFromConfig } from './config.js';
import { HttpExporter } from './http-exporter.js';

/**
 * Builds `type: "http"` exporters from config. Validates the options first; bad ones throw
 * TRACKPIPE_ERR_CONFIG_INVALID naming `<context.path>.<field>`, never the value.
 */
export const httpExporterFactory: ExporterFactory = {
  type: 'http',
  create(options: Readonly<Record<string, unknown>>, context: ExporterContext) {
    return new HttpExporter(httpExporterOptionsFromConfig(options, context.path));
  },
};

/** Binds {@link httpExporterFactory} under `TOKENS.ExporterFactory` (multi-bound: one factory per type). */
export const httpExporterModule = new ContainerModule(({ bind }) => {
  bind<ExporterFactory>(TOKENS.ExporterFactory).toConstantValue(httpExporterFactory);
});
