export { BatchProcessor } from './batch-processor.js';
export type {
  BatchEncoder,
  Collector,
  CollectorStats,
  DropReason,
  Encoder,
  ErrorHandler,
  ExportBatch,
  ExportObservation,
  ExportObserver,
  ExportResult,
  Exporter,
  FailureCounts,
  FlushReport,
  Logger,
} from './contracts.js';
export { DROP_REASONS, ExportResults, jsonEncoder } from './contracts.js';
export { type ErrorCode, ErrorCodes, TrackpipeError, describeError, isRetriable } from './errors.js';
export {
  type AttributeValue,
  type Attributes,
  FLAG_EVALUATION_EVENT,
  type FlagEvaluationEvent,
  type Recorded,
  type TelemetryEvent,
  admitEvent,
  flagEvaluation,
  isFlagEvaluation,
} from './events.js';
export { type ExportFunction, FunctionExporter, type FunctionExporterOptions } from './exporters/function.js';
export { NdjsonExporter, type NdjsonExporterOptions } from './exporters/ndjson.js';
export { FanoutCollector, mergeReports, sumStats } from './fanout.js';
export { eventIdTime, nextEventId, recordTime } from './id.js';
export { consoleLogger, silentLogger } from './logger.js';
export { type BatchProcessorOptions, type ResolvedOptions, type RetryOptions, backoffDelay, resolveOptions } from './options.js';
export { REDACTED, excerpt, isSecretName, redact, redactUrl, secretsOf } from './redact.js';
export { type EventQueue, MemoryQueue, type OverflowPolicy, type QueueListener } from './queue.js';
export { RingBuffer } from './ring.js';
export { type CloseOnSignalsOptions, type Closeable, closeOnSignals } from './shutdown.js';
export { type ExporterContext, type ExporterFactory, TOKENS } from './di/tokens.js';
