// @trackpipe/service: the runnable collector service (HTTP and gRPC ingest, /metrics, health, graceful shutdown).
export { ApiKeyAuth, bearerToken } from './auth.js';
export { ByteBudget } from './budget.js';
export { type CheckServiceConfigOptions, type ServiceConfigCheck, checkServiceConfig } from './check.js';
export {
  type LoadServiceConfigOptions,
  type ParseServiceConfigOptions,
  type ReceiverConfig,
  type ServiceConfig,
  type ServiceSettings,
  type ServiceSettingsInput,
  defaultServiceConfig,
  exposureIssues,
  listenersOf,
  loadServiceConfig,
  parseServiceConfig,
  readServiceDocument,
  receiverEntrySchema,
  receiverName,
  receiverOptions,
  receiversSchema,
  serviceSchema,
} from './config.js';
export { type Listener, isLoopback } from './exposure.js';
export {
  GRPC_METHODS,
  GRPC_SERVICE_NAME,
  GrpcIngestServer,
  type GrpcServerOptions,
  type GrpcServerParts,
  PROTO_FILE,
  PROTO_LOADER_OPTIONS,
  PROTO_ROOT,
  loadAnalyticsService,
} from './grpc-server.js';
export {
  type IdempotencyStore,
  type IdempotencyPersistence,
  MemoryIdempotencyStore,
  type MemoryIdempotencyStoreOptions,
  type PersistedAnswer,
  type RememberedAnswer,
  fingerprintOf,
  isValidIdempotencyKey,
  scopedKey,
} from './idempotency.js';
export { HttpIngestServer, type HttpServerOptions, type HttpServerParts } from './http-server.js';
export { type Admission, Ingestor, type IngestorOptions, type RefusedReason } from './ingest.js';
export { type JsonLoggerOptions, LOG_LEVELS, type LogLevel, type ServiceLogger, jsonLogger, silentServiceLogger } from './logger.js';
export { RECEIVER_METRICS, instrumentReceivers } from './receiver-metrics.js';
export {
  type Receiver,
  type ReceiverContext,
  type ReceiverFactory,
  type ReceiverStats,
  type ReceiverStopReport,
  SERVICE_RECEIVER_FACTORIES,
  checkReceivers,
  receiverFactories,
} from './receivers.js';
export { type ConfiguredService, type CreateServiceOptions, createService, describePipelines, describeReceivers } from './serve.js';
export {
  type ServiceAddresses,
  type ShutdownReport,
  TrackpipeService,
  type TrackpipeServiceOptions,
} from './service.js';
export {
  HTTP_ROUTES,
  type IdempotencyOutcome,
  type PromRegistry,
  SERVICE_METRICS,
  ServiceMetrics,
  type Transport,
} from './service-metrics.js';
export {
  IDENTIFY_EVENT,
  type IngestEvent,
  type ResolvedValidationLimits,
  type Validation,
  type ValidationIssue,
  type ValidationLimits,
  describeIssues,
  resolveLimits,
  validateBatch,
  validateEvent,
  validateEvents,
  validateIdentify,
} from './validate.js';
