import { monitorEventLoopDelay } from 'node:perf_hooks';
import { type Metrics, type Scenario, median, processFigures } from '../harness.js';
import { BATCH_SIZE, flagEvaluationAt, sleep } from '../workload.js';
import { orNull } from './common.js';

/** Parameters of the flapping scenario. */
export interface FlappingParams {
  /** Events per second. */
  readonly rate: number;
  /** Length of the run, in s. */
  readonly seconds: number;
  /** The sink's cycle, in s: it fails for `downSeconds` of every `periodSeconds`. */
  readonly periodSeconds: number;
  /** Seconds into each cycle at which the sink starts answering 503. */
  readonly downAtSeconds: number;
  /** Seconds of 503s per cycle. */
  readonly downSeconds: number;
  /** The client's queue (`maxQueueSize`). */
  readonly queueSize: number;
  /** One sample of RSS and event-loop delay per this many seconds. */
  readonly sampleSeconds: number;
  /** The first samples, up to this many seconds, are the warm-up: "flat" is judged on the rest. */
  readonly settleSeconds: number;
  /** Deadline of the client's shutdown, in ms. */
  readonly deadlineMs: number;
}

/** The client measured: Trackpipe as shipped, with the queue the scenario asks for. */
const CLIENT = 'trackpipe-json-gzip';

/** Least-squares slope of `ys` over `xs` (0 with fewer than two points). */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = Math.min(xs.length, ys.length);
  if (n < 2) return 0;
  let sx = 0;
  let sy = 0;
  for (let i = 0; i < n; i++) {
    sx += xs[i] as number;
    sy += ys[i] as number;
  }
  const mx = sx / n;
  const my = sy / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    const dx = (xs[i] as number) - mx;
    num += dx * ((ys[i] as number) - my);
    den += dx * dx;
  }
  return den === 0 ? 0 : num / den;
}

/** What "flat after the warm-up" comes to for a series of samples. */
export interface Flatness {
  /** Peak RSS of the first and the second half of the samples after the warm-up, in MB. */
  readonly rssFirstMb: number;
  readonly rssSecondMb: number;
  /** Least-squares slope of RSS after the warm-up, in MB per minute. */
  readonly rssSlopeMbPerMin: number;
  /** Median of the per-sample event-loop delay p99 in the first and the second half, in ms. */
  readonly delayFirstMs: number;
  readonly delaySecondMs: number;
  /** RSS flat: the second half's peak at most 5 % above the first half's. */
  readonly rssFlat: boolean;
  /** Delay flat: the second half's median p99 at most 20 % + 1 ms (the histogram's resolution) above the first half's. */
  readonly delayFlat: boolean;
}

/** Judges the samples after `settleSeconds`: split in two halves, compare the halves. Undefined with fewer than two samples. */
export function flatness(atSeconds: readonly number[], rssMb: readonly number[], delayP99Ms: readonly number[], settleSeconds: number): Flatness | undefined {
  const kept = atSeconds.flatMap((at, i) => (at > settleSeconds ? [i] : []));
  if (kept.length < 2) return undefined;
  const half = kept.length >> 1;
  const first = kept.slice(0, half);
  const second = kept.slice(half);
  const rssFirstMb = Math.max(...first.map((i) => rssMb[i] as number));
  const rssSecondMb = Math.max(...second.map((i) => rssMb[i] as number));
  const delayFirstMs = median(first.map((i) => delayP99Ms[i] as number)) ?? 0;
  const delaySecondMs = median(second.map((i) => delayP99Ms[i] as number)) ?? 0;
  return {
    rssFirstMb,
    rssSecondMb,
    rssSlopeMbPerMin: slope(
      kept.map((i) => (atSeconds[i] as number) / 60),
      kept.map((i) => rssMb[i] as number),
    ),
    delayFirstMs,
    delaySecondMs,
    rssFlat: rssSecondMb <= rssFirstMb * 1.05,
    delayFlat: delaySecondMs <= delayFirstMs * 1.2 + 1,
  };
}

/** Scenario 9, flapping: the sink answers 503 for a few seconds of every minute while the application records at a steady pace, for a long time. */
export const flapping: Scenario<FlappingParams> = {
  id: 'flapping',
  title: '9. Flapping sink: 503 for 10 s of every minute, for a long time',
  params: (quick) =>
    quick
      ? { rate: 20_000, seconds: 40, periodSeconds: 20, downAtSeconds: 8, downSeconds: 5, queueSize: 400_000, sampleSeconds: 5, settleSeconds: 10, deadlineMs: 60_000 }
      : { rate: 20_000, seconds: 900, periodSeconds: 60, downAtSeconds: 25, downSeconds: 10, queueSize: 400_000, sampleSeconds: 60, settleSeconds: 180, deadlineMs: 120_000 },
  clients: () => [CLIENT],
  accepts: (client) => client === CLIENT || client === 'trackpipe-json',
  runs: () => 1,
  timeoutMs: (p) => p.seconds * 2_000 + p.deadlineMs + 120_000,
  describe: (p) =>
    `${p.rate.toLocaleString('en')} events/s for ${p.seconds >= 120 ? `${p.seconds / 60} min` : `${p.seconds} s`} (a 1 ms timer records the events due so far) into Trackpipe as shipped with a queue of ${p.queueSize.toLocaleString('en')}, ` +
    `while the sink answers 503 to every request from ${p.downAtSeconds} s to ${p.downAtSeconds + p.downSeconds} s of every ${p.periodSeconds} s. One run (it is long). ` +
    `Every ${p.sampleSeconds} s the client samples its RSS and the event-loop delay (\`monitorEventLoopDelay\`, resolution 1 ms, reset after each sample). ` +
    `**flat** is judged after the first ${p.settleSeconds >= 120 ? `${p.settleSeconds / 60} min` : `${p.settleSeconds} s`}: the samples after it are split in two halves; RSS is flat when the second half's peak is at most 5 % above the first half's, ` +
    'the delay when the second half\'s median p99 is at most 20 % + 1 ms above the first half\'s. **drops** are the client\'s own count (the target is 0); **lost** = recorded − distinct ids at the sink after shutdown.',
  columns: [
    { key: 'reportedDrops', label: 'drops', digits: 0 },
    { key: 'lost', label: 'lost', digits: 0 },
    { key: 'failedRequests', label: '503s', digits: 0 },
    { key: 'peakQueued', label: 'peak queued', digits: 0 },
    { key: 'rssFirstMb', label: 'RSS MB, 1st half peak', digits: 0 },
    { key: 'rssSecondMb', label: 'RSS MB, 2nd half peak', digits: 0 },
    { key: 'rssSlopeMbPerMin', label: 'RSS slope MB/min', digits: 2 },
    { key: 'rssFlat', label: 'RSS flat', kind: 'bool' },
    { key: 'delayFirstMs', label: 'loop delay p99 ms, 1st half', digits: 2 },
    { key: 'delaySecondMs', label: 'loop delay p99 ms, 2nd half', digits: 2 },
    { key: 'delayFlat', label: 'delay flat', kind: 'bool' },
    { key: 'shutdownReturned', label: 'shutdown returned', kind: 'bool' },
  ],

  async runOne({ sink, spawn, params }) {
    sink.reset();
    const child = await spawn({ sinkUrl: sink.url, queueSize: params.queueSize, batchSize: BATCH_SIZE });
    child.send({ type: 'go' });
    const t0 = performance.now();
    let down = false;
    const flap = setInterval(() => {
      const phase = ((performance.now() - t0) / 1000) % params.periodSeconds;
      const shouldFail = phase >= params.downAtSeconds && phase < params.downAtSeconds + params.downSeconds;
      if (shouldFail === down) return;
      down = shouldFail;
      sink.setFaults(down ? { failRate: 1 } : {});
    }, 100);
    let metrics: Metrics;
    try {
      metrics = await child.result();
    } finally {
      clearInterval(flap);
      sink.setFaults({});
    }
    const recorded = metrics.recorded as number;
    await Promise.race([sink.whenDistinct(recorded), sleep(5_000)]);
    const counts = sink.counts();
    const judged = flatness(metrics.sampleAtS as number[], metrics.sampleRssMb as number[], metrics.sampleDelayP99Ms as number[], params.settleSeconds);
    return {
      ...metrics,
      ...(judged ?? {}),
      failedRequests: counts.failed,
      requests: counts.requests,
      delivered: counts.distinct,
      lost: recorded - counts.distinct,
      duplicates: counts.duplicates,
    };
  },

  async child({ client, params, idPrefix }) {
    const events = params.rate * params.seconds;
    const histogram = monitorEventLoopDelay({ resolution: 1 });
    const cpu = process.cpuUsage();
    const at: number[] = [];
    const rss: number[] = [];
    const p99: number[] = [];
    const max: number[] = [];
    const queued: number[] = [];
    histogram.enable();
    const t0 = performance.now();
    let recorded = 0;
    let peakQueued = 0;
    let nextSample = params.sampleSeconds * 1000;
    await new Promise<void>((resolve) => {
      const tick = (): void => {
        const now = performance.now() - t0;
        const due = Math.min(events, Math.floor((now * params.rate) / 1000));
        while (recorded < due) {
          client.record(client.prepare(flagEvaluationAt(recorded, idPrefix)));
          recorded++;
        }
        peakQueued = Math.max(peakQueued, client.backlog?.() ?? 0);
        if (now >= nextSample) {
          at.push(now / 1000);
          rss.push(process.memoryUsage().rss / 1_048_576);
          p99.push(histogram.percentile(99) / 1e6);
          max.push(histogram.max / 1e6);
          queued.push(client.backlog?.() ?? 0);
          histogram.reset();
          nextSample += params.sampleSeconds * 1000;
        }
        if (recorded >= events || now > 2_000 * params.seconds) resolve();
        else setTimeout(tick, 1);
      };
      setTimeout(tick, 1);
    });
    histogram.disable();
    const dropsBeforeShutdown = client.reportedDrops();
    const outcome = await client.shutdown(params.deadlineMs);
    const metrics: Metrics = {
      events,
      recorded,
      peakQueued,
      sampleAtS: at,
      sampleRssMb: rss,
      sampleDelayP99Ms: p99,
      sampleDelayMaxMs: max,
      sampleQueued: queued,
      dropsBeforeShutdown: orNull(dropsBeforeShutdown),
      shutdownReturned: outcome.returned,
      shutdownMs: outcome.ms,
      reportedDrops: orNull(outcome.reportedDrops),
      ...processFigures(cpu),
    };
    return metrics;
  },
};
