import { FLAG_EVALUATION_EVENT, type FlagEvaluationEvent } from '@trackpipe/core';

// The one workload every client gets: feature-flag evaluations of about 200 bytes of JSON. The fields
// vary with the event's index so that no client can cache a serialized form.

const FLAGS = ['checkout-redesign', 'new-pricing-page', 'search-v2', 'dark-mode', 'onboarding-flow', 'recs-model-b', 'fast-cart', 'beta-banner'];
const VARIANTS = ['on', 'off', 'control', 'treatment'];
const REASONS = ['TARGETING_MATCH', 'SPLIT', 'DEFAULT', 'STATIC'];
const PLANS = ['free', 'pro', 'team', 'enterprise'];
const REGIONS = ['eu-west-1', 'us-east-1', 'ap-south-1'];

/** Events recorded between two yields to the event loop (`setImmediate`). */
export const BURST = 10_000;

/** Events per batch, for every client. */
export const BATCH_SIZE = 512;

/**
 * The flag evaluation with index `i`. With `idPrefix` the event carries the id `<idPrefix><i>`, which
 * every client carries through to the sink (Trackpipe `id`, posthog `properties.id`, segment
 * `messageId`, OpenTelemetry attribute `event.id`); without it each client identifies events its own
 * way (Trackpipe assigns a UUIDv7 in `record()`).
 */
export function flagEvaluationAt(i: number, idPrefix?: string): FlagEvaluationEvent {
  const event: FlagEvaluationEvent = {
    name: FLAG_EVALUATION_EVENT,
    flagKey: FLAGS[i & 7] as string,
    value: (i & 1) === 0,
    variant: VARIANTS[i & 3],
    reason: REASONS[(i >>> 2) & 3],
    targetingKey: `user-${i % 100_000}`,
    provider: 'flagd',
    context: { plan: PLANS[(i >>> 3) & 3] as string, region: REGIONS[i % 3] as string },
  };
  if (idPrefix !== undefined) event.id = idPrefix + String(i);
  return event;
}

/** Resolves on the next turn of the event loop's check phase. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** What a promise came to within a deadline. */
export interface Deadlined<T> {
  /** True when the promise settled before the deadline. */
  readonly returned: boolean;
  /** Its value, when it resolved in time. */
  readonly value?: T;
  /** Its rejection, when it rejected in time. */
  readonly error?: string;
  /** Milliseconds until it settled, or until the deadline. */
  readonly ms: number;
}

/** Awaits `promise` for at most `ms` milliseconds; never rejects. */
export async function withDeadline<T>(promise: Promise<T>, ms: number): Promise<Deadlined<T>> {
  const start = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'deadline'>((resolve) => {
    timer = setTimeout(() => resolve('deadline'), ms);
  });
  try {
    const outcome = await Promise.race([
      promise.then(
        (value) => ({ value }),
        (error: unknown) => ({ error: error instanceof Error ? error.message : String(error) }),
      ),
      deadline,
    ]);
    const elapsed = performance.now() - start;
    if (outcome === 'deadline') return { returned: false, ms: elapsed };
    return { returned: true, ...outcome, ms: elapsed };
  } finally {
    clearTimeout(timer);
  }
}
