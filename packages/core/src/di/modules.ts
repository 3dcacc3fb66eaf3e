import { ContainerModule } from 'inversify';
import type { TrackpipeConfig } from '../config/schema.js';
import type { Logger } from '../contracts.js';
import { consoleLogger } from '../logger.js';
import { type MetricsRegistry, resolveRegistry } from '../metrics/instrument.js';
import {
  type ExportFunctions,
  consoleExporterFactory,
  fileExporterFactory,
  functionExporterFactory,
} from './factories.js';
import { type ExporterFactory, TOKENS } from './tokens.js';

/**
 * Core's bindings: the built-in exporter factories (`console`, `file`, `function`) under
 * `TOKENS.ExporterFactory`, and — unless already bound — a default `TOKENS.Logger` (the console) and
 * `TOKENS.MetricsRegistry` (a fresh prom-client Registry, or the global one when the bound config
 * says `metrics.global`). The `function` factory reads `TOKENS.ExportFunctions` (optional).
 */
export const coreModule = new ContainerModule(({ bind, isBound }) => {
  bind<ExporterFactory>(TOKENS.ExporterFactory).toConstantValue(consoleExporterFactory);
  bind<ExporterFactory>(TOKENS.ExporterFactory).toConstantValue(fileExporterFactory);
  bind<ExporterFactory>(TOKENS.ExporterFactory).toDynamicValue((context) =>
    functionExporterFactory(context.get<ExportFunctions>(TOKENS.ExportFunctions, { optional: true }) ?? {}),
  );
  if (!isBound(TOKENS.Logger)) bind<Logger>(TOKENS.Logger).toConstantValue(consoleLogger);
  if (!isBound(TOKENS.MetricsRegistry)) {
    bind<MetricsRegistry>(TOKENS.MetricsRegistry)
      .toDynamicValue((context) => {
        const config = context.get<TrackpipeConfig>(TOKENS.Config, { optional: true });
        return resolveRegistry({ global: config?.metrics.global === true });
      })
      .inSingletonScope();
  }
});

/**
 * A ContainerModule that binds the given exporter factories under `TOKENS.ExporterFactory`: the
 * shortest way for an exporter package or a third party to add a config `type`.
 */
export function exporterModule(...factories: readonly ExporterFactory[]): ContainerModule {
  return new ContainerModule(({ bind }) => {
    for (const factory of factories) bind<ExporterFactory>(TOKENS.ExporterFactory).toConstantValue(factory);
  });
}
