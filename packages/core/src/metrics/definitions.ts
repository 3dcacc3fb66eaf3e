/** The label names Trackpipe's self-metrics use. All bounded: no event, flag or user data. */
export type MetricLabel = 'pipeline' | 'exporter' | 'reason' | 'kind' | 'outcome';

/** One self-metric: its exposition name, type, help text and labels. */
export interface MetricDefinition {
  readonly name: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly help: string;
  readonly labels: readonly MetricLabel[];
}

const PE = ['pipeline', 'exporter'] as const;

/**
 * Every self-metric Trackpipe registers. Counters and gauges are read from the processors' `stats()`
 * at scrape time; histograms are fed once per export attempt. `pipeline` is the pipeline's name,
 * `exporter` the exporter's name within it (each exporter has its own processor and queue).
 */
export const METRICS = {
  recorded: {
    name: 'trackpipe_events_recorded_total',
    type: 'counter',
    help: 'Events passed to record(), valid or not (every exporter of a pipeline counts each event once).',
    labels: PE,
  },
  exported: {
    name: 'trackpipe_events_exported_total',
    type: 'counter',
    help: 'Events the exporter delivered.',
    labels: PE,
  },
  dropped: {
    name: 'trackpipe_events_dropped_total',
    type: 'counter',
    help: 'Events dropped, by reason (invalid, queue_full, closed, rejected, too_large, unserializable, retries_exhausted, shutdown_timeout).',
    labels: [...PE, 'reason'],
  },
  failures: {
    name: 'trackpipe_export_failures_total',
    type: 'counter',
    help: 'Failed export attempts, by kind (retryable, permanent, timeout).',
    labels: [...PE, 'kind'],
  },
  retries: {
    name: 'trackpipe_export_retries_total',
    type: 'counter',
    help: 'Batches scheduled for another export attempt.',
    labels: PE,
  },
  queued: {
    name: 'trackpipe_queue_size_events',
    type: 'gauge',
    help: 'Events waiting: in the queue or in a batch waiting to be retried.',
    labels: PE,
  },
  capacity: {
    name: 'trackpipe_queue_capacity_events',
    type: 'gauge',
    help: 'Capacity of the queue, in events.',
    labels: PE,
  },
  inFlightEvents: {
    name: 'trackpipe_in_flight_events',
    type: 'gauge',
    help: 'Events in batches being exported now.',
    labels: PE,
  },
  inFlightBatches: {
    name: 'trackpipe_in_flight_batches',
    type: 'gauge',
    help: 'Batches being exported now.',
    labels: PE,
  },
  lastExport: {
    name: 'trackpipe_last_export_timestamp_seconds',
    type: 'gauge',
    help: 'Unix time of the last successful export (absent before the first).',
    labels: PE,
  },
  duration: {
    name: 'trackpipe_export_duration_seconds',
    type: 'histogram',
    help: 'Duration of export attempts, by outcome (ok, retry, reject, too_large, timeout, error).',
    labels: [...PE, 'outcome'],
  },
  batchEvents: {
    name: 'trackpipe_export_batch_size_events',
    type: 'histogram',
    help: 'Events per export attempt.',
    labels: PE,
  },
  batchBytes: {
    name: 'trackpipe_export_batch_size_bytes',
    type: 'histogram',
    help: 'Serialized bytes per export attempt.',
    labels: PE,
  },
} as const satisfies Record<string, MetricDefinition>;

/** Bucket bounds of the histograms. */
export const BUCKETS = {
  /** Seconds: 5 ms to 30 s. */
  duration: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  /** Events: 1 to 8 192, powers of 2 and 4. */
  batchEvents: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192],
  /** Bytes: 1 KiB to 16 MiB, powers of 4. */
  batchBytes: [1024, 4096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216],
} as const;

/** Export outcomes as the duration histogram labels them. */
export const EXPORT_OUTCOMES = ['ok', 'retry', 'reject', 'too_large', 'timeout', 'error'] as const;

/** Failure kinds as `trackpipe_export_failures_total` labels them. */
export const FAILURE_KINDS = ['retryable', 'permanent', 'timeout', 'auth'] as const;
