export { HttpExporter } from './http-exporter.js';
export {
  type HeadersOption,
  type HttpExporterConfig,
  type HttpExporterConfigOutput,
  type HttpExporterOptions,
  type HttpTlsOptions,
  type ResolvedHttpExporterOptions,
  httpExporterConfigSchema,
  httpExporterOptionsFromConfig,
  httpExporterOptionsSchema,
} from './options.js';
export { type HttpBodyFormat, type HttpSerializer } from './formats.js';
export { DEFAULT_GZIP_LEVEL, DEFAULT_ZSTD_LEVEL, type HttpCompression, zstdAvailable } from './compression.js';
export { RETRYABLE_NETWORK_CODES, type StatusClass, classifyStatus, isRetryableNetworkError, parseRetryAfter } from './classify.js';
export { type ResultContext, networkErrorResult, responseResult } from './results.js';
export { idempotencyKey } from './idempotency.js';
export {
  CONTEXT_ATTRIBUTE_PREFIX,
  EVENT_ID_ATTRIBUTE,
  EVENT_NAME_ATTRIBUTE,
  FlagAttributes,
  type OtlpOptions,
  encodeOtlpLogRecord,
  msToUnixNano,
  otlpBatchEncoder,
  otlpEnvelope,
} from './otlp.js';
