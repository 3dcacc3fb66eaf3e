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
    const find = (target: string) => checks.find((c) => c.target.startsWith(target));
    // Trackpipe JSON: 190 vs the floor's 200 events/s (0.95×, the target is 1.0×); CPU 2.2 vs 2 µs (1.1×, the target).
    expect(find('end to end over HTTP, JSON, gzip off ≥ 1.0×')).toMatchObject({ met: false, measured: '190 vs 200 events/s = 0.95×' });
    expect(find('CPU per event ≤ 1.1×')?.met).toBe(true);
    // OTLP 50 vs OpenTelemetry JS 40 events/s: 1.25×, not 3×.
    expect(find('OTLP ≥ 3× OpenTelemetry JS')).toMatchObject({ met: false, measured: '50 vs 40 events/s = 1.25×' });
    // Scenarios that did not run are not judged.
    expect(find('record() ≤ 50 ns')?.met).toBeUndefined();
    expect(find('the default configuration')?.met).toBeUndefined();
    expect(checks.some((c) => c.target.startsWith('hang-heavy') || c.target.startsWith('flapping'))).toBe(false);
  });

  it('marks a chaos run with a lost id as a miss even when the median lost nothing, and a wall time over 10 s as a miss', () => {
    const chaos = outcome(
      'chaos',
      ['floor', 'trackpipe-json', 'trackpipe-otlp'],
      [
        ...runs('chaos', 'trackpipe-json', { lost: 0, wallS: 5, shutdownReturned: true }, { lost: 0, wallS: 6, shutdownReturned: true }, { lost: 3, wallS: 5, shutdownReturned: true }),
        ...runs('chaos', 'trackpipe-otlp', { lost: 0, wallS: 12, shutdownReturned: true }, { lost: 0, wallS: 11, shutdownReturned: true }, { lost: 0, wallS: 9, shutdownReturned: true }),
      ],
      [],
    );
    const checks = checkTargets(input([chaos]));
    const json = checks.find((c) => c.target.startsWith('chaos') && c.target.includes('Trackpipe JSON'));
    expect(json?.met).toBe(false);
    expect(json?.measured).toContain('lost 3');
    const otlp = checks.find((c) => c.target.startsWith('chaos') && c.target.includes('Trackpipe OTLP'));
    expect(otlp).toMatchObject({ met: false });
    expect(otlp?.measured).toContain('wall 11.0 s');
  });

  it('compares the hang-heavy rounds with the fault-free ones', () => {
    const hang = outcome(
      'hang-heavy',
      ['tp', 'tp:hang'],
      [...runs('hang-heavy', 'tp', { eventsPerSec: 100 }, { eventsPerSec: 120 }), ...runs('hang-heavy', 'tp:hang', { eventsPerSec: 55 }, { eventsPerSec: 65 })],
      [],
    );
    expect(checkTargets(input([hang])).find((c) => c.target.startsWith('hang-heavy'))).toMatchObject({ met: true, measured: '60 vs 110 events/s = 0.55×' });
  });

  it('needs 0 drops and both series flat for the flapping target', () => {
    const flapping = (metrics: Metrics) => outcome('flapping', ['tp'], runs('flapping', 'tp', metrics), []);
    const calm = { reportedDrops: 0, lost: 0, rssFlat: true, delayFlat: true, rssFirstMb: 100, rssSecondMb: 101, delayFirstMs: 2, delaySecondMs: 2.1 };
    const flap = (metrics: Metrics) => checkTargets(input([flapping(metrics)])).find((c) => c.target.startsWith('flapping'));
    expect(flap(calm)?.met).toBe(true);
    expect(flap({ ...calm, reportedDrops: 12 })).toMatchObject({ met: false });
    expect(flap({ ...calm, rssFlat: false })?.met).toBe(false);
    expect(flap({ ...calm, delayFlat: false })?.met).toBe(false);
  });

  it('says the service target is pending when the spool runs could not run, with the in-memory figure', () => {
    const service = outcome(
      'service-ingest',
      ['service-memory', 'service-spool'],
      [
        ...runs('service-ingest', 'service-memory', { eventsPerSec: 1_000, ackP99Ms: 3 }),
        { scenario: 'service-ingest', client: 'service-spool', run: 0, at: '', params: {}, error: 'not run: trackpipe serve cannot run with a spool yet' },
      ],
      [],
    );
    const checks = checkTargets(input([service]));
    const throughput = checks.find((c) => c.target.startsWith('service ingest with durable'));
    expect(throughput?.met).toBeUndefined();
    expect(throughput?.measured).toBe('pending: not run: trackpipe serve cannot run with a spool yet; in memory: 1,000 events/s');
    expect(checks.find((c) => c.target.startsWith('service ingest with a spool: acknowledgement'))?.met).toBeUndefined();
  });

  it('renders the machine, the command and every scenario section', () => {
    const text = renderReport(input([e2e, { ...outcome('kafka', [], [], []), title: '6. Kafka', skipped: 'skipped: no broker' }]));
    expect(text).toContain('`pnpm bench`');
    expect(text).toContain('Code measured: commit abc1234.');
    expect(text).toContain('| cpu | 2 | 8 GB | v20 | Linux | 1.00 / 2.00 |');
    expect(text).toContain('## end-to-end');
    expect(text).toContain('*skipped: no broker*');
    expect(text).toContain('| Kafka ≥ 1.0× a raw kafkajs producer sending the same batches (acks all, gzip) | skipped: no broker | — |');
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
