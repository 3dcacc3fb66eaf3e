import { clientInfo, createClient } from '../clients/index.js';
import type { BenchClient, ClientInfo, ClientSettings } from '../clients/types.js';
import { type Metrics, type Scenario, processFigures } from '../harness.js';
import { BATCH_SIZE, BURST, flagEvaluationAt, nextTurn, sleep } from '../workload.js';
import { orNull } from './common.js';

/** Parameters of the hang-heavy scenario. */
export interface HangParams {
  /** Recording and delivery run this long before the measured window opens, in ms. */
  readonly warmupMs: number;
  /** The measured window, in ms: delivered events/s is counted over it. */
  readonly windowMs: number;
  /** Fraction of requests the sink holds without an answer (the hang-heavy rounds only). */
  readonly hangRate: number;
  /** How long the sink holds them before it answers 200, in ms. */
  readonly hangMs: number;
  /** The client's queue (`maxQueueSize`): the processor's default. */
  readonly queueSize: number;
  /** The producer records while fewer than this many events wait in the client's queue. */
  readonly backlog: number;
  /** Deadline of the client's shutdown, in ms. */
  readonly deadlineMs: number;
}

/** The client measured: Trackpipe as shipped (every option at its default). */
const BASE = 'trackpipe-json-gzip';
/** The same client while the sink hangs a share of its requests. */
const HANGING = `${BASE}:hang`;

/** Scenario 8, hang-heavy: a destination that hangs a tenth of its requests for seconds, against the same destination without faults. */
export const hang: Scenario<HangParams> = {
  id: 'hang-heavy',
  title: '8. Hang-heavy: a tenth of the requests hang for seconds',
  params: (quick) =>
    quick
      ? { warmupMs: 1_000, windowMs: 4_000, hangRate: 0.1, hangMs: 2_000, queueSize: 10_000, backlog: 8_192, deadlineMs: 30_000 }
      : { warmupMs: 3_000, windowMs: 30_000, hangRate: 0.1, hangMs: 5_000, queueSize: 10_000, backlog: 8_192, deadlineMs: 60_000 },
  clients: () => [BASE, HANGING],
  accepts: (client) => client === BASE || client === HANGING,
  createClient: (name, settings: ClientSettings): Promise<BenchClient> => {
    if (name !== HANGING) throw new Error(`unknown client ${name}`);
    return Promise.resolve(createClient(BASE, settings));
  },
  clientInfo: (): Record<string, ClientInfo> => {
    const base = clientInfo()[BASE];
    return base === undefined ? {} : { [HANGING]: { ...base, label: `${base.label}, 10 % of requests hang` } };
  },
  timeoutMs: (p) => p.warmupMs + p.windowMs + p.deadlineMs + p.hangMs + 120_000,
  describe: (p) =>
    `Trackpipe as shipped (every option at its default: ${p.queueSize.toLocaleString('en')}-event queue, 2 exports in flight, gzip level 1), in two conditions, interleaved: the sink answers every request at once, ` +
    `or it holds ${p.hangRate * 100} % of the requests (seeded draws) for ${p.hangMs / 1000} s before it answers 200 (the events count then, unless the client gave up and closed the connection: **abandoned**). ` +
    `A producer records in bursts while fewer than ${p.backlog.toLocaleString('en')} events wait in the client's queue (\`stats().queued\`), so the client always has work and never drops. ` +
    `**events/s** = distinct ids the sink counted during a window of ${p.windowMs / 1000} s that opens ${p.warmupMs / 1000} s after \`go\` (× the fault-free rounds: the target is ≥ 0.5×). ` +
    'Then the producer stops, the client is shut down, and after the last hanging answers every recorded id must be at the sink (**lost**). **CPU µs/event** is the client\'s CPU until the producer stopped, over the events recorded.',
  columns: [
    { key: 'eventsPerSec', label: 'events/s', digits: 0, ratio: true },
    { key: 'cpuUsPerEvent', label: 'CPU µs/event', digits: 2 },
    { key: 'requestsPerSec', label: 'requests/s', digits: 0 },
    { key: 'hung', label: 'requests hung', digits: 0 },
    { key: 'abandoned', label: 'abandoned', digits: 0 },
    { key: 'lost', label: 'lost', digits: 0 },
    { key: 'duplicates', label: 'dups', digits: 0 },
    { key: 'reportedDrops', label: 'drops reported', digits: 0 },
    { key: 'shutdownReturned', label: 'shutdown returned', kind: 'bool' },
  ],

  async runOne({ client, sink, spawn, params, run }) {
    const hanging = client === HANGING;
    sink.reset(hanging ? { hangRate: params.hangRate, hangMs: params.hangMs, seed: 2_000 + run } : {});
    const child = await spawn({ sinkUrl: sink.url, queueSize: params.queueSize, batchSize: BATCH_SIZE });
    child.send({ type: 'go' });
    await sleep(params.warmupMs);
    const before = sink.counts();
    const t0 = performance.now();
    await sleep(params.windowMs);
    const after = sink.counts();
    const seconds = (performance.now() - t0) / 1000;
    child.send({ type: 'stop' });
    const metrics = await child.result();
    const recorded = metrics.recorded as number;
    // The requests still hanging answer within hangMs.
    await Promise.race([sink.whenDistinct(recorded), sleep(params.hangMs + 2_000)]);
    const counts = sink.counts();
    return {
      ...metrics,
      hanging,
      eventsPerSec: (after.distinct - before.distinct) / seconds,
      requestsPerSec: (after.requests - before.requests) / seconds,
      hung: counts.hung,
      abandoned: counts.abandoned,
      requests: counts.requests,
      delivered: counts.distinct,
      lost: recorded - counts.distinct,
      duplicates: counts.duplicates,
    };
  },

  async child({ client, params, idPrefix, io }) {
    let stop = false;
    const stopped = io.next('stop').then(() => {
      stop = true;
    });
    const cpu = process.cpuUsage();
    let recorded = 0;
    while (!stop) {
      const room = Math.min(BURST, params.backlog - (client.backlog?.() ?? 0));
      if (room <= 0) {
        await sleep(1);
        continue;
      }
      for (let end = recorded + room; recorded < end; recorded++) client.record(client.prepare(flagEvaluationAt(recorded, idPrefix)));
      await nextTurn();
    }
    await stopped;
    const recording = process.cpuUsage(cpu);
    const outcome = await client.shutdown(params.deadlineMs);
    const metrics: Metrics = {
      recorded,
      cpuUsPerEvent: (recording.user + recording.system) / recorded,
      shutdownReturned: outcome.returned,
      shutdownMs: outcome.ms,
      reportedDrops: orNull(outcome.reportedDrops),
      ...processFigures(cpu),
    };
    return metrics;
  },
};
