import { type ExporterContext, type ExporterFactory, TOKENS } from '@trackpipe/core';
import { parseExporterOptions } from '@trackpipe/core/config';
import { ContainerModule } from 'inversify';
import { kafkaExporterConfigSchema } from './config.js';
import { KafkaExporter } from './exporter.js';

/**
 * Builds `type: "kafka"` exporters from config. Validates the options with
 * {@link kafkaExporterConfigSchema}; bad ones throw TRACKPIPE_ERR_CONFIG_INVALID naming
 * `<context.path>.<field>`, never the value. The exporter is named `context.name` and reports to
 * `context.logger`.
 */
export const kafkaExporterFactory: ExporterFactory = {
  type: 'kafka',
  create(options: Readonly<Record<string, unknown>>, context: ExporterContext) {
    const config = parseExporterOptions(kafkaExporterConfigSchema, options, context);
    return new KafkaExporter({ ...config, name: context.name ?? 'kafka', logger: context.logger });
  },
};

/** Binds {@link kafkaExporterFactory} under `TOKENS.ExporterFactory` (multi-bound: one factory per type). */
export const kafkaExporterModule: ContainerModule = new ContainerModule(({ bind }) => {
  bind<ExporterFactory>(TOKENS.ExporterFactory).toConstantValue(kafkaExporterFactory);
});
