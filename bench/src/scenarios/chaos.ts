import { HTTP_CLIENTS } from '../clients/index.js';
import { type Metrics, type Scenario, processFigures } from '../harness.js';
import { BATCH_SIZE, sleep } from '../workload.js';
import { orNull, recordInBursts } from './common.js';

/** Parameters of the chaos scenario. */
export interface ChaosParams {
  /** Events per run. */
  readonly events: number;
  /** Fraction of requests the sink answers 503. */
  readonly failRate: number;
  /** Fraction of requests whose connection the sink resets before reading the body. */
  readonly resetRate: number;
  /** Deadline of the client's shutdown, in ms: past it, shutdown "did not return". */
  readonly deadlineMs: number;
  /** Recording stops early (between bursts) after this many ms: for clients too slow to take every event. */
  readonly budgetMs: number;
}

/** Scenario 4, chaos: a flaky endpoint. Does every event arrive, once, and does shutdown come back? */
export const chaos: Scenario<ChaosParams> = {
  id: 'chaos',
  title: '4. Chaos: 503s and connection resets',
  params: (quick) =>
    quick
      ? { events: 5_000, failRate: 0.2, resetRate: 0.05, deadlineMs: 20_000, budgetMs: 20_000 }
      : { events: 200_000, failRate: 0.2, resetRate: 0.05, deadlineMs: 120_000, budgetMs: 60_000 },
  clients: () => HTTP_CLIENTS,
  timeoutMs: (p) => p.budgetMs + p.deadlineMs + 120_000,
  describe: (p) =>
    `${p.events.toLocaleString('en')} events while the sink answers 503 to ${p.failRate * 100} % of requests and resets the connection of ${p.resetRate * 100} % ` +
    '(before reading the body: a reset or a 503 never delivers anything, so every duplicate is a client sending a delivered event twice). ' +
    `Fault draws are seeded per round, so every client of a round faces the same sequence. After recording, the client is shut down with a deadline of ${p.deadlineMs / 1000} s. ` +
    '**lost** = events recorded − distinct ids at the sink; **dups %** = ids received more than once over the events; **shutdown returned** counts runs whose shutdown came back within the deadline; ' +
    '**wall s** runs from `go` until shutdown returned (or the deadline). Every client uses its own retry defaults.',
  columns: [
    { key: 'lost', label: 'lost', digits: 0 },
    { key: 'duplicatePct', label: 'dups %', digits: 2 },
    { key: 'shutdownReturned', label: 'shutdown returned', kind: 'bool' },
    { key: 'wallS', label: 'wall s', digits: 1 },
    { key: 'reportedDrops', label: 'drops reported', digits: 0 },
    { key: 'requests', label: 'requests', digits: 0 },
  ],

  async runOne({ sink, spawn, params, run }) {
    sink.reset({ failRate: params.failRate, resetRate: params.resetRate, seed: 1_000 + run });
    const child = await spawn({ sinkUrl: sink.url, queueSize: params.events, batchSize: BATCH_SIZE });
    child.send({ type: 'go' });
    const metrics = await child.result();
    await sleep(1_000); // anything still on its way
    const counts = sink.counts();
    return {
      ...metrics,
      lost: (metrics.recorded as number) - counts.distinct,
      duplicates: counts.duplicates,
      duplicatePct: (counts.duplicates / params.events) * 100,
      requests: counts.requests,
      failedRequests: counts.failed,
      resets: counts.resets,
    };
  },

  async child({ client, params, idPrefix }) {
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    const recorded = await recordInBursts(client, params.events, idPrefix, params.budgetMs);
    const outcome = await client.shutdown(params.deadlineMs);
    const metrics: Metrics = {
      events: params.events,
      recorded,
      shutdownReturned: outcome.returned,
      shutdownError: orNull(outcome.error),
      wallS: (performance.now() - t0) / 1000,
      reportedDrops: orNull(outcome.reportedDrops),
      ...processFigures(cpu),
    };
    return metrics;
  },
};
