import { HTTP_CLIENTS } from '../clients/index.js';
import { type Metrics, type Scenario, processFigures } from '../harness.js';
import { BATCH_SIZE, BURST, sleep } from '../workload.js';
import { orNull, recordInBursts } from './common.js';

/** Parameters of the end-to-end scenario. */
export interface EndToEndParams {
  /** Events per run. */
  readonly events: number;
  /** Deadline of the client's shutdown, in ms. */
  readonly deadlineMs: number;
  /** Recording stops early (between bursts) after this many ms: for clients too slow to take every event. */
  readonly budgetMs: number;
}

/**
 * Scenario 2, end to end: how fast events get from `record()` to the sink, and at what CPU and memory.
 * The clock runs in the parent from `go` until the sink has counted the last distinct id.
 */
export const endToEnd: Scenario<EndToEndParams> = {
  id: 'end-to-end',
  title: '2. End to end: delivered events per second',
  params: (quick) => (quick ? { events: 20_000, deadlineMs: 30_000, budgetMs: 20_000 } : { events: 500_000, deadlineMs: 60_000, budgetMs: 60_000 }),
  clients: () => [...HTTP_CLIENTS, 'trackpipe-json-gzip', 'trackpipe-json-spool'],
  timeoutMs: (p) => p.budgetMs + p.deadlineMs + 120_000,
  describe: (p) =>
    `${p.events.toLocaleString('en')} events (ids from the harness) recorded in bursts of ${BURST.toLocaleString('en')} with a yield between bursts, then the client is shut down (flush + close). ` +
    '**events/s** = events ÷ time from `go` until the sink has counted every distinct id (the clock is in the parent, which runs the sink); ' +
    `a client that cannot record every event within ${p.budgetMs / 1000} s, or has not delivered everything when its shutdown deadline (${p.deadlineMs / 1000} s) passes, is rated on the ids it delivered until the last one arrived (**all in** counts the runs that delivered every event). ` +
    '**CPU µs/event** is the client process\'s user + system CPU (all threads, `process.cpuUsage`) from `go` until its shutdown returned, over the events. ' +
    '**peak RSS** is the client process\'s maximum resident set (`process.resourceUsage().maxRSS`); **base RSS** its RSS once the client was built. ' +
    'Every client sends uncompressed bodies (like the floor); the row *Trackpipe JSON, defaults* is the exporter as shipped (gzip level 1 for bodies of 1 KiB and more), ' +
    'and *Trackpipe JSON + spool* is Trackpipe JSON with its queue on disk (`queue: new Spool({ path, maxPendingEvents })`: the room in memory for events waiting for their commit is the queue size the in-memory clients get, its other options at their defaults).',
  columns: [
    { key: 'eventsPerSec', label: 'events/s', digits: 0, ratio: true },
    { key: 'cpuUsPerEvent', label: 'CPU µs/event', digits: 2, ratio: true },
    { key: 'maxRssMb', label: 'peak RSS MB', digits: 0, ratio: true },
    { key: 'baseRssMb', label: 'base RSS MB', digits: 0 },
    { key: 'wireBytesPerEvent', label: 'wire B/event', digits: 0 },
    { key: 'delivered', label: 'delivered', digits: 0 },
    { key: 'complete', label: 'all in', kind: 'bool' },
    { key: 'duplicates', label: 'dups', digits: 0 },
  ],

  async runOne({ sink, spawn, params }) {
    sink.reset();
    const child = await spawn({ sinkUrl: sink.url, queueSize: params.events, batchSize: BATCH_SIZE });
    const arrival = sink.whenDistinct(params.events);
    const t0 = performance.now();
    child.send({ type: 'go' });
    const metrics = await child.result();
    const at = await Promise.race([arrival, sleep(2_000).then(() => undefined)]);
    const counts = sink.counts();
    // Clients that do not deliver everything before their shutdown deadline are rated on what they did deliver.
    const last = at ?? sink.lastNewAt;
    return {
      ...metrics,
      complete: at !== undefined,
      eventsPerSec: last > t0 ? counts.distinct / ((last - t0) / 1000) : null,
      deliverMs: last > t0 ? last - t0 : null,
      cpuUsPerEvent: ((metrics.cpuMs as number) * 1000) / params.events,
      delivered: counts.distinct,
      duplicates: counts.duplicates,
      requests: counts.requests,
      wireBytesPerEvent: counts.wireBytes / params.events,
      bodyBytesPerEvent: counts.bodyBytes / params.events,
    };
  },

  async child({ client, params, idPrefix }) {
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    const recorded = await recordInBursts(client, params.events, idPrefix, params.budgetMs);
    const recordMs = performance.now() - t0;
    const outcome = await client.shutdown(params.deadlineMs);
    const metrics: Metrics = {
      events: params.events,
      recorded,
      recordMs,
      shutdownMs: outcome.ms,
      shutdownReturned: outcome.returned,
      totalMs: performance.now() - t0,
      reportedDrops: orNull(outcome.reportedDrops),
      ...processFigures(cpu),
    };
    return metrics;
  },
};
