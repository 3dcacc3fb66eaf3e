// @trackpipe/core/testing: helpers for testing code that uses Trackpipe.
export { type Family, type Sample, parseExposition, samples, valueOf } from './exposition.js';
export { buildExporter } from './factories.js';
export {
  type ExportAnswer,
  type ExportCall,
  type ExportOutcome,
  type ExportStep,
  MemoryExporter,
  type MemoryExporterOptions,
} from './memory-exporter.js';
