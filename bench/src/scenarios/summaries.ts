import { BatchProcessor, FLAG_EVALUATION_EVENT, type FlagEvaluationEvent, SummarizingCollector, silentLogger } from '@trackpipe/core';
import { HttpExporter } from '@trackpipe/exporter-http';
import { packageVersion } from '../clients/index.js';
import type { BenchClient, ClientInfo, ClientSettings, ShutdownOutcome } from '../clients/types.js';
import { type Metrics, type Scenario, median } from '../harness.js';
import { BATCH_SIZE, BURST, nextTurn, sleep, withDeadline } from '../workload.js';
import { orNull } from './common.js';

/** Parameters of the summaries scenario. */
export interface SummariesParams {
  /** Evaluations recorded in the timed phase (and then again as full events). */
  readonly events: number;
  /** Bursts of the allocation phase (their evaluations are counted too). */
  readonly allocBursts: number;
  /** Evaluations per allocation burst. */
  readonly allocBurst: number;
  /** Deadline of each shutdown, in ms. */
  readonly deadlineMs: number;
}

/** A request's context is built once and shared by its 16 evaluations: the same targeting key string for each. */
let lastRequest = -1;
let lastTargetingKey = '';
function targetingKeyOf(request: number): string {
  if (request !== lastRequest) {
    lastTargetingKey = `user-${request % 100_000}`;
    lastRequest = request;
  }
  return lastTargetingKey;
}

/** The clients of this scenario: summaries with the distinct-targeting-key estimate (the default) and without. */
const CLIENTS = ['trackpipe-summaries', 'trackpipe-summaries-no-distinct'] as const;

// 16 flags: on/off rollouts (targeting), A/B/C experiments (split) and a multi-valued limit, each user
// getting a stable variant per flag, as a real provider would assign them. Evaluations come as
// requests do: one user's context evaluates the 16 flags in a row (the same targeting key string),
// then the next user.
const FLAGS = [
  'checkout-redesign', 'new-pricing-page', 'search-v2', 'dark-mode', 'onboarding-flow', 'recs-model-b', 'fast-cart', 'beta-banner',
  'promo-ribbon', 'ship-estimates', 'saved-carts', 'gift-wrap', 'one-click', 'reviews-v3', 'max-items', 'currency-switch',
];
const SETS: readonly (readonly { variant: string; value: boolean | string | number }[])[] = [
  [
    { variant: 'on', value: true },
    { variant: 'off', value: false },
  ],
  [
    { variant: 'control', value: 'control' },
    { variant: 'treatment-a', value: 'a' },
    { variant: 'treatment-b', value: 'b' },
  ],
  [
    { variant: 'small', value: 10 },
    { variant: 'medium', value: 50 },
    { variant: 'large', value: 100 },
    { variant: 'xl', value: 500 },
  ],
];
const PLANS = ['free', 'pro', 'team', 'enterprise'];
const REGIONS = ['eu-west-1', 'us-east-1', 'ap-south-1'];

/** Evaluation `i`: flag `i % 16` for user `(i / 16) % 100 000` (one request), the user's variant of that flag. About 250 bytes as a full event. */
export function summaryWorkloadAt(i: number): FlagEvaluationEvent {
  const flag = i & 15;
  const user = (i >>> 4) % 100_000;
  const targetingKey = targetingKeyOf(i >>> 4);
  const set = SETS[flag % 3] as (typeof SETS)[number];
  const pick = set[(Math.imul(user, 2654435761) >>> 7) % set.length] as (typeof set)[number];
  return {
    name: FLAG_EVALUATION_EVENT,
    flagKey: FLAGS[flag] as string,
    value: pick.value,
    variant: pick.variant,
    reason: set.length === 2 ? 'TARGETING_MATCH' : 'SPLIT',
    targetingKey,
    provider: 'flagd',
    context: { plan: PLANS[user & 3] as string, region: REGIONS[user % 3] as string },
  };
}

function exporter(settings: ClientSettings): HttpExporter<FlagEvaluationEvent> {
  // Uncompressed, like every client of the other scenarios: the bytes compared are the bytes of the events.
  return new HttpExporter<FlagEvaluationEvent>({ url: new URL('/v1/events', settings.sinkUrl), format: 'json', gzipThresholdBytes: false });
}

/** Trackpipe in summary mode: a SummarizingCollector (default 10 s windows) over a BatchProcessor and the HTTP exporter. */
class SummariesClient implements BenchClient {
  readonly name: string;
  readonly summarizer: SummarizingCollector;

  constructor(name: string, settings: ClientSettings) {
    this.name = name;
    const processor = new BatchProcessor<FlagEvaluationEvent>(exporter(settings), { name: 'bench', maxBatchSize: settings.batchSize, logger: silentLogger });
    this.summarizer = new SummarizingCollector(processor, { distinctTargetingKeys: name !== 'trackpipe-summaries-no-distinct', logger: silentLogger });
  }

  prepare(event: FlagEvaluationEvent): unknown {
    return event;
  }

  record(input: unknown): void {
    this.summarizer.record(input as FlagEvaluationEvent);
  }

  async shutdown(deadlineMs: number): Promise<ShutdownOutcome> {
    const outcome = await withDeadline(this.summarizer.close({ timeoutMs: deadlineMs }), deadlineMs + 1_000);
    return { ...outcome, reportedDrops: this.summarizer.stats().inner.dropped };
  }

  reportedDrops(): number {
    return this.summarizer.stats().inner.dropped;
  }
}

/** Records `count` evaluations from `start` in bursts, timing only the loops; returns the ns per call of each burst. */
async function timedBursts(record: (event: FlagEvaluationEvent) => void, start: number, count: number): Promise<number[]> {
  const perBurst: number[] = [];
  const inputs = new Array<FlagEvaluationEvent>(BURST);
  for (let done = 0; done < count; ) {
    const n = Math.min(BURST, count - done);
    for (let i = 0; i < n; i++) inputs[i] = summaryWorkloadAt(start + done + i);
    const t0 = performance.now();
    for (let i = 0; i < n; i++) record(inputs[i] as FlagEvaluationEvent);
    perBurst.push(((performance.now() - t0) * 1e6) / n);
    done += n;
    await nextTurn();
  }
  return perBurst;
}

/**
 * Scenario 7, summaries: what `record()` costs in summary mode, and how many bytes the summaries of
 * 1 000 000 evaluations over 16 flags take on the wire against the same evaluations as full events.
 * One child does both, one after the other; the parent reads the sink's byte counts between them.
 */
export const summaries: Scenario<SummariesParams> = {
  id: 'summaries',
  title: '7. Summaries: record() in summary mode, and wire bytes against full events',
  params: (quick) =>
    quick ? { events: 1_000_000, allocBursts: 10, allocBurst: 1_000, deadlineMs: 60_000 } : { events: 1_000_000, allocBursts: 40, allocBurst: 1_000, deadlineMs: 120_000 },
  clients: () => CLIENTS,
  accepts: (client) => (CLIENTS as readonly string[]).includes(client),
  createClient: (name, settings) => Promise.resolve(new SummariesClient(name, settings)),
  clientInfo: (): Record<string, ClientInfo> => {
    const version = `@trackpipe/core ${packageVersion('@trackpipe/core')} + @trackpipe/exporter-http ${packageVersion('@trackpipe/exporter-http')}`;
    const bound = 'maxKeys (1 000) keys, then an overflow bucket; nothing dropped';
    return {
      'trackpipe-summaries': { label: 'Trackpipe summaries', version, bound },
      'trackpipe-summaries-no-distinct': { label: 'Trackpipe summaries, no distinct estimate', version, bound },
    };
  },
  timeoutMs: (p) => 2 * p.deadlineMs + 300_000,
  describe: (p) =>
    `${(p.events + p.allocBursts * p.allocBurst).toLocaleString('en')} flag evaluations over 16 flags (2 to 4 variants each, 100 000 users, each with a stable variant per flag; about 250 bytes each as a full event; as requests make them: one user's context evaluates the 16 flags in a row, sharing its targeting key string) ` +
    `are recorded into a \`SummarizingCollector\` (defaults: 10 s windows, maxKeys 1 000) over a \`BatchProcessor\` and the HTTP exporter (JSON, uncompressed), in bursts of ${BURST.toLocaleString('en')} with a yield between bursts; then it is closed (the partial window is delivered). ` +
    'Then the same child records the same evaluations as full events through a `BatchProcessor` and the same exporter, and closes it. ' +
    '**ns/call** as in scenario 1: the median burst (steady state) and the mean over all bursts; **B/call** heap allocated per call in summary mode (small bursts, one per turn of the event loop, windows with a GC discarded; no `gc()` before them, as in scenario 1). ' +
    '**wire bytes** are the request bodies the sink received for each; **× fewer** is full events ÷ summaries. ' +
    '*no distinct* turns off the per-key HyperLogLog of targeting keys (one hash of the targeting key per call).',
  columns: [
    { key: 'nsPerCallP50Burst', label: 'summary record() ns/call, p50 burst', digits: 1 },
    { key: 'nsPerCall', label: 'summary ns/call, mean', digits: 1 },
    { key: 'bytesPerCall', label: 'summary B/call', digits: 0 },
    { key: 'eventsNsPerCallP50Burst', label: 'full-event record() ns/call, p50 burst', digits: 1 },
    { key: 'summaryEventsAtSink', label: 'summaries sent', digits: 0 },
    { key: 'summaryWireBytes', label: 'summary wire bytes', digits: 0 },
    { key: 'eventWireBytes', label: 'full-event wire bytes', digits: 0 },
    { key: 'fewerBytes', label: '× fewer bytes', digits: 0 },
    { key: 'countsExact', label: 'counts = evaluations', kind: 'bool' },
  ],

  async runOne({ sink, spawn, params }) {
    const total = params.events + params.allocBursts * params.allocBurst;
    sink.reset();
    const child = await spawn({ sinkUrl: sink.url, queueSize: total, batchSize: BATCH_SIZE });
    child.send({ type: 'go' });
    await child.next('summaries-done');
    const summaryCounts = sink.counts();
    sink.reset();
    child.send({ type: 'events' });
    const metrics = await child.result();
    const eventCounts = sink.counts();
    return {
      ...metrics,
      summaryEventsAtSink: summaryCounts.events,
      summaryWireBytes: summaryCounts.wireBytes,
      eventsAtSink: eventCounts.events,
      eventWireBytes: eventCounts.wireBytes,
      fewerBytes: summaryCounts.wireBytes > 0 ? eventCounts.wireBytes / summaryCounts.wireBytes : null,
      allDelivered: eventCounts.events === total && summaryCounts.events === metrics.summaries,
    };
  },

  async child({ client, params, settings, io }) {
    const c = client as SummariesClient;
    const record = (event: FlagEvaluationEvent): void => c.record(event);
    // Summary mode: the timed phase.
    const perBurst = await timedBursts(record, 0, params.events);
    // Allocation phase: heap allocated per call in summary mode.
    const allocated: number[] = [];
    const small = new Array<FlagEvaluationEvent>(params.allocBurst);
    for (let b = 0; b < params.allocBursts; b++) {
      const start = params.events + b * params.allocBurst;
      for (let i = 0; i < params.allocBurst; i++) small[i] = summaryWorkloadAt(start + i);
      await nextTurn();
      const h0 = process.memoryUsage().heapUsed;
      for (let i = 0; i < params.allocBurst; i++) c.record(small[i]);
      const h1 = process.memoryUsage().heapUsed;
      // A scavenge inside the window shows as a negative delta: discard it.
      if (h1 >= h0) allocated.push((h1 - h0) / params.allocBurst);
    }
    const total = params.events + params.allocBursts * params.allocBurst;
    const before = c.summarizer.stats();
    const outcome = await c.shutdown(params.deadlineMs);
    const stats = c.summarizer.stats();
    io.send({ type: 'summaries-done' });
    await io.next('events');

    // The same evaluations as full events.
    const processor = new BatchProcessor<FlagEvaluationEvent>(exporter(settings), { name: 'bench-events', maxBatchSize: BATCH_SIZE, maxQueueSize: total, logger: silentLogger });
    const eventBursts = await timedBursts((event) => processor.record(event), 0, total);
    const events = await withDeadline(processor.close({ timeoutMs: params.deadlineMs }), params.deadlineMs + 1_000);
    await sleep(50);

    const metrics: Metrics = {
      events: total,
      recorded: stats.recorded,
      nsPerCallP50Burst: orNull(median(perBurst)),
      nsPerCall: perBurst.reduce((sum, ns) => sum + ns, 0) / perBurst.length,
      nsPerCallBestBurst: Math.min(...perBurst),
      bytesPerCall: orNull(median(allocated)),
      cleanAllocWindows: allocated.length,
      eventsNsPerCallP50Burst: orNull(median(eventBursts)),
      summaries: stats.summaries,
      windows: stats.windows,
      keys: before.keys,
      overflowed: stats.overflowed,
      countsExact: stats.exported === total && stats.dropped === 0 && stats.queued === 0 && stats.inner.dropped === 0,
      summaryShutdownReturned: outcome.returned,
      eventsShutdownReturned: events.returned,
      eventsDropped: processor.stats().dropped,
    };
    return metrics;
  },
};
