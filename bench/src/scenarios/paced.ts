import { monitorEventLoopDelay } from 'node:perf_hooks';
import { HTTP_CLIENTS } from '../clients/index.js';
import { type Metrics, type Scenario, processFigures } from '../harness.js';
import { BATCH_SIZE, flagEvaluationAt, sleep } from '../workload.js';
import { orNull } from './common.js';

/** Parameters of the paced scenario. */
export interface PacedParams {
  /** Events per second. */
  readonly rate: number;
  /** Length of the paced window, in seconds. */
  readonly seconds: number;
  /** Deadline of the client's shutdown, in ms. */
  readonly deadlineMs: number;
}

/**
 * Scenario 3, paced: a steady application load. What does the client do to the application's event
 * loop, and how much CPU does it take?
 */
export const paced: Scenario<PacedParams> = {
  id: 'paced',
  title: '3. Paced load: event-loop delay and CPU',
  params: (quick) => (quick ? { rate: 20_000, seconds: 1, deadlineMs: 30_000 } : { rate: 20_000, seconds: 10, deadlineMs: 60_000 }),
  clients: () => HTTP_CLIENTS,
  timeoutMs: (p) => p.seconds * 1000 + p.deadlineMs + 60_000,
  describe: (p) =>
    `${p.rate.toLocaleString('en')} events/s for ${p.seconds} s: a 1 ms timer records the events due so far (about ${Math.round(p.rate / 1000)} per tick). ` +
    "**p99 / max delay** come from `perf_hooks.monitorEventLoopDelay` (resolution 1 ms) over the window; **CPU %** is the client process's CPU over the window (100 % = one core). " +
    'A client that falls behind the pace gets twice the window, then stops recording. After the window the client is shut down and the sink must have every id (**delivered**).',
  columns: [
    { key: 'delayP99Ms', label: 'loop delay p99 ms', digits: 2, ratio: true },
    { key: 'delayMaxMs', label: 'loop delay max ms', digits: 1 },
    { key: 'delayMeanMs', label: 'loop delay mean ms', digits: 2 },
    { key: 'cpuPct', label: 'CPU %', digits: 1, ratio: true },
    { key: 'delivered', label: 'delivered', digits: 0 },
  ],

  async runOne({ sink, spawn, params }) {
    const events = params.rate * params.seconds;
    sink.reset();
    const child = await spawn({ sinkUrl: sink.url, queueSize: events, batchSize: BATCH_SIZE });
    const arrival = sink.whenDistinct(events);
    child.send({ type: 'go' });
    const metrics = await child.result();
    await Promise.race([arrival, sleep(2_000)]);
    const counts = sink.counts();
    return { ...metrics, delivered: counts.distinct, duplicates: counts.duplicates };
  },

  async child({ client, params, idPrefix }) {
    const events = params.rate * params.seconds;
    const histogram = monitorEventLoopDelay({ resolution: 1 });
    const cpu = process.cpuUsage();
    histogram.enable();
    const t0 = performance.now();
    let recorded = 0;
    await new Promise<void>((resolve) => {
      const tick = (): void => {
        const due = Math.min(events, Math.floor(((performance.now() - t0) * params.rate) / 1000));
        while (recorded < due) {
          client.record(client.prepare(flagEvaluationAt(recorded, idPrefix)));
          recorded++;
        }
        // A client that cannot keep up is given twice the window, then the window ends.
        if (recorded >= events || performance.now() - t0 > 2_000 * params.seconds) resolve();
        else setTimeout(tick, 1);
      };
      setTimeout(tick, 1);
    });
    const windowMs = performance.now() - t0;
    histogram.disable();
    const window = process.cpuUsage(cpu);
    const cpuWindowMs = (window.user + window.system) / 1000;
    const outcome = await client.shutdown(params.deadlineMs);
    const metrics: Metrics = {
      events,
      recorded,
      windowMs,
      delayP99Ms: histogram.percentile(99) / 1e6,
      delayMaxMs: histogram.max / 1e6,
      delayMeanMs: histogram.mean / 1e6,
      cpuWindowMs,
      cpuPct: (cpuWindowMs / windowMs) * 100,
      shutdownReturned: outcome.returned,
      reportedDrops: orNull(outcome.reportedDrops),
      ...processFigures(cpu),
    };
    return metrics;
  },
};
