import { Analytics, type TrackParams } from '@segment/analytics-node';
import type { FlagEvaluationEvent } from '@trackpipe/core';
import { withDeadline } from '../workload.js';
import type { BenchClient, ClientSettings, ShutdownOutcome } from './types.js';

/**
 * @segment/analytics-node pointed at the sink (`host`, path `/v1/batch`) with `flushAt` at the batch
 * size, every other setting at its default. It has no queue bound (each full batch is sent at once and
 * retried on its own). Each flag evaluation is a `track` call carrying the event id as `messageId`.
 * Events whose delivery finally failed are reported through its `error` event: those are its drops.
 */
export class SegmentClient implements BenchClient {
  readonly name = 'segment';
  readonly #analytics: Analytics;
  #failed = 0;

  constructor(settings: ClientSettings) {
    this.#analytics = new Analytics({
      writeKey: 'trackpipe-bench',
      host: settings.sinkUrl,
      path: '/v1/batch',
      flushAt: settings.batchSize,
    });
    this.#analytics.on('error', (error) => {
      if (error.code === 'delivery_failure') this.#failed++;
    });
  }

  prepare(event: FlagEvaluationEvent): unknown {
    const params: TrackParams = {
      userId: event.targetingKey ?? 'anonymous',
      event: event.name,
      properties: {
        flagKey: event.flagKey,
        value: event.value,
        variant: event.variant,
        reason: event.reason,
        provider: event.provider,
        context: event.context,
      },
    };
    if (event.id !== undefined) params.messageId = event.id;
    return params;
  }

  record(input: unknown): void {
    this.#analytics.track(input as TrackParams);
  }

  async shutdown(deadlineMs: number): Promise<ShutdownOutcome> {
    const outcome = await withDeadline(this.#analytics.closeAndFlush({ timeout: deadlineMs }), deadlineMs + 1_000);
    return { ...outcome, reportedDrops: this.#failed };
  }

  reportedDrops(): number {
    return this.#failed;
  }
}
