export {
  type EventFilter,
  type EventQuery,
  MemoryCollector,
  type MemoryCollectorOptions,
  type WaitForOptions,
} from './memory-collector.js';
export { type ExportCall, type ExportStep, MemoryExporter, type MemoryExporterOptions } from './memory-exporter.js';
