export {
  type HeadersOption,
  type HttpBodyFormat,
  HttpExporter,
  type HttpExporterOptions,
  type HttpSerializer,
  type HttpTlsOptions,
} from './http-exporter.js';
export { RETRYABLE_NETWORK_CODES, type StatusClass, classifyStatus, isRetryableNetworkError, parseRetryAfter } from './classify.js';
export {
  CONTEXT_ATTRIBUTE_PREFIX,
  EVENT_ID_ATTRIBUTE,
  EVENT_NAME_ATTRIBUTE,
  FlagAttributes,
  type OtlpAnyValue,
  type OtlpKeyValue,
  type OtlpLogRecord,
  type OtlpOptions,
  encodeOtlpLogRecord,
  msToUnixNano,
  otlpEnvelope,
  toAnyValue,
  toKeyValues,
  toOtlpLogRecord,
} from './otlp.js';
export { httpExporterOptionsFromConfig } from './config.js';
