import type { LogRecord, Logger } from '@opentelemetry/api-logs';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
import type { FlagEvaluationEvent } from '@trackpipe/core';
import { withDeadline } from '../workload.js';
import type { BenchClient, ClientSettings, ShutdownOutcome } from './types.js';

/**
 * OpenTelemetry JS: a `LoggerProvider` with a `BatchLogRecordProcessor` (batch size and queue set for
 * the scenario, other options at their defaults) and the OTLP/HTTP JSON `OTLPLogExporter` pointed at
 * the sink. Each flag evaluation is a log record (event) with `feature_flag.*` attributes and the
 * event id in `event.id`. It does not expose its drop count.
 */
export class OtelClient implements BenchClient {
  readonly name = 'otel';
  readonly #provider: LoggerProvider;
  readonly #logger: Logger;

  constructor(settings: ClientSettings) {
    const exporter = new OTLPLogExporter({ url: new URL('/v1/logs', settings.sinkUrl).href });
    const processor = new BatchLogRecordProcessor({
      exporter,
      maxExportBatchSize: settings.batchSize,
      maxQueueSize: settings.queueSize,
    });
    this.#provider = new LoggerProvider({
      resource: resourceFromAttributes({ 'service.name': 'trackpipe-bench' }),
      processors: [processor],
    });
    this.#logger = this.#provider.getLogger('trackpipe-bench');
  }

  prepare(event: FlagEvaluationEvent): unknown {
    const attributes: Record<string, string | boolean> = {
      'feature_flag.key': event.flagKey,
      'feature_flag.result.value': event.value as boolean,
      'feature_flag.result.variant': event.variant ?? '',
      'feature_flag.result.reason': event.reason ?? '',
      'feature_flag.provider.name': event.provider ?? '',
      'feature_flag.context.id': event.targetingKey ?? '',
      'trackpipe.context.plan': event.context?.plan as string,
      'trackpipe.context.region': event.context?.region as string,
    };
    if (event.id !== undefined) attributes['event.id'] = event.id;
    const record: LogRecord = { eventName: event.name, attributes };
    return record;
  }

  record(input: unknown): void {
    this.#logger.emit(input as LogRecord);
  }

  async shutdown(deadlineMs: number): Promise<ShutdownOutcome> {
    return withDeadline(this.#provider.shutdown(), deadlineMs);
  }

  reportedDrops(): undefined {
    return undefined;
  }
}
