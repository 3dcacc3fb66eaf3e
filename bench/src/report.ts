import { writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { type Bar, barChartSvg } from './charts.js';
import type { ClientInfo } from './clients/types.js';
import { type Column, type Metric, type Metrics, median } from './harness.js';

/** One line of the raw results (results/*.jsonl). */
export interface RawResult {
  readonly scenario: string;
  readonly client: string;
  /** 0-based round. */
  readonly run: number;
  /** ISO time the run ended. */
  readonly at: string;
  readonly params: unknown;
  readonly metrics?: Metrics;
  readonly error?: string;
}

/** A scenario's outcome for the report. */
export interface ScenarioOutcome {
  readonly id: string;
  readonly title: string;
  readonly description: string;
  readonly columns: readonly Column[];
  readonly clients: readonly string[];
  readonly results: readonly RawResult[];
  /** Set when the scenario did not run, with the reason. */
  readonly skipped?: string;
}

/** The machine the run happened on. */
export interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGb: number;
  readonly node: string;
  readonly os: string;
  /** 1-minute load average when the run started and when it ended. */
  readonly load: readonly [number, number];
}

/** Everything the report is built from. */
export interface ReportInput {
  readonly command: string;
  /** The code measured (commit, uncommitted changes). */
  readonly code: string;
  readonly mode: 'full' | 'quick';
  readonly runs: number;
  readonly startedAt: Date;
  readonly finishedAt: Date;
  readonly machine: Machine;
  readonly clients: Record<string, ClientInfo>;
  readonly scenarios: readonly ScenarioOutcome[];
  /** Path of the raw results, relative to the report. */
  readonly rawPath: string;
  /** Path of bench/README.md, relative to the report. */
  readonly readmePath: string;
  /** The hand-written "What we tried" section (markdown), if any. */
  readonly notes?: string;
  /**
   * Prefix of the chart files, relative to the report (e.g. `RESULTS-`: charts are `RESULTS-events-per-second.svg`
   * next to it). Absent: the report links no charts. {@link writeReportFiles} sets it.
   */
  readonly chartPrefix?: string;
}

/** The median of one metric of one client over its successful runs (undefined when never measured). */
export function medianOf(results: readonly RawResult[], client: string, key: string): number | undefined {
  const values: number[] = [];
  for (const result of results) {
    if (result.client !== client || result.metrics === undefined) continue;
    const value = result.metrics[key];
    if (typeof value === 'number') values.push(value);
  }
  return median(values);
}

/** How many successful runs of a client had a boolean metric true, and how many had it at all. */
export function countTrue(results: readonly RawResult[], client: string, key: string): { yes: number; of: number } {
  let yes = 0;
  let of = 0;
  for (const result of results) {
    if (result.client !== client || result.metrics === undefined) continue;
    const value: Metric | undefined = result.metrics[key];
    if (typeof value !== 'boolean') continue;
    of++;
    if (value) yes++;
  }
  return { yes, of };
}

function format(value: number, digits: number): string {
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function ratioText(value: number, floor: number | undefined): string {
  if (floor === undefined || floor === 0 || !Number.isFinite(value)) return '';
  return ` (${format(value / floor, 2)}×)`;
}

function cell(outcome: ScenarioOutcome, client: string, column: Column, floorClient: string): string {
  if (column.kind === 'bool') {
    const { yes, of } = countTrue(outcome.results, client, column.key);
    return of === 0 ? '—' : `${yes}/${of}`;
  }
  const value = medianOf(outcome.results, client, column.key);
  if (value === undefined) return '—';
  const ratio = column.ratio === true && client !== floorClient ? ratioText(value, medianOf(outcome.results, floorClient, column.key)) : '';
  return `${format(value, column.digits ?? 0)}${ratio}`;
}

/** The markdown table of a scenario: one row per client, medians over runs, ratios to the first client (the floor). */
export function scenarioTable(outcome: ScenarioOutcome, labels: Record<string, ClientInfo>): string {
  const floorClient = outcome.clients[0] ?? 'floor';
  const header = ['client', ...outcome.columns.map((c) => c.label + (c.ratio === true ? ` (× ${floorClient === 'floor' ? 'floor' : (labels[floorClient]?.label ?? floorClient)})` : '')), 'runs'];
  const lines = [`| ${header.join(' | ')} |`, `| ${header.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`];
  for (const client of outcome.clients) {
    const runs = outcome.results.filter((r) => r.client === client);
    const ok = runs.filter((r) => r.metrics !== undefined).length;
    const cells = outcome.columns.map((column) => cell(outcome, client, column, floorClient));
    lines.push(`| ${labels[client]?.label ?? client} | ${cells.join(' | ')} | ${ok}/${runs.length} |`);
  }
  for (const client of outcome.clients) {
    const short = outcome.results.filter(
      (r) => r.client === client && typeof r.metrics?.recorded === 'number' && typeof r.metrics.events === 'number' && r.metrics.recorded < r.metrics.events,
    );
    if (short.length === 0) continue;
    const recorded = short.map((r) => (r.metrics?.recorded as number).toLocaleString('en-US')).join(', ');
    const events = (short[0]?.metrics?.events as number).toLocaleString('en-US');
    lines.push('', `${labels[client]?.label ?? client}: too slow to record all ${events} events within the scenario's time budget in ${short.length} run(s) (recorded ${recorded}); its figures are over the events it recorded.`);
  }
  const failures = outcome.results.filter((r) => r.error !== undefined);
  if (failures.length > 0) {
    lines.push('', 'Failed runs:', '');
    for (const failure of failures) lines.push(`- ${labels[failure.client]?.label ?? failure.client}, round ${failure.run + 1}: ${failure.error ?? ''}`);
  }
  return lines.join('\n');
}

/** One performance target and where we stand. */
export interface TargetCheck {
  readonly target: string;
  readonly measured: string;
  /** true met, false missed, undefined not measured. */
  readonly met: boolean | undefined;
}

function outcomeOf(input: ReportInput, id: string): ScenarioOutcome | undefined {
  const outcome = input.scenarios.find((s) => s.id === id);
  return outcome === undefined || outcome.skipped !== undefined ? undefined : outcome;
}

const TRACKPIPE_HTTP = ['trackpipe-json', 'trackpipe-otlp'];

/** Runs of a client in a scenario that have metrics. */
function succeeded(outcome: ScenarioOutcome, client: string): RawResult[] {
  return outcome.results.filter((r) => r.client === client && r.metrics !== undefined);
}

/** "a vs b unit = r×" with the ratio, or why not. */
function versus(a: number | undefined, b: number | undefined, unit: string, digits: number): string {
  if (a === undefined || b === undefined) return 'not measured';
  return `${format(a, digits)} vs ${format(b, digits)} ${unit} = ${format(a / b, 2)}×`;
}

/** The error of a client's failed runs, when none succeeded (e.g. a scenario part that cannot run yet). */
function failure(outcome: ScenarioOutcome | undefined, client: string): string | undefined {
  if (outcome === undefined || succeeded(outcome, client).length > 0) return undefined;
  return outcome.results.find((r) => r.client === client && r.error !== undefined)?.error;
}

/**
 * Checks the issues' targets against the medians: throughput at the floor with every guarantee on,
 * the durable spool, flag evaluation summaries.
 */
export function checkTargets(input: ReportInput): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const label = (client: string): string => input.clients[client]?.label ?? client;
  const add = (target: string, measured: string, met: boolean | undefined): void => {
    checks.push({ target, measured, met });
  };

  const hot = outcomeOf(input, 'hot-path');
  for (const client of TRACKPIPE_HTTP) {
    const p50 = hot === undefined ? undefined : medianOf(hot.results, client, 'nsPerCallP50Burst');
    const mean = hot === undefined ? undefined : medianOf(hot.results, client, 'nsPerCall');
    add(
      `record() ≤ 50 ns per call, median burst (${label(client)})`,
      p50 === undefined || mean === undefined ? 'not measured' : `${format(p50, 1)} ns (mean over all bursts, with warm-up and GC: ${format(mean, 1)} ns)`,
      p50 === undefined ? undefined : p50 <= 50,
    );
  }
  for (const client of TRACKPIPE_HTTP) {
    const beyond = hot === undefined ? undefined : medianOf(hot.results, client, 'bytesPerCallComplete');
    const natural = hot === undefined ? undefined : medianOf(hot.results, client, 'bytesPerCall');
    add(
      `record() allocates nothing beyond the event (${label(client)})`,
      beyond === undefined
        ? 'not measured'
        : `${format(beyond, 1)} B/call with id and timestamp given (${format(natural ?? 0, 0)} B/call when record() assigns them: the event's own fields)`,
      // heapUsed deltas over 1 000 calls: below 1 B/call is nothing, within what the measurement resolves.
      beyond === undefined ? undefined : beyond < 1,
    );
  }

  const e2e = outcomeOf(input, 'end-to-end');
  if (e2e !== undefined) {
    const rate = (client: string): number | undefined => medianOf(e2e.results, client, 'eventsPerSec');
    const cpu = (client: string): number | undefined => medianOf(e2e.results, client, 'cpuUsPerEvent');
    const floor = rate('floor');
    const json = rate('trackpipe-json');
    add(`end to end over HTTP, JSON, gzip off ≥ 1.0× the floor's events/s (${label('trackpipe-json')})`, versus(json, floor, 'events/s', 0), json === undefined || floor === undefined ? undefined : json >= floor);
    const jsonCpu = cpu('trackpipe-json');
    const floorCpu = cpu('floor');
    add(
      `CPU per event ≤ 1.1× the floor's (${label('trackpipe-json')})`,
      versus(jsonCpu, floorCpu, 'µs', 2),
      jsonCpu === undefined || floorCpu === undefined ? undefined : jsonCpu <= 1.1 * floorCpu,
    );
    const shipped = rate('trackpipe-json-gzip');
    add(
      `the default configuration (compression as shipped) ≥ 0.8× the floor's events/s (${label('trackpipe-json-gzip')})`,
      versus(shipped, floor, 'events/s', 0),
      shipped === undefined || floor === undefined ? undefined : shipped >= 0.8 * floor,
    );
    const otlp = rate('trackpipe-otlp');
    const otel = rate('otel');
    add(`OTLP ≥ 3× OpenTelemetry JS on the same wire format (${label('trackpipe-otlp')})`, versus(otlp, otel, 'events/s', 0), otlp === undefined || otel === undefined ? undefined : otlp >= 3 * otel);
  }

  const paced = outcomeOf(input, 'paced');
  if (paced !== undefined) {
    const floor = medianOf(paced.results, 'floor', 'delayP99Ms');
    for (const client of TRACKPIPE_HTTP) {
      const p99 = medianOf(paced.results, client, 'delayP99Ms');
      add(
        `paced 20 000 events/s: event-loop delay p99 ≤ the floor's (${label(client)})`,
        p99 === undefined || floor === undefined ? 'not measured' : `${format(p99, 2)} vs ${format(floor, 2)} ms (histogram resolution 1 ms)`,
        p99 === undefined || floor === undefined ? undefined : p99 <= floor,
      );
    }
  }

  const chaos = outcomeOf(input, 'chaos');
  if (chaos !== undefined) {
    for (const client of TRACKPIPE_HTTP) {
      const runs = succeeded(chaos, client);
      const maxLost = Math.max(0, ...runs.map((r) => (r.metrics?.lost as number | undefined) ?? 0));
      const wall = medianOf(chaos.results, client, 'wallS');
      const dups = medianOf(chaos.results, client, 'duplicatePct');
      const returned = countTrue(chaos.results, client, 'shutdownReturned');
      add(
        `chaos (20 % 503, 5 % resets, 200 000 events): 0 lost, shutdown returns, wall time ≤ 10 s (${label(client)})`,
        runs.length === 0
          ? 'not measured'
          : `lost ${format(maxLost, 0)} (worst run), shutdown returned ${returned.yes}/${returned.of}, wall ${format(wall ?? 0, 1)} s, dups ${format(dups ?? 0, 2)} %`,
        runs.length === 0 ? undefined : maxLost === 0 && returned.yes === returned.of && returned.of > 0 && (wall ?? Infinity) <= 10,
      );
    }
  }

  const outage = outcomeOf(input, 'outage');
  if (outage !== undefined) {
    const floorRss = medianOf(outage.results, 'floor', 'outageRssMb');
    for (const client of TRACKPIPE_HTTP) {
      const rss = medianOf(outage.results, client, 'outageRssMb');
      const exact = countTrue(outage.results, client, 'exact');
      add(
        `outage: RSS bounded (≤ the floor's, which holds nothing, + 64 MB) and drops = overflow exactly (${label(client)})`,
        rss === undefined || floorRss === undefined ? 'not measured' : `peak RSS ${format(rss, 0)} MB (floor ${format(floorRss, 0)} MB), exact ${exact.yes}/${exact.of}`,
        rss === undefined || floorRss === undefined ? undefined : rss <= floorRss + 64 && exact.of > 0 && exact.yes === exact.of,
      );
    }
  }

  const hang = outcomeOf(input, 'hang-heavy');
  if (hang !== undefined) {
    const [calm, hanging] = hang.clients;
    const a = hanging === undefined ? undefined : medianOf(hang.results, hanging, 'eventsPerSec');
    const b = calm === undefined ? undefined : medianOf(hang.results, calm, 'eventsPerSec');
    add(
      'hang-heavy (a tenth of the requests hang for seconds): delivered events/s ≥ 0.5× the fault-free figure, same concurrency',
      versus(a, b, 'events/s', 0),
      a === undefined || b === undefined ? undefined : a >= 0.5 * b,
    );
  }

  const flap = outcomeOf(input, 'flapping');
  if (flap !== undefined) {
    const client = flap.clients[0] ?? '';
    const runs = succeeded(flap, client);
    const drops = Math.max(0, ...runs.map((r) => (r.metrics?.reportedDrops as number | undefined) ?? 0));
    const lost = Math.max(0, ...runs.map((r) => (r.metrics?.lost as number | undefined) ?? 0));
    const rssFlat = countTrue(flap.results, client, 'rssFlat');
    const delayFlat = countTrue(flap.results, client, 'delayFlat');
    const first = medianOf(flap.results, client, 'rssFirstMb');
    const second = medianOf(flap.results, client, 'rssSecondMb');
    const d1 = medianOf(flap.results, client, 'delayFirstMs');
    const d2 = medianOf(flap.results, client, 'delaySecondMs');
    add(
      'flapping sink (503 for 10 s of every 60 s), 20 000 events/s, queue 400 000: 0 drops, RSS and event-loop delay flat after the first minutes',
      runs.length === 0
        ? 'not measured'
        : `drops ${format(drops, 0)}, lost ${format(lost, 0)}; RSS peak ${format(first ?? 0, 0)} → ${format(second ?? 0, 0)} MB (flat ${rssFlat.yes}/${rssFlat.of}); loop delay p99 ${format(d1 ?? 0, 2)} → ${format(d2 ?? 0, 2)} ms (flat ${delayFlat.yes}/${delayFlat.of})`,
      runs.length === 0 ? undefined : drops === 0 && lost === 0 && rssFlat.of > 0 && rssFlat.yes === rssFlat.of && delayFlat.of > 0 && delayFlat.yes === delayFlat.of,
    );
  }

  const kafka = outcomeOf(input, 'kafka');
  const raw = kafka === undefined ? undefined : medianOf(kafka.results, 'kafkajs-raw', 'eventsPerSec');
  const tp = kafka === undefined ? undefined : medianOf(kafka.results, 'trackpipe-kafka', 'eventsPerSec');
  add(
    'Kafka ≥ 1.0× a raw kafkajs producer sending the same batches (acks all, gzip)',
    raw === undefined || tp === undefined ? (input.scenarios.find((s) => s.id === 'kafka')?.skipped ?? 'not measured') : versus(tp, raw, 'events/s', 0),
    raw === undefined || tp === undefined ? undefined : tp >= raw,
  );

  // The durable spool.
  const spoolP50 = hot === undefined ? undefined : medianOf(hot.results, 'trackpipe-json-spool', 'nsPerCallP50Burst');
  const memoryP50 = hot === undefined ? undefined : medianOf(hot.results, 'trackpipe-json', 'nsPerCallP50Burst');
  add(
    `app with a spool: record() ≤ 50 ns per call, median burst (${label('trackpipe-json-spool')})`,
    spoolP50 === undefined ? 'not measured' : `${format(spoolP50, 1)} ns (in memory: ${format(memoryP50 ?? 0, 1)} ns)`,
    spoolP50 === undefined ? undefined : spoolP50 <= 50,
  );
  if (e2e !== undefined) {
    const spooled = medianOf(e2e.results, 'trackpipe-json-spool', 'eventsPerSec');
    const memory = medianOf(e2e.results, 'trackpipe-json', 'eventsPerSec');
    const complete = countTrue(e2e.results, 'trackpipe-json-spool', 'complete');
    add(
      'app with a spool: end to end ≥ 0.7× the in-memory figure (Trackpipe JSON)',
      spooled === undefined || memory === undefined ? 'not measured' : `${versus(spooled, memory, 'events/s', 0)}; every event delivered in ${complete.yes}/${complete.of} runs`,
      spooled === undefined || memory === undefined ? undefined : spooled >= 0.7 * memory && complete.yes === complete.of,
    );
  }
  const spoolOutage = outcomeOf(input, 'spool-outage');
  const spoolOutageRow = (outcome: NonNullable<typeof spoolOutage>, client: string): void => {
    const peak = medianOf(outcome.results, client, 'peakRssMb');
    const during = medianOf(outcome.results, client, 'outageRssMb');
    const anon = medianOf(outcome.results, client, 'recoveryAnonMb');
    const delivered = medianOf(outcome.results, client, 'delivered');
    const events = medianOf(outcome.results, client, 'events');
    add(
      `spool: outage of 5 000 000 events, RSS ≤ 150 MB throughout (${label(client)})`,
      peak === undefined
        ? (failure(outcome, client) ?? 'not measured')
        : `peak RSS ${format(peak, 0)} MB (during the outage ${format(during ?? 0, 0)} MB; anonymous memory during the recovery ${format(anon ?? 0, 0)} MB); delivered ${format(delivered ?? 0, 0)} of ${format(events ?? 0, 0)}`,
      peak === undefined ? undefined : peak <= 150,
    );
  };
  if (spoolOutage !== undefined) for (const client of spoolOutage.clients) spoolOutageRow(spoolOutage, client);
  const service = outcomeOf(input, 'service-ingest');
  if (service !== undefined) {
    const durable = medianOf(service.results, 'service-spool', 'eventsPerSec');
    const memory = medianOf(service.results, 'service-memory', 'eventsPerSec');
    const pending = failure(service, 'service-spool');
    add(
      'service ingest with durable acknowledgements ≥ 0.7× the in-memory service\'s events/s',
      durable === undefined ? `pending: ${pending ?? 'not measured'}; in memory: ${format(memory ?? 0, 0)} events/s` : versus(durable, memory, 'events/s', 0),
      durable === undefined || memory === undefined ? undefined : durable >= 0.7 * memory,
    );
    const p99 = medianOf(service.results, 'service-spool', 'ackP99Ms');
    const memoryP99 = medianOf(service.results, 'service-memory', 'ackP99Ms');
    add(
      'service ingest with a spool: acknowledgement latency p99 ≤ the sync interval (5 ms) + 5 ms',
      p99 === undefined ? `pending (see above); in memory: p99 ${format(memoryP99 ?? 0, 2)} ms` : `${format(p99, 2)} ms (in memory: ${format(memoryP99 ?? 0, 2)} ms)`,
      p99 === undefined ? undefined : p99 <= 10,
    );
  }

  // The Kafka receiver: one instance against a raw consumer that only reads.
  const receiver = outcomeOf(input, 'receiver');
  if (receiver !== undefined) {
    const one = medianOf(receiver.results, 'trackpipe-serve-1', 'eventsPerSec');
    const raw = medianOf(receiver.results, 'kafkajs-consumer', 'eventsPerSec');
    add(
      'Kafka receiver: one instance, consumed and exported events/s ≥ 0.8× a raw kafkajs consumer that only reads',
      one === undefined ? (failure(receiver, 'trackpipe-serve-1') ?? 'not measured') : versus(one, raw, 'events/s', 0),
      one === undefined || raw === undefined ? undefined : one >= 0.8 * raw,
    );
  }

  // Flag evaluation summaries.
  const summaries = outcomeOf(input, 'summaries');
  if (summaries !== undefined) {
    for (const client of summaries.clients) {
      const p50 = medianOf(summaries.results, client, 'nsPerCallP50Burst');
      const bytes = medianOf(summaries.results, client, 'bytesPerCall');
      const exact = countTrue(summaries.results, client, 'countsExact');
      add(
        `summaries: record() ≤ 50 ns per call, median burst, and counts = evaluations (${label(client)})`,
        p50 === undefined ? 'not measured' : `${format(p50, 1)} ns, ${format(bytes ?? 0, 1)} B/call, counts exact ${exact.yes}/${exact.of}`,
        p50 === undefined ? undefined : p50 <= 50 && exact.of > 0 && exact.yes === exact.of,
      );
    }
  }
  return checks;
}

/** A chart of the report, drawn from the same medians as its tables. */
export interface ReportChart {
  /** The scenario whose table it stands next to. */
  readonly scenario: string;
  /** File name, relative to the report: the prefix and the chart's id, e.g. `RESULTS-events-per-second.svg`. */
  readonly file: string;
  /** Alternative text of the image link. */
  readonly alt: string;
  readonly svg: string;
}

interface ChartSpec {
  readonly id: string;
  readonly scenario: string;
  readonly key: string;
  readonly title: string;
  readonly unit: string;
  readonly better: 'higher' | 'lower';
  readonly digits: number;
  /** Extra text after a client's value. */
  readonly note?: (outcome: ScenarioOutcome, client: string) => string | undefined;
}

const CHARTS: readonly ChartSpec[] = [
  { id: 'events-per-second', scenario: 'end-to-end', key: 'eventsPerSec', title: 'End to end: delivered events per second', unit: 'events/s', better: 'higher', digits: 0 },
  { id: 'cpu-per-event', scenario: 'end-to-end', key: 'cpuUsPerEvent', title: 'End to end: client CPU per event, all threads', unit: 'µs', better: 'lower', digits: 2 },
  {
    id: 'chaos-wall-time',
    scenario: 'chaos',
    key: 'wallS',
    title: 'Chaos (20 % 503, 5 % resets): wall time until shutdown returned',
    unit: 's',
    better: 'lower',
    digits: 1,
    note: (outcome, client) => {
      const lost = medianOf(outcome.results, client, 'lost');
      return lost === undefined ? undefined : `${format(lost, 0)} ids lost`;
    },
  },
];

function groupOf(client: string): Bar['group'] {
  if (client === 'floor') return 'floor';
  return client.startsWith('trackpipe') ? 'trackpipe' : 'peer';
}

/** The report's charts (events/s and CPU per event end to end, chaos wall time): one bar per client with a median, runs as whiskers. */
export function reportCharts(input: ReportInput): ReportChart[] {
  const charts: ReportChart[] = [];
  for (const spec of CHARTS) {
    const outcome = outcomeOf(input, spec.scenario);
    if (outcome === undefined) continue;
    const bars: Bar[] = [];
    for (const client of outcome.clients) {
      const value = medianOf(outcome.results, client, spec.key);
      if (value === undefined) continue;
      const values = outcome.results.flatMap((r) => (r.client === client && typeof r.metrics?.[spec.key] === 'number' ? [r.metrics[spec.key] as number] : []));
      const note = spec.note?.(outcome, client);
      bars.push({
        label: input.clients[client]?.label ?? client,
        value,
        group: groupOf(client),
        ...(values.length > 1 ? { range: [Math.min(...values), Math.max(...values)] as const } : {}),
        ...(note === undefined ? {} : { note }),
      });
    }
    if (bars.length === 0) continue;
    charts.push({
      scenario: spec.scenario,
      file: `${input.chartPrefix ?? ''}${spec.id}.svg`,
      alt: `${spec.title} (${spec.unit}, ${spec.better} is better)`,
      svg: barChartSvg({ title: spec.title, unit: spec.unit, better: spec.better, digits: spec.digits, bars }),
    });
  }
  return charts;
}

/** Writes the report to `out` and its charts next to it (`<name>-<chart>.svg`); answers the files written. */
export function writeReportFiles(out: string, input: ReportInput): string[] {
  const full: ReportInput = { ...input, chartPrefix: `${basename(out).replace(/\.md$/, '')}-` };
  const written: string[] = [];
  for (const chart of reportCharts(full)) {
    const file = join(dirname(out), chart.file);
    writeFileSync(file, chart.svg);
    written.push(file);
  }
  writeFileSync(out, renderReport(full));
  return [out, ...written];
}

/** Renders RESULTS.md. */
export function renderReport(input: ReportInput): string {
  const { machine } = input;
  const minutes = (input.finishedAt.getTime() - input.startedAt.getTime()) / 60_000;
  const out: string[] = [
    '# Trackpipe benchmark results',
    '',
    `Generated by \`${input.command}\` on ${input.finishedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC (${input.mode} run, ${input.runs} run${input.runs === 1 ? '' : 's'} per client and scenario, interleaved; took ${format(minutes, 1)} min). ` +
      `Do not edit by hand: run the command again. How to read it: [README.md](${input.readmePath}). ` +
      `Raw results (one JSON line per run): [${input.rawPath}](${input.rawPath}). Code measured: ${input.code}.`,
    '',
    '## Machine',
    '',
    '| CPU | cores | memory | Node.js | OS | load average (1 min) at start / end |',
    '| --- | ---: | ---: | --- | --- | --- |',
    `| ${machine.cpu} | ${machine.cores} | ${format(machine.memoryGb, 0)} GB | ${machine.node} | ${machine.os} | ${format(machine.load[0], 2)} / ${format(machine.load[1], 2)} |`,
    '',
    'The sink runs in the parent process and each client in its own child process, so on a 2-core machine the sink and the client each have about one core. ' +
      'Figures are medians over the runs; ratios are to the first row of each table (the hand-written floor where there is one; the header names it). Other work on the machine during the run adds noise; the interleaving (A B C, A B C, …) spreads it over all clients alike.',
    '',
    '## Targets',
    '',
    '| target | measured | met |',
    '| --- | --- | :---: |',
  ];
  for (const check of checkTargets(input)) {
    out.push(`| ${check.target} | ${check.measured} | ${check.met === undefined ? '—' : check.met ? 'yes' : '**no**'} |`);
  }
  out.push('', 'The build does not fail on these; where one is missed, "What we tried" below says why and what would fix it.', '');
  const charts = input.chartPrefix === undefined ? [] : reportCharts(input);
  for (const scenario of input.scenarios) {
    out.push(`## ${scenario.title}`, '', scenario.description, '');
    if (scenario.skipped !== undefined) {
      out.push(`*${scenario.skipped}*`, '');
      continue;
    }
    out.push(scenarioTable(scenario, input.clients), '');
    for (const chart of charts.filter((c) => c.scenario === scenario.id)) out.push(`![${chart.alt}](${chart.file})`, '');
  }
  out.push('## Clients', '', '| client | version | queue bound |', '| --- | --- | --- |');
  const used = new Set(input.scenarios.flatMap((s) => (s.skipped === undefined ? s.clients : [])));
  for (const [name, info] of Object.entries(input.clients)) {
    if (used.has(name)) out.push(`| ${info.label} | ${info.version} | ${info.bound} |`);
  }
  out.push(
    '',
    'Every client gets the same events (flag evaluations, about 250 bytes of JSON each), batches of 512, and a queue that holds every event (except in the outage and hang-heavy scenarios, which keep the default queue of 10 000), every other option at its default, ' +
      'and sends to the local sink only: posthog-node without a personal API key and without flags on capture (no `/flags` or polling requests), segment without any settings fetch.',
    '',
  );
  if (input.notes !== undefined && input.notes.trim() !== '') out.push(input.notes.trim(), '');
  return `${out.join('\n')}\n`;
}
