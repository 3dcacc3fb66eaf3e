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
const PEERS = ['otel', 'posthog', 'segment'];

/** Checks the issue's targets against the medians. */
export function checkTargets(input: ReportInput): TargetCheck[] {
  const checks: TargetCheck[] = [];
  const label = (client: string): string => input.clients[client]?.label ?? client;
  const hot = outcomeOf(input, 'hot-path');
  for (const client of TRACKPIPE_HTTP) {
    const p50 = hot === undefined ? undefined : medianOf(hot.results, client, 'nsPerCallP50Burst');
    const mean = hot === undefined ? undefined : medianOf(hot.results, client, 'nsPerCall');
    checks.push({
      target: `record() ≤ 50 ns per call, steady state: median burst (${label(client)})`,
      measured: p50 === undefined || mean === undefined ? 'not measured' : `${format(p50, 1)} ns (mean over all bursts, with warm-up and GC: ${format(mean, 1)} ns)`,
      met: p50 === undefined ? undefined : p50 <= 50,
    });
  }
  const e2e = outcomeOf(input, 'end-to-end');
  if (e2e !== undefined) {
    const floor = medianOf(e2e.results, 'floor', 'eventsPerSec');
    const floorCpu = medianOf(e2e.results, 'floor', 'cpuUsPerEvent');
    for (const client of TRACKPIPE_HTTP) {
      const rate = medianOf(e2e.results, client, 'eventsPerSec');
      checks.push({
        target: `end to end ≥ 0.9× the floor's events/s (${label(client)})`,
        measured: rate === undefined || floor === undefined ? 'not measured' : `${format(rate, 0)} vs ${format(floor, 0)} events/s = ${format(rate / floor, 2)}×`,
        met: rate === undefined || floor === undefined ? undefined : rate >= 0.9 * floor,
      });
      const peers = PEERS.map((peer) => ({ peer, rate: medianOf(e2e.results, peer, 'eventsPerSec') ?? 0 }));
      const best = peers.reduce((a, b) => (b.rate > a.rate ? b : a));
      checks.push({
        target: `end to end ahead of every peer (${label(client)})`,
        measured: rate === undefined ? 'not measured' : `${format(rate, 0)} vs best peer ${label(best.peer)} ${format(best.rate, 0)} events/s`,
        met: rate === undefined ? undefined : rate > best.rate,
      });
      const cpu = medianOf(e2e.results, client, 'cpuUsPerEvent');
      checks.push({
        target: `CPU per event ≤ 1.2× the floor's (${label(client)})`,
        measured: cpu === undefined || floorCpu === undefined ? 'not measured' : `${format(cpu, 2)} vs ${format(floorCpu, 2)} µs = ${format(cpu / floorCpu, 2)}×`,
        met: cpu === undefined || floorCpu === undefined ? undefined : cpu <= 1.2 * floorCpu,
      });
    }
  }
  const paced = outcomeOf(input, 'paced');
  if (paced !== undefined) {
    const floor = medianOf(paced.results, 'floor', 'delayP99Ms');
    for (const client of TRACKPIPE_HTTP) {
      const p99 = medianOf(paced.results, client, 'delayP99Ms');
      checks.push({
        target: `paced event-loop delay p99 no worse than the floor's (${label(client)})`,
        measured: p99 === undefined || floor === undefined ? 'not measured' : `${format(p99, 2)} vs ${format(floor, 2)} ms`,
        // Within the histogram's resolution (1 ms timer, values are whole-ish ms) plus 5 %: "no worse".
        met: p99 === undefined || floor === undefined ? undefined : p99 <= floor * 1.05 + 0.05,
      });
    }
  }
  const chaos = outcomeOf(input, 'chaos');
  if (chaos !== undefined) {
    for (const client of TRACKPIPE_HTTP) {
      const lost = medianOf(chaos.results, client, 'lost');
      const maxLost = Math.max(...chaos.results.filter((r) => r.client === client && r.metrics).map((r) => (r.metrics?.lost as number) ?? 0));
      const dups = medianOf(chaos.results, client, 'duplicatePct');
      const returned = countTrue(chaos.results, client, 'shutdownReturned');
      checks.push({
        target: `chaos: 0 ids lost, duplicates ≤ 1 %, shutdown returns (${label(client)})`,
        measured:
          lost === undefined ? 'not measured' : `lost ${format(maxLost, 0)} (worst run), dups ${format(dups ?? 0, 2)} %, shutdown returned ${returned.yes}/${returned.of}`,
        met: lost === undefined ? undefined : maxLost === 0 && (dups ?? 0) <= 1 && returned.yes === returned.of && returned.of > 0,
      });
    }
  }
  const outage = outcomeOf(input, 'outage');
  if (outage !== undefined) {
    const floorRss = medianOf(outage.results, 'floor', 'outageRssMb');
    for (const client of TRACKPIPE_HTTP) {
      const rss = medianOf(outage.results, client, 'outageRssMb');
      const exact = countTrue(outage.results, client, 'exact');
      checks.push({
        target: `outage: RSS bounded (≤ the floor's, which holds nothing, + 64 MB) and drops = overflow exactly (${label(client)})`,
        measured: rss === undefined || floorRss === undefined ? 'not measured' : `peak RSS ${format(rss, 0)} MB (floor ${format(floorRss, 0)} MB), exact ${exact.yes}/${exact.of}`,
        met: rss === undefined || floorRss === undefined ? undefined : rss <= floorRss + 64 && exact.of > 0 && exact.yes === exact.of,
      });
    }
  }
  const kafka = outcomeOf(input, 'kafka');
  const raw = kafka === undefined ? undefined : medianOf(kafka.results, 'kafkajs-raw', 'eventsPerSec');
  const tp = kafka === undefined ? undefined : medianOf(kafka.results, 'trackpipe-kafka', 'eventsPerSec');
  checks.push({
    target: 'Kafka ≥ 0.9× raw kafkajs',
    measured: raw === undefined || tp === undefined ? (input.scenarios.find((s) => s.id === 'kafka')?.skipped ?? 'not measured') : `${format(tp, 0)} vs ${format(raw, 0)} events/s = ${format(tp / raw, 2)}×`,
    met: raw === undefined || tp === undefined ? undefined : tp >= 0.9 * raw,
  });
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
      'Figures are medians over the runs; ratios are to the hand-written floor (first row). Other work on the machine during the run adds noise; the interleaving (A B C, A B C, …) spreads it over all clients alike.',
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
    'Every client gets the same events (flag evaluations, about 250 bytes of JSON each), batches of 512, and a queue that holds every event (except in the outage scenario), ' +
      'and sends to the local sink only: posthog-node without a personal API key and without flags on capture (no `/flags` or polling requests), segment without any settings fetch.',
    '',
  );
  if (input.notes !== undefined && input.notes.trim() !== '') out.push(input.notes.trim(), '');
  return `${out.join('\n')}\n`;
}
