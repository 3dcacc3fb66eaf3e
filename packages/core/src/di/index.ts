// @trackpipe/core/di: the composition root (inversify + reflect-metadata; needs the prom-client peer).
export {
  type CreateCollectorOptions,
  PipelineCollector,
  type TrackpipeCollector,
  createCollector,
  validateConfig,
} from './create-collector.js';
export {
  type ExportFunctions,
  consoleExporterFactory,
  fileExporterFactory,
  functionExporterFactory,
} from './factories.js';
export { coreModule, exporterModule } from './modules.js';
export { type ExporterContext, type ExporterFactory, type QueueContext, type QueueFactory, TOKENS } from './tokens.js';
