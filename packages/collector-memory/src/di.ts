import {
  type ExporterContext,
  type ExporterFactory,
  type Recorded,
  type TelemetryEvent,
  TOKENS,
  TrackpipeError,
} from '@trackpipe/core';
import { ContainerModule } from 'inversify';
import { MemoryExporter } from './memory-exporter.js';

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

const LIMITS = ['maxBatchSize', 'maxBatchBytes'] as const;

function configError(path: string, problem: string): TrackpipeError {
  return new TrackpipeError('TRACKPIPE_ERR_CONFIG_INVALID', `${path}: ${problem}`, { details: { path } });
}

/**
 * The exporter factory for config `type: "memory"`. Options (all optional): `maxBatchSize` and
 * `maxBatchBytes`, integers >= 1, above which batches answer `too_large`. The exporter is named after
 * `context.name` when given, else `"memory"`. An unknown option or a bad
 * value throws TRACKPIPE_ERR_CONFIG_INVALID naming `<context.path>.<option>` (never echoing the value).
 */
export function memoryExporterFactory(moduleOptions: MemoryExporterModuleOptions = {}): ExporterFactory {
  return {
    type: MEMORY_EXPORTER_TYPE,
    create(options, context) {
      const limits: { maxBatchSize?: number; maxBatchBytes?: number } = {};
      for (const [key, value] of Object.entries(options)) {
        const path = `${context.path}.${key}`;
        if (!(LIMITS as readonly string[]).includes(key)) {
          throw configError(path, `unknown option for a "memory" exporter (known: ${LIMITS.join(', ')})`);
        }
        if (value === undefined) continue;
        if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw configError(path, 'must be an integer >= 1');
        limits[key as (typeof LIMITS)[number]] = value;
      }
      // The config entry's name, when the context carries one (read defensively: an optional field).
      const name = (context as { name?: unknown }).name;
      const exporter = new MemoryExporter<Recorded<TelemetryEvent>>({
        ...limits,
        ...(typeof name === 'string' && name !== '' ? { name } : {}),
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
