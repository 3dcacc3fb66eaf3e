import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Metrics } from '../src/harness.js';
import {
  type RawResult,
  type ReportInput,
  type ScenarioOutcome,
  checkTargets,
  medianOf,
  renderReport,
  reportCharts,
  scenarioTable,
  writeReportFiles,
} from '../src/report.js';

const labels = {
  floor: { label: 'floor', version: 'v', bound: 'none' },
  'trackpipe-json': { label: 'Trackpipe JSON', version: 'v', bound: 'q' },
  'trackpipe-otlp': { label: 'Trackpipe OTLP', version: 'v', bound: 'q' },
  otel: { label: 'OTel', version: 'v', bound: 'q' },
  posthog: { label: 'posthog', version: 'v', bound: 'q' },
  segment: { label: 'segment', version: 'v', bound: 'none' },
};

function runs(scenario: string, client: string, ...metrics: Metrics[]): RawResult[] {
  return metrics.map((m, run) => ({ scenario, client, run, at: '2026-01-01T00:00:00Z', params: {}, metrics: m }));
}

function outcome(id: string, clients: string[], results: RawResult[], columns: ScenarioOutcome['columns']): ScenarioOutcome {
  return { id, title: id, description: '', columns, clients, results };
}

const e2e = outcome(
  'end-to-end',
  ['floor', 'trackpipe-json', 'trackpipe-otlp', 'otel', 'posthog', 'segment'],
  [
    ...runs('end-to-end', 'floor', { eventsPerSec: 100, cpuUsPerEvent: 2 }, { eventsPerSec: 300, cpuUsPerEvent: 2 }, { eventsPerSec: 200, cpuUsPerEvent: 2 }),
    ...runs('end-to-end', 'trackpipe-json', { eventsPerSec: 190, cpuUsPerEvent: 2.2 }, { eventsPerSec: 185, cpuUsPerEvent: 2.2 }, { eventsPerSec: 195, cpuUsPerEvent: 2.2 }),
    ...runs('end-to-end', 'trackpipe-otlp', { eventsPerSec: 50, cpuUsPerEvent: 6 }),
    ...runs('end-to-end', 'otel', { eventsPerSec: 40 }),
    ...runs('end-to-end', 'posthog', { eventsPerSec: 10 }),
    { scenario: 'end-to-end', client: 'segment', run: 0, at: '', params: {}, error: 'the client process crashed (SIGABRT): JavaScript heap out of memory' },
    ...runs('end-to-end', 'segment', { eventsPerSec: 1, events: 500, recorded: 20 }),
  ],
  [
    { key: 'eventsPerSec', label: 'events/s', ratio: true },
    { key: 'cpuUsPerEvent', label: 'CPU', digits: 2 },
  ],
);

function input(scenarios: ScenarioOutcome[]): ReportInput {
  return {
    command: 'pnpm bench',
    code: 'commit abc1234',
    mode: 'full',
    runs: 3,
    startedAt: new Date('2026-01-01T00:00:00Z'),
    finishedAt: new Date('2026-01-01T01:00:00Z'),
    machine: { cpu: 'cpu', cores: 2, memoryGb: 8, node: 'v20', os: 'Linux', load: [1, 2] },
    clients: labels,
    scenarios,
    rawPath: 'results/full.jsonl',
    readmePath: 'README.md',
  };
}

describe('report', () => {
  it('takes the median over runs', () => {
    expect(medianOf(e2e.results, 'floor', 'eventsPerSec')).toBe(200);
    expect(medianOf(e2e.results, 'trackpipe-json', 'eventsPerSec')).toBe(190);
    expect(medianOf(e2e.results, 'nobody', 'eventsPerSec')).toBeUndefined();
  });

  it('shows medians with ratios to the floor, failed runs and short runs', () => {
    const table = scenarioTable(e2e, labels);
    expect(table).toContain('| Trackpipe JSON | 190 (0.95×) | 2.20 | 3/3 |');
    expect(table).toContain('| segment | 1 (0.01×) | — | 1/2 |');
    expect(table).toContain('JavaScript heap out of memory');
    expect(table).toContain('recorded 20');
  });

  it('checks the end-to-end targets against the medians', () => {
    const checks = checkTargets(input([e2e]));
    const json = (target: string) => checks.find((c) => c.target.startsWith(target) && c.target.includes('Trackpipe JSON'));
    expect(json('end to end ≥ 0.9×')?.met).toBe(true);
    expect(json('end to end ahead of every peer')?.met).toBe(true);
    expect(json('CPU per event ≤ 1.2×')?.met).toBe(true);
    const otlp = checks.find((c) => c.target.startsWith('end to end ≥ 0.9×') && c.target.includes('Trackpipe OTLP'));
    expect(otlp?.met).toBe(false);
    expect(checks.find((c) => c.target.startsWith('record()'))?.met).toBeUndefined();
  });

  it('marks a chaos run with a lost id as a miss even when the median lost nothing', () => {
    const chaos = outcome(
      'chaos',
      ['floor', 'trackpipe-json'],
      runs('chaos', 'trackpipe-json', { lost: 0, duplicatePct: 0, shutdownReturned: true }, { lost: 0, duplicatePct: 0, shutdownReturned: true }, { lost: 3, duplicatePct: 0, shutdownReturned: true }),
      [],
    );
    const check = checkTargets(input([chaos])).find((c) => c.target.startsWith('chaos') && c.target.includes('Trackpipe JSON'));
    expect(check?.met).toBe(false);
    expect(check?.measured).toContain('lost 3');
  });

  it('renders the machine, the command and every scenario section', () => {
    const text = renderReport(input([e2e, { ...outcome('kafka', [], [], []), title: '6. Kafka', skipped: 'skipped: no broker' }]));
    expect(text).toContain('`pnpm bench`');
    expect(text).toContain('Code measured: commit abc1234.');
    expect(text).toContain('| cpu | 2 | 8 GB | v20 | Linux | 1.00 / 2.00 |');
    expect(text).toContain('## end-to-end');
    expect(text).toContain('*skipped: no broker*');
    expect(text).toContain('| Kafka ≥ 0.9× raw kafkajs | skipped: no broker | — |');
  });
});

/** label → value of every bar of a chart (from its data attributes). */
function bars(svg: string): Record<string, number> {
  return Object.fromEntries([...svg.matchAll(/data-label="([^"]*)" data-value="([^"]*)"/g)].map((m) => [m[1]!, Number(m[2])]));
}

const chaos = outcome(
  'chaos',
  ['floor', 'trackpipe-json'],
  [
    ...runs('chaos', 'floor', { wallS: 10, lost: 4_000 }, { wallS: 12, lost: 5_000 }, { wallS: 11, lost: 4_500 }),
    ...runs('chaos', 'trackpipe-json', { wallS: 70, lost: 0 }, { wallS: 80, lost: 0 }, { wallS: 75, lost: 0 }),
  ],
  [{ key: 'wallS', label: 'wall s', digits: 1 }],
);

describe('report charts', () => {
  it('draws events/s and CPU per event end to end, and chaos wall time, from the medians the tables show', () => {
    const charts = reportCharts({ ...input([e2e, chaos]), chartPrefix: 'RESULTS-' });
    expect(charts.map((c) => [c.scenario, c.file])).toEqual([
      ['end-to-end', 'RESULTS-events-per-second.svg'],
      ['end-to-end', 'RESULTS-cpu-per-event.svg'],
      ['chaos', 'RESULTS-chaos-wall-time.svg'],
    ]);
    const [events, cpu, wall] = charts.map((c) => c.svg);
    // One bar per client with a figure, in the table's order; segment's failed run does not count.
    expect(bars(events!)).toEqual({ floor: 200, 'Trackpipe JSON': 190, 'Trackpipe OTLP': 50, OTel: 40, posthog: 10, segment: 1 });
    expect(bars(cpu!)).toEqual({ floor: 2, 'Trackpipe JSON': 2.2, 'Trackpipe OTLP': 6 });
    expect(bars(wall!)).toEqual({ floor: 11, 'Trackpipe JSON': 75 });
    expect(wall).toContain('75.0 s · 0 ids lost');
    expect(wall).toContain('11.0 s · 4,500 ids lost');
    // Whiskers (lowest to highest run) where a client has more than one run: floor and Trackpipe JSON.
    expect(events!.match(/<path /g)).toHaveLength(2);
  });

  it('leaves out a chart whose scenario did not run', () => {
    const skipped = { ...chaos, skipped: 'skipped: no sink' };
    expect(reportCharts(input([e2e, skipped])).map((c) => c.file)).toEqual(['events-per-second.svg', 'cpu-per-event.svg']);
    expect(reportCharts(input([]))).toEqual([]);
  });

  it('writes the charts next to the report and links each below its table', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-report-'));
    try {
      const written = writeReportFiles(join(dir, 'RESULTS.md'), input([e2e, chaos]));
      expect(written.map((f) => f.slice(dir.length + 1))).toEqual(['RESULTS.md', 'RESULTS-events-per-second.svg', 'RESULTS-cpu-per-event.svg', 'RESULTS-chaos-wall-time.svg']);
      expect(readdirSync(dir).sort()).toEqual(['RESULTS-chaos-wall-time.svg', 'RESULTS-cpu-per-event.svg', 'RESULTS-events-per-second.svg', 'RESULTS.md']);
      const md = readFileSync(join(dir, 'RESULTS.md'), 'utf8');
      const e2eSection = md.slice(md.indexOf('## end-to-end'), md.indexOf('## chaos'));
      expect(e2eSection).toContain('![End to end: delivered events per second (events/s, higher is better)](RESULTS-events-per-second.svg)');
      expect(e2eSection).toContain('](RESULTS-cpu-per-event.svg)');
      expect(e2eSection.indexOf('| Trackpipe JSON |')).toBeLessThan(e2eSection.indexOf('](RESULTS-events-per-second.svg)'));
      expect(md.slice(md.indexOf('## chaos'))).toContain('](RESULTS-chaos-wall-time.svg)');
      expect(bars(readFileSync(join(dir, 'RESULTS-events-per-second.svg'), 'utf8'))['Trackpipe JSON']).toBe(190);
      expect(renderReport(input([e2e, chaos]))).not.toContain('.svg)');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
