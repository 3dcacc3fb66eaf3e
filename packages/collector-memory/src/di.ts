import {
  type ExporterContext,
  type ExporterFactory,
  type Recorded,
  type TelemetryEvent,
  TOKENS,
} from '@trackpipe/core';
import { ContainerModule } from 'inversify';
import * as z from 'zod';
import { MemoryExporter } from '@trackpipe/core/testing';

/** The config `type` of the memory exporter. */
export const MEMORY_EXPORTER_TYPE = 'memory';

/** Options of {@link createMemoryExporterModule}. */
export interface MemoryExporterModuleOptions {
  /**
   * Called with every exporter the factory builds, so that a test or a development tool can read what
   * a config-built pipeline delivered. Default: none.
   */
  onCreate?: (exporter: MemoryExporter<Recorded<TelemetryEvent>>, context: ExporterContext) => void;
}

const limit = z.number().int().min(1).optional();
/** Options of a `memory` exporter entry: batches above either limit are answered `too_large`. */
const memoryExporterOptions = z.strictObject({ maxBatchSize: limit, maxBatchBytes: limit });

/**
 * The exporter factory for config `type: "memory"`. Options (all optional): `maxBatchSize` and
 * `maxBatchBytes`, integers >= 1, above which batches answer `too_large`. The exporter is named after
 * `context.name`.
 */
export function memoryExporterFactory(moduleOptions: MemoryExporterModuleOptions = {}): ExporterFactory<z.output<typeof memoryExporterOptions>> {
  return {
    type: MEMORY_EXPORTER_TYPE,
    options: memoryExporterOptions,
    create(limits, context) {
      const exporter = new MemoryExporter<Recorded<TelemetryEvent>>({
        ...(limits.maxBatchSize === undefined ? {} : { maxBatchSize: limits.maxBatchSize }),
        ...(limits.maxBatchBytes === undefined ? {} : { maxBatchBytes: limits.maxBatchBytes }),
        name: context.name,
      });
      moduleOptions.onCreate?.(exporter, context);
      return exporter;
    },
  };
}

/** A ContainerModule binding the `memory` exporter factory under `TOKENS.ExporterFactory`, with `options`. */
export function createMemoryExporterModule(options: MemoryExporterModuleOptions = {}): ContainerModule {
  return new ContainerModule(({ bind }) => {
    bind<ExporterFactory>(TOKENS.ExporterFactory).toConstantValue(memoryExporterFactory(options));
  });
}

/** Binds the `memory` exporter factory under `TOKENS.ExporterFactory`: `container.load(memoryExporterModule)`. */
export const memoryExporterModule: ContainerModule = createMemoryExporterModule();
