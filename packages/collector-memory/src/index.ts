export {
  type EventFilter,
  type EventQuery,
  MemoryCollector,
  type MemoryCollectorOptions,
  type WaitForOptions,
} from './memory-collector.js';
// MemoryExporter lives in @trackpipe/core/testing (where OpenTelemetry ships its in-memory exporter);
// re-exported here so that this package's API stays as it was.
export {
  type ExportAnswer,
  type ExportCall,
  type ExportOutcome,
  type ExportStep,
  MemoryExporter,
  type MemoryExporterOptions,
} from '@trackpipe/core/testing';
