// @trackpipe/core/config: the configuration schema, its types and the loader.
export { type Environment, substituteEnv } from './env.js';
export { type ConfigIssue, configError, issuesFromZod, issuesOf, joinPath, parseExporterOptions, safeErrorMap, unreadableOptions } from './issues.js';
export {
  CONFIG_ENV,
  type ConfigSource,
  type LoadConfigOptions,
  type ParseConfigOptions,
  isValidatedConfig,
  loadConfig,
  parseConfig,
  parseConfigText,
  readConfigSource,
} from './load.js';
export {
  type ExporterConfig,
  type MetricsConfig,
  type PipelineConfig,
  type TrackpipeConfig,
  type TrackpipeConfigInput,
  batchSchema,
  configSchema,
  exporterName,
  exporterOptions,
  exporterSchema,
  listenHostSchema,
  metricsSchema,
  pipelineSchema,
  retrySchema,
  toProcessorOptions,
} from './schema.js';
