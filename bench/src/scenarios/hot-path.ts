import { PerformanceObserver } from 'node:perf_hooks';
import { HTTP_CLIENTS } from '../clients/index.js';
import { type Metrics, type Scenario, median } from '../harness.js';
import { BATCH_SIZE, BURST, flagEvaluationAt, nextTurn, sleep } from '../workload.js';
import { orNull } from './common.js';

/** Parameters of the hot-path scenario. */
export interface HotPathParams {
  /** Events recorded in the timed phase. */
  readonly events: number;
  /** Bursts of the allocation phase. */
  readonly allocBursts: number;
  /** Events per allocation burst (small, so that no scavenge falls inside one). */
  readonly allocBurst: number;
  /** The timed phase stops early (between bursts) after this many ms: for clients too slow to record every event. */
  readonly budgetMs: number;
}

interface Window {
  readonly start: number;
  readonly end: number;
  readonly sync: number;
  readonly turn: number;
}

/**
 * Scenario 1, the hot path: what one `record()` call costs the caller. Each client's own ids (Trackpipe
 * assigns a UUIDv7; posthog and segment their own uuids), so every library pays its natural price.
 */
export const hotPath: Scenario<HotPathParams> = {
  id: 'hot-path',
  title: '1. Hot path: the cost of one record() call',
  params: (quick) => (quick ? { events: 50_000, allocBursts: 5, allocBurst: 1_000, budgetMs: 20_000 } : { events: 1_000_000, allocBursts: 40, allocBurst: 1_000, budgetMs: 90_000 }),
  clients: () => [...HTTP_CLIENTS, 'trackpipe-json-spool'],
  timeoutMs: (p) => p.budgetMs + 120_000,
  describe: (p) =>
    `${p.events.toLocaleString('en')} events (or as many as a client records in ${p.budgetMs / 1000} s) recorded in bursts of ${BURST.toLocaleString('en')}, yielding to the event loop (setImmediate) between bursts so that exports run in between. ` +
    'Inputs are built before each burst; only the record() loop is timed. **ns/call** is the total time of the loops over the calls; **p50 burst** the median burst. ' +
    '**GC ms inside the bursts** is the garbage-collection time (`PerformanceObserver` gc entries) that fell inside the timed loops: the mean includes it, the p50 burst mostly not. ' +
    `**B/call** is heap allocated per call during the loop (\`heapUsed\` delta over each of ${p.allocBursts} bursts of ${p.allocBurst.toLocaleString('en')}, one per turn of the event loop; windows with a GC inside are discarded; no \`gc()\` before a window: a forced GC made V8 compile the measured function again, which showed up as hundreds of bytes per call). ` +
    '**B/call, event complete** is the same with events that already carry an `id` and a `timestamp` (the harness sets them before the call): what the call allocates beyond the event itself. ' +
    'Only the synchronous part of the call is measured: posthog-node prepares each message in promise callbacks after the call returns, so its figures understate its cost (scenario 2 has every client\'s total CPU per event). ' +
    'Each client identifies events its own way here (no ids from the harness): Trackpipe assigns a UUIDv7 in record(). Queues hold every event (nobody drops).',
  columns: [
    { key: 'nsPerCall', label: 'ns/call, mean', digits: 1 },
    { key: 'nsPerCallP50Burst', label: 'ns/call, p50 burst', digits: 1 },
    { key: 'nsPerCallBestBurst', label: 'ns/call, best burst', digits: 1 },
    { key: 'bytesPerCall', label: 'B/call', digits: 0 },
    { key: 'bytesPerCallComplete', label: 'B/call, event complete', digits: 0 },
    { key: 'gcMsInBursts', label: 'GC ms inside the bursts', digits: 0 },
    { key: 'drops', label: 'drops', digits: 0 },
  ],

  async runOne({ sink, spawn, params }) {
    sink.reset();
    const child = await spawn({ sinkUrl: sink.url, queueSize: params.events + 2 * params.allocBursts * params.allocBurst, batchSize: BATCH_SIZE });
    child.send({ type: 'go' });
    const metrics = await child.result();
    return { ...metrics, sinkEvents: sink.counts().events };
  },

  async child({ client, params, idPrefix }) {
    const gcs: { start: number; end: number }[] = [];
    const observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) gcs.push({ start: entry.startTime, end: entry.startTime + entry.duration });
    });
    observer.observe({ entryTypes: ['gc'] });

    // Timed phase.
    const perBurst: number[] = [];
    const timed: { start: number; end: number }[] = [];
    let syncMs = 0;
    let turnMs = 0;
    let recorded = 0;
    const inputs: unknown[] = new Array<unknown>(BURST);
    const start = performance.now();
    while (recorded < params.events && performance.now() - start < params.budgetMs) {
      const n = Math.min(BURST, params.events - recorded);
      for (let i = 0; i < n; i++) inputs[i] = client.prepare(flagEvaluationAt(recorded + i));
      const t0 = performance.now();
      for (let i = 0; i < n; i++) client.record(inputs[i]);
      const t1 = performance.now();
      await nextTurn();
      const t2 = performance.now();
      syncMs += t1 - t0;
      turnMs += t2 - t0;
      perBurst.push(((t1 - t0) * 1e6) / n);
      timed.push({ start: t0, end: t1 });
      recorded += n;
    }

    // Allocation phase: events as the application makes them, then events that already carry an id
    // and a timestamp (what the call allocates beyond the event itself).
    const windows: Window[] = [];
    const completeWindows: Window[] = [];
    let allocated = 0;
    const small: unknown[] = new Array<unknown>(params.allocBurst);
    const allocStart = performance.now();
    // The two kinds alternate, so that both get windows when the time budget cuts the phase short.
    for (let b = 0; b < 2 * params.allocBursts && performance.now() - allocStart < params.budgetMs / 4; b++) {
      const complete = b % 2 === 1;
      for (let i = 0; i < params.allocBurst; i++) {
        const event = flagEvaluationAt(recorded + i, complete ? idPrefix : undefined);
        if (complete) event.timestamp = Date.now();
        small[i] = client.prepare(event);
      }
      const start = performance.now();
      const h0 = process.memoryUsage().heapUsed;
      for (let i = 0; i < params.allocBurst; i++) client.record(small[i]);
      const h1 = process.memoryUsage().heapUsed;
      await nextTurn();
      const h2 = process.memoryUsage().heapUsed;
      const end = performance.now();
      (complete ? completeWindows : windows).push({ start, end, sync: h1 - h0, turn: h2 - h0 });
      recorded += params.allocBurst;
      allocated += params.allocBurst;
    }
    await sleep(50); // let the observer deliver the last GC entries
    observer.disconnect();
    const noGc = (w: Window): boolean => !gcs.some((g) => g.start < w.end && g.end > w.start);
    const clean = windows.filter(noGc);
    const cleanComplete = completeWindows.filter(noGc);
    let gcMsInBursts = 0;
    for (const burst of timed) {
      for (const g of gcs) gcMsInBursts += Math.max(0, Math.min(g.end, burst.end) - Math.max(g.start, burst.start));
    }

    const metrics: Metrics = {
      events: params.events,
      recorded: recorded - allocated,
      nsPerCall: (syncMs * 1e6) / (recorded - allocated),
      nsPerCallP50Burst: orNull(median(perBurst)),
      nsPerCallBestBurst: Math.min(...perBurst),
      gcMsInBursts,
      nsPerEventTurn: (turnMs * 1e6) / (recorded - allocated),
      bytesPerCall: orNull(median(clean.map((w) => w.sync / params.allocBurst))),
      bytesPerEventTurn: orNull(median(clean.map((w) => w.turn / params.allocBurst))),
      cleanAllocWindows: clean.length,
      bytesPerCallComplete: orNull(median(cleanComplete.map((w) => w.sync / params.allocBurst))),
      cleanCompleteWindows: cleanComplete.length,
      drops: orNull(client.reportedDrops()),
    };
    return metrics;
  },
};
