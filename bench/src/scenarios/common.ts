import type { BenchClient } from '../clients/types.js';
import { BURST, flagEvaluationAt, nextTurn } from '../workload.js';

/**
 * Records events `0` .. `count - 1` in bursts of {@link BURST}, yielding to the event loop
 * (setImmediate) between bursts so that the client's exports run while recording goes on. Stops
 * early, between bursts, once `budgetMs` have passed (a client too slow to record everything in
 * reasonable time); resolves with the number of events recorded.
 */
export async function recordInBursts(client: BenchClient, count: number, idPrefix: string | undefined, budgetMs = Number.POSITIVE_INFINITY): Promise<number> {
  const t0 = performance.now();
  let recorded = 0;
  while (recorded < count) {
    const stop = Math.min(count, recorded + BURST);
    for (let i = recorded; i < stop; i++) client.record(client.prepare(flagEvaluationAt(i, idPrefix)));
    recorded = stop;
    await nextTurn();
    if (performance.now() - t0 > budgetMs) break;
  }
  return recorded;
}

/** `value` or null when undefined (metrics are JSON). */
export function orNull<T>(value: T | undefined): T | null {
  return value === undefined ? null : value;
}
