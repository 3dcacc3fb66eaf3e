import type { FlagEvaluationEvent } from '@trackpipe/core';
import { type EventMessage, PostHog } from 'posthog-node';
import { withDeadline } from '../workload.js';
import type { BenchClient, ClientSettings, ShutdownOutcome } from './types.js';

/**
 * posthog-node pointed at the sink (`host`): `flushAt` and `maxBatchSize` at the batch size,
 * `maxQueueSize` at the scenario's queue, compression off (like every other client here), no personal
 * API key (so no feature-flag polling) and no flags on capture (so no `/flags` requests). Each flag
 * evaluation is a `$feature_flag_called` event carrying the event id in `properties.id`. Its queue
 * drops the oldest event when full, without exposing a count.
 */
export class PosthogClient implements BenchClient {
  readonly name = 'posthog';
  readonly #client: PostHog;

  constructor(settings: ClientSettings) {
    this.#client = new PostHog('phc_trackpipe_bench', {
      host: settings.sinkUrl,
      flushAt: settings.batchSize,
      maxBatchSize: settings.batchSize,
      maxQueueSize: settings.queueSize,
      disableCompression: true,
    });
  }

  prepare(event: FlagEvaluationEvent): unknown {
    const properties: Record<string, unknown> = {
      $feature_flag: event.flagKey,
      $feature_flag_response: event.variant,
      value: event.value,
      reason: event.reason,
      provider: event.provider,
      plan: event.context?.plan,
      region: event.context?.region,
    };
    if (event.id !== undefined) properties.id = event.id;
    const message: EventMessage = { distinctId: event.targetingKey ?? 'anonymous', event: '$feature_flag_called', properties };
    return message;
  }

  record(input: unknown): void {
    this.#client.capture(input as EventMessage);
  }

  async shutdown(deadlineMs: number): Promise<ShutdownOutcome> {
    return withDeadline(this.#client.shutdown(deadlineMs), deadlineMs + 1_000);
  }

  reportedDrops(): undefined {
    return undefined;
  }
}
