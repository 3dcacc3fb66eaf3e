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
export { DROP_REASONS, ExportResults, jsonEncoder, plainJsonEvents } from './contracts.js';
export { type ErrorCode, ErrorCodes, TrackpipeError, describeError, isRetriable } from './errors.js';
export {
  type AttributeValue,
  type Attributes,
  FLAG_EVALUATION_EVENT,
  type FlagEvaluationEvent,
  type Recorded,
  type TelemetryEvent,
  flagEvaluation,
  isFlagEvaluation,
} from './events.js';
export { type ExportFunction, FunctionExporter, type FunctionExporterOptions } from './exporters/function.js';
export { NdjsonExporter, type NdjsonExporterOptions } from './exporters/ndjson.js';
export { FanoutCollector, type FanoutOptions } from './fanout.js';
export { eventIdTime, nextEventId } from './id.js';
export { consoleLogger, silentLogger } from './logger.js';
export {
  BATCH_OPTIONS,
  type BatchProcessorOptions,
  type NumericOption,
  OVERFLOW_POLICIES,
  RETRY_OPTIONS,
  type ResolvedOptions,
  type RetryOptions,
} from './options.js';
export { type EventQueue, MemoryQueue, type OverflowPolicy, type QueueListener } from './queue.js';
export { REDACTED, excerpt, isSecretName, redact, redactUrl, secretsOf } from './redact.js';
export { type CloseOnSignalsOptions, type Closeable, closeOnSignals } from './shutdown.js';
export { type ExporterContext, type ExporterFactory, type QueueContext, type QueueFactory, TOKENS } from './di/tokens.js';
export {
  type ResolvedSummarizingOptions,
  SummarizingCollector,
  type SummarizingOptions,
  type SummarizingStats,
  type SummaryWindowListener,
} from './summaries/summarizing-collector.js';
export {
  FLAG_EVALUATION_SUMMARY_EVENT,
  type FlagEvaluationSummaryAttributes,
  type FlagEvaluationSummaryEvent,
  SUMMARY_OTHER,
  SummaryAttributes,
  isFlagEvaluationSummary,
} from './summaries/summary-event.js';
