// The exporter modules the service adds to core's (`http`, `kafka` and `memory` exporter types, and
// the spool of a pipeline's `spool` section), each imported only when a configuration uses it: a
// configuration without Kafka or a spool never loads kafkajs or lmdb (most of a start-up's loading).
import { type CreateCollectorOptions, consoleExporterFactory, fileExporterFactory, functionExporterFactory } from '@trackpipe/core/di';
import type { TrackpipeConfig } from '@trackpipe/core/config';

/** A ContainerModule, as `createCollector` takes them. */
export type ExporterModule = NonNullable<CreateCollectorOptions['modules']>[number];

/** The service's exporter types, in the order they were always loaded, each with its module. */
const EXPORTER_MODULES: readonly { readonly type: string; readonly load: () => Promise<ExporterModule> }[] = [
  { type: 'http', load: async () => (await import('@trackpipe/exporter-http/di')).httpExporterModule },
  { type: 'kafka', load: async () => (await import('@trackpipe/exporter-kafka/di')).kafkaExporterModule },
  { type: 'memory', load: async () => (await import('@trackpipe/collector-memory/di')).memoryExporterModule },
];

/** Core's own exporter types (`console`, `file`, `function`): no module to load. */
const CORE_TYPES: ReadonlySet<string> = new Set([consoleExporterFactory.type, fileExporterFactory.type, functionExporterFactory({}).type]);

/**
 * The modules the pipelines need besides core's: the module of each service exporter type they use,
 * and the spool's when a pipeline has a `spool` section. A type that is neither core's nor the
 * service's (unknown, or one of the caller's own modules) loads every service module, so that an
 * unknown type is named with the same list of known types as when all were always loaded.
 */
export async function serviceExporterModules(pipelines: TrackpipeConfig['pipelines']): Promise<ExporterModule[]> {
  const types = new Set(pipelines.flatMap((pipeline) => pipeline.exporters.map((exporter) => exporter.type)));
  const other = [...types].some((type) => !CORE_TYPES.has(type) && !EXPORTER_MODULES.some((m) => m.type === type));
  const modules = EXPORTER_MODULES.filter((m) => other || types.has(m.type)).map((m) => m.load());
  if (pipelines.some((pipeline) => pipeline.spool !== undefined)) modules.push(import('@trackpipe/spool/di').then((m) => m.spoolModule));
  return Promise.all(modules);
}
