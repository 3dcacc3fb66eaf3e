import { HTTP_CLIENTS } from '../clients/index.js';
import { type Metrics, type Scenario, processFigures } from '../harness.js';
import { BATCH_SIZE, sleep } from '../workload.js';
import { orNull, recordInBursts } from './common.js';

/** Parameters of the outage scenario. */
export interface OutageParams {
  /** Events recorded while the sink is down. */
  readonly events: number;
  /** Queue capacity of every client that has one. */
  readonly queueSize: number;
  /** Deadline of the client's shutdown once the sink is back, in ms. */
  readonly deadlineMs: number;
  /** Recording stops early (between bursts) after this many ms: for clients too slow to take every event. */
  readonly budgetMs: number;
}

/**
 * Scenario 5, outage: the sink is down while the application goes on recording. Memory must stay
 * bounded, and what is dropped must be counted exactly.
 */
export const outage: Scenario<OutageParams> = {
  id: 'outage',
  title: '5. Outage: bounded memory, exact drop counts',
  params: (quick) => (quick ? { events: 30_000, queueSize: 10_000, deadlineMs: 20_000, budgetMs: 20_000 } : { events: 1_000_000, queueSize: 10_000, deadlineMs: 60_000, budgetMs: 60_000 }),
  clients: () => HTTP_CLIENTS,
  timeoutMs: (p) => p.budgetMs + p.deadlineMs + 120_000,
  describe: (p) =>
    `The sink is down (connections refused) while ${p.events.toLocaleString('en')} events are recorded into a queue of ${p.queueSize.toLocaleString('en')} (where the client has a bound). ` +
    `Then the sink comes back on the same port and the client is shut down (deadline ${p.deadlineMs / 1000} s). ` +
    '**peak RSS** is the client process\'s maximum RSS by the end of the outage (**base** = once the client was built); ' +
    '**drops reported** is what the client itself says it dropped (— where it exposes no count); **delivered** = distinct ids at the sink after recovery; ' +
    '**exact** = the reported drops equal events − delivered, i.e. every event is either delivered or counted as dropped.',
  columns: [
    { key: 'outageRssMb', label: 'peak RSS MB', digits: 0, ratio: true },
    { key: 'baseRssMb', label: 'base RSS MB', digits: 0 },
    { key: 'reportedDrops', label: 'drops reported', digits: 0 },
    { key: 'delivered', label: 'delivered', digits: 0 },
    { key: 'unaccounted', label: 'events − delivered − drops', digits: 0 },
    { key: 'exact', label: 'exact', kind: 'bool' },
    { key: 'shutdownReturned', label: 'shutdown returned', kind: 'bool' },
  ],

  async runOne({ sink, spawn, params }) {
    sink.reset();
    await sink.stop();
    const child = await spawn({ sinkUrl: sink.url, queueSize: params.queueSize, batchSize: BATCH_SIZE });
    try {
      child.send({ type: 'go' });
      const during = await child.next('recorded');
      sink.reset();
      await sink.start();
      child.send({ type: 'resume' });
      const metrics = await child.result();
      await sleep(1_000);
      const counts = sink.counts();
      const reported = metrics.reportedDrops;
      const recorded = (during.data as Metrics).recorded as number;
      const unaccounted = typeof reported === 'number' ? recorded - counts.distinct - reported : null;
      return {
        ...(during.data as Metrics),
        ...metrics,
        delivered: counts.distinct,
        duplicates: counts.duplicates,
        inferredDrops: recorded - counts.distinct,
        unaccounted,
        exact: unaccounted === null ? null : unaccounted === 0,
      };
    } finally {
      await sink.start();
    }
  },

  async child({ client, params, idPrefix, io }) {
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    const recorded = await recordInBursts(client, params.events, idPrefix, params.budgetMs);
    const during: Metrics = {
      recorded,
      recordMs: performance.now() - t0,
      outageRssMb: process.resourceUsage().maxRSS / 1024,
      outageHeapMb: process.memoryUsage().heapUsed / 1_048_576,
      dropsDuringOutage: orNull(client.reportedDrops()),
    };
    io.send({ type: 'recorded', data: during });
    await io.next('resume');
    const outcome = await client.shutdown(params.deadlineMs);
    const metrics: Metrics = {
      events: params.events,
      shutdownReturned: outcome.returned,
      shutdownMs: outcome.ms,
      reportedDrops: orNull(outcome.reportedDrops ?? client.reportedDrops()),
      ...processFigures(cpu),
    };
    return metrics;
  },
};
