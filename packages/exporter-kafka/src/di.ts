import { type ExporterContext, type ExporterFactory, TOKENS } from '@trackpipe/core';
import { ContainerModule } from 'inversify';
import type * as z from 'zod';
import { kafkaExporterConfigSchema } from './config.js';
import { KafkaExporter } from './exporter.js';

/**
 * Builds `type: "kafka"` exporters from config. Core validates each entry with `options`
 * ({@link kafkaExporterConfigSchema}) first, naming every bad path, never a value. The exporter is
 * named `context.name` and reports to `context.logger`.
 */
export const kafkaExporterFactory: ExporterFactory<z.output<typeof kafkaExporterConfigSchema>> = {
  type: 'kafka',
  options: kafkaExporterConfigSchema,
  create(options, context: ExporterContext) {
    return new KafkaExporter({ ...options, name: context.name, logger: context.logger });
  },
};

/** Binds {@link kafkaExporterFactory} under `TOKENS.ExporterFactory` (multi-bound: one factory per type). */
export const kafkaExporterModule: ContainerModule = new ContainerModule(({ bind }) => {
  bind<ExporterFactory>(TOKENS.ExporterFactory).toConstantValue(kafkaExporterFactory);
});
