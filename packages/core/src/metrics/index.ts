// @trackpipe/core/metrics: Prometheus self-metrics (needs the prom-client peer dependency).
export {
  BUCKETS,
  EXPORT_OUTCOMES,
  FAILURE_KINDS,
  METRICS,
  type MetricDefinition,
  type MetricLabel,
} from './definitions.js';
export {
  type InstrumentOptions,
  type Instrumentation,
  type MetricsRegistry,
  type MetricsSource,
  enableDefaultMetrics,
  instrument,
  resolveRegistry,
} from './instrument.js';
export {
  type MetricsHandlerOptions,
  type MetricsServer,
  type MetricsServerOptions,
  type RequestListener,
  metricsHandler,
  startMetricsServer,
} from './server.js';
export { FLAG_METRICS, type FlagEvaluationMetricsOptions, instrumentFlagEvaluations } from '../summaries/metrics.js';
