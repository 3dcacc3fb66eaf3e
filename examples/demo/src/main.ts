#!/usr/bin/env node
// The Trackpipe demo (`pnpm demo`): starts the Trackpipe service in-process on its embedded defaults
// (NDJSON files, or Kafka when KAFKA_BROKERS is set), then runs a simulated app that evaluates
// feature flags through OpenFeature with the Trackpipe hook and exports the evaluations over HTTP to
// the service's /v1/batch — every evaluation as an event, or (--mode summaries) counts per flag and
// variant per second. Shows live progress, then a summary; exits 0 only when nothing was lost.
//
//   node examples/demo/dist/main.js [--seconds 10] [--rate 2000] [--mode events|summaries|sampled] [--out <folder>]
import { createReadStream, createWriteStream, mkdirSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { type EvaluationContext, InMemoryProvider, OpenFeature } from '@openfeature/server-sdk';
import {
  BatchProcessor,
  type CollectorStats,
  FLAG_EVALUATION_EVENT,
  FLAG_EVALUATION_SUMMARY_EVENT,
  type FlagEvaluationEvent,
  SummaryAttributes,
} from '@trackpipe/core';
import { HttpExporter } from '@trackpipe/exporter-http';
import { type HookMode, TrackpipeHook } from '@trackpipe/openfeature';
import { createService, defaultServiceConfig, jsonLogger, parseServiceConfig } from '@trackpipe/service';

const HELP = `Trackpipe demo: an app evaluating flags through OpenFeature → HTTP → the Trackpipe service → NDJSON files (or Kafka).

Usage: node examples/demo/dist/main.js [options]
  --seconds <n>   how long the app runs (default: $DEMO_SECONDS, else 10); Ctrl-C stops early
  --rate <n>      flag evaluations per second (default 2000)
  --mode <m>      events (default): one event per evaluation; summaries: one summary per flag and
                  variant per second (counts); sampled: summaries plus 1 % of the evaluations in full
  --out <folder>  where the service writes NDJSON files and its log (default: a new temporary folder)
  -h, --help      show this help
Set KAFKA_BROKERS (host:port,...) to export to Kafka (topic $KAFKA_TOPIC, default trackpipe-events) instead of files.
`;

function positive(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) {
    process.stderr.write(`demo: ${name} must be a positive number\n`);
    process.exit(2);
  }
  return n;
}

function options(): { seconds?: string; rate?: string; out?: string; mode?: string; help?: boolean } {
  // `pnpm demo -- --seconds 5` passes the `--` through: skip it.
  const args = process.argv.slice(2).filter((arg, i) => !(i === 0 && arg === '--'));
  try {
    return parseArgs({
      args,
      options: {
        seconds: { type: 'string' },
        rate: { type: 'string' },
        out: { type: 'string' },
        mode: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (error) {
    process.stderr.write(`demo: ${error instanceof Error ? error.message : String(error)}\n${HELP}`);
    return process.exit(2);
  }
}
const values = options();
if (values.help === true) {
  process.stdout.write(HELP);
  process.exit(0);
}
const seconds = positive(values.seconds ?? process.env.DEMO_SECONDS, '--seconds', 10);
const rate = positive(values.rate, '--rate', 2_000);
/** `sampled`: summaries plus 1 % of the evaluations as full events (a fixed seed: the same run picks the same ones). */
const MODES: Readonly<Record<string, HookMode>> = { events: 'events', summaries: 'summaries', sampled: { summaries: true, sample: 0.01, seed: 1 } };
const modeName = values.mode ?? 'events';
const mode = MODES[modeName];
if (mode === undefined) {
  process.stderr.write(`demo: --mode must be events, summaries or sampled\n${HELP}`);
  process.exit(2);
}
const summaries = mode !== 'events';
const out = values.out ?? join(tmpdir(), `trackpipe-demo-${new Date().toISOString().replace(/[-:.]/g, '')}`);
mkdirSync(out, { recursive: true });

// ── The service, on its embedded defaults (free ports, logs to a file) ─────────────────────────
const env = { ...process.env, TRACKPIPE_DATA_DIR: out };
const defaults = defaultServiceConfig(env);
const config = parseServiceConfig(
  { ...defaults, service: { ...(defaults.service as object), http: { port: 0 }, grpc: { port: 0 } } },
  { env, source: 'embedded defaults' },
);
const kafkaMode = config.core.pipelines[0]?.exporters[0]?.type === 'kafka';
const logFile = createWriteStream(join(out, 'service.log'), { flags: 'a' });
const logger = jsonLogger({ level: 'info', write: (line) => void logFile.write(`${line}\n`) });
const { service } = await createService(config, { logger });
const { http } = await service.start();
if (http === undefined) throw new Error('the demo needs the HTTP ingest');

// ── The simulated app: OpenFeature + the Trackpipe hook, exporting over HTTP to the service ─────
const appCollector = new BatchProcessor<FlagEvaluationEvent>(
  // The service's /v1/batch takes { "batch": [...] }: the json format with the envelope key "batch".
  new HttpExporter({ url: `${http.url}/v1/batch`, format: 'json', envelopeKey: 'batch' }),
  { name: 'demo-app', flushIntervalMs: 200, maxBatchSize: 500 },
);
// In the summary modes the hook counts evaluations in a SummarizingCollector in front of appCollector:
// one summary per flag, variant and value per second (a demo-sized window; the default is 10 s).
const hook = new TrackpipeHook(appCollector, {
  contextAttributes: ['plan', 'country'],
  targetingKey: 'hash',
  hashSalt: 'demo-salt',
  mode,
  summarizer: { intervalMs: 1_000 },
});
const flags = {
  'new-checkout': {
    variants: { on: true, off: false },
    defaultVariant: 'off',
    disabled: false,
    contextEvaluator: (ctx: EvaluationContext) => (ctx.plan === 'pro' ? 'on' : 'off'),
  },
  theme: {
    variants: { light: 'light', dark: 'dark', contrast: 'high-contrast' },
    defaultVariant: 'light',
    disabled: false,
    contextEvaluator: (ctx: EvaluationContext) => (String(ctx.targetingKey).endsWith('7') ? 'contrast' : ctx.country === 'NO' ? 'dark' : 'light'),
  },
  'max-items': { variants: { small: 10, large: 50 }, defaultVariant: 'small', disabled: false },
} as const;
await OpenFeature.setProviderAndWait(new InMemoryProvider(flags));
OpenFeature.addHooks(hook);
const client = OpenFeature.getClient('demo-app');

const countries = ['NO', 'DE', 'FR', 'US', 'JP'];
const users: EvaluationContext[] = Array.from({ length: 500 }, (_, i) => ({
  targetingKey: `user-${i}`,
  plan: i % 5 === 0 ? 'pro' : 'free',
  country: countries[i % countries.length] ?? 'NO',
  email: `user-${i}@example.com`, // not in contextAttributes: never recorded
}));

let evaluations = 0;
function evaluate(n: number): Promise<unknown> {
  const jobs: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const k = evaluations++;
    const user = users[k % users.length]!;
    switch (k % 4) {
      case 0:
        jobs.push(client.getBooleanValue('new-checkout', false, user));
        break;
      case 1:
        jobs.push(client.getStringValue('theme', 'light', user));
        break;
      case 2:
        jobs.push(client.getNumberValue('max-items', 10, user));
        break;
      default:
        // Now and then a flag that does not exist: recorded too, with its error code.
        jobs.push(k % 100 === 3 ? client.getBooleanValue('retired-flag', false, user) : client.getBooleanValue('new-checkout', false, user));
    }
  }
  return Promise.all(jobs);
}

// ── Progress ───────────────────────────────────────────────────────────────────────────────────
const tty = process.stdout.isTTY === true;
const started = performance.now();
let lastExported = 0;
let lastAt = started;
/** One progress line; the final one shows the average rate over the whole run. */
function progressLine(final: boolean): string {
  const app = appCollector.stats();
  const svc = service.stats();
  const now = performance.now();
  const perSecond = final
    ? (svc.exported * 1000) / Math.max(1, now - started)
    : ((svc.exported - lastExported) * 1000) / Math.max(1, now - lastAt);
  lastExported = svc.exported;
  lastAt = now;
  const elapsed = ((now - started) / 1000).toFixed(1).padStart(5);
  const evaluated = summaries ? `evaluations ${hook.stats().evaluations} → ${hook.summarizer?.stats().summaries ?? 0} summaries, ` : '';
  return (
    `[${final ? ' done ' : `${elapsed}s`}] app: ${evaluated}recorded ${app.recorded} exported ${app.exported} dropped ${app.dropped} queue ${app.queued + app.inFlight}` +
    ` | service: accepted ${service.accepted} exported ${svc.exported} dropped ${svc.dropped} queue ${svc.queued + svc.inFlight}` +
    ` | ${Math.round(perSecond)} events/s${final ? ' on average' : ''}`
  );
}
function showProgress(final = false): void {
  if (tty) {
    // Keep to one terminal row, or the \r rewrite would leave wrapped fragments behind.
    const line = progressLine(final);
    const width = process.stdout.columns > 1 && !final ? process.stdout.columns - 1 : line.length;
    process.stdout.write(`\r\x1b[K${line.length > width ? line.slice(0, width) : line}`);
  } else {
    process.stdout.write(`${progressLine(final)}\n`);
  }
}

process.stdout.write(`Trackpipe demo: ${rate} flag evaluations/s for ${seconds} s, mode ${modeName} (Ctrl-C stops early)\n`);
process.stdout.write(`  service   HTTP ${http.url}  (POST /v1/track, /v1/batch, /v1/identify)\n`);
process.stdout.write(`  metrics   ${http.url}/metrics\n`);
process.stdout.write(
  kafkaMode ? `  output    Kafka (KAFKA_BROKERS is set)\n` : `  output    NDJSON files in ${out}\n`,
);
process.stdout.write(`  logs      ${join(out, 'service.log')}\n`);

// ── Run until the time is up or a signal arrives ───────────────────────────────────────────────
let stop!: () => void;
const stopped = new Promise<void>((resolve) => (stop = resolve));
const timer = setTimeout(stop, seconds * 1000);
let signalled = false;
const onSignal = (): void => {
  if (signalled) process.exit(1); // a second Ctrl-C: give up at once
  signalled = true;
  stop();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
const ticker = setInterval(() => showProgress(), tty ? 250 : 1_000);

let running = true;
void stopped.then(() => (running = false));
const load = (async () => {
  while (running) {
    const due = Math.floor((rate * (performance.now() - started)) / 1000) - evaluations;
    if (due > 0) await evaluate(Math.min(due, Math.ceil(rate / 10)));
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
})();
await stopped;
clearTimeout(timer);
await load;

// ── Drain: the app flushes to the service, then the service flushes to its exporter ────────────
// Closing the hook closes what it records into: in the summary modes the summarizer (its open window
// first), then appCollector.
const appReport = await hook.close({ timeoutMs: 15_000 });
const serviceReport = await service.shutdown({ timeoutMs: 15_000 });
clearInterval(ticker);
showProgress(true);
if (tty) process.stdout.write('\n');
await OpenFeature.close();
await new Promise<void>((resolve) => logFile.end(resolve));

// ── Summary ────────────────────────────────────────────────────────────────────────────────────
interface FileCounts {
  lines: number;
  ids: Set<string>;
  /** Summary lines, and the evaluations they count. */
  summaries: number;
  counted: number;
  /** Full flag evaluation lines. */
  full: number;
}
async function countFile(path: string): Promise<FileCounts> {
  const counts: FileCounts = { lines: 0, ids: new Set<string>(), summaries: 0, counted: 0, full: 0 };
  for await (const line of createInterface({ input: createReadStream(path), crlfDelay: Infinity })) {
    if (line === '') continue;
    counts.lines++;
    const event = JSON.parse(line) as { id: string; name: string; attributes?: Record<string, unknown> };
    counts.ids.add(event.id);
    if (event.name === FLAG_EVALUATION_SUMMARY_EVENT) {
      counts.summaries++;
      counts.counted += Number(event.attributes?.[SummaryAttributes.COUNT]);
    } else if (event.name === FLAG_EVALUATION_EVENT) {
      counts.full++;
    }
  }
  return counts;
}
function drops(stats: CollectorStats): string {
  const parts = Object.entries(stats.droppedByReason)
    .filter(([, n]) => n > 0)
    .map(([reason, n]) => `${reason} ${n}`);
  return parts.length === 0 ? '0' : `${stats.dropped} (${parts.join(', ')})`;
}

const app = appCollector.stats();
const svc = serviceReport.stats;
const hookStats = hook.stats();
const files = kafkaMode ? [] : readdirSync(out).filter((f) => f.endsWith('.ndjson'));
let written = 0;
let summaryLines = 0;
let counted = 0;
let fullLines = 0;
const uniqueIds = new Set<string>();
for (const f of files) {
  const counts = await countFile(join(out, f));
  written += counts.lines;
  summaryLines += counts.summaries;
  counted += counts.counted;
  fullLines += counts.full;
  for (const id of counts.ids) uniqueIds.add(id);
}

const problems: string[] = [];
if (hookStats.failed > 0) problems.push(`${hookStats.failed} evaluations could not be recorded`);
if (app.dropped > 0 || !appReport.complete) problems.push(`the app dropped ${app.dropped} events`);
if (app.exported !== serviceReport.accepted) problems.push(`the app exported ${app.exported} events but the service accepted ${serviceReport.accepted}`);
if (svc.dropped > 0 || !serviceReport.report.complete) problems.push(`the service dropped ${svc.dropped} events`);
if (svc.exported !== serviceReport.accepted) problems.push(`the service exported ${svc.exported} of ${serviceReport.accepted} accepted events`);
if (!kafkaMode && (written !== svc.exported || uniqueIds.size !== written)) {
  problems.push(`the files hold ${written} lines (${uniqueIds.size} distinct ids) for ${svc.exported} exported events`);
}
const summarizer = hook.summarizer?.stats();
if (summarizer !== undefined && (summarizer.dropped > 0 || summarizer.queued > 0 || summarizer.exported !== hookStats.recorded)) {
  problems.push(`the summarizer handed over ${summarizer.exported} of ${hookStats.recorded} evaluations (dropped ${summarizer.dropped}, still open ${summarizer.queued})`);
}
if (!kafkaMode && summaries && (counted !== hookStats.recorded || fullLines !== hookStats.fullEvents)) {
  problems.push(`the summaries in the files count ${counted} of ${hookStats.recorded} evaluations, and ${fullLines} of ${hookStats.fullEvents} full events were written`);
}

const lines = [
  '',
  'Summary',
  `  app      evaluations ${hookStats.evaluations}, recorded ${app.recorded}, exported ${app.exported}, dropped ${drops(app)}, retries ${app.retries}`,
  ...(summaries
    ? [
        `  summary  ${hookStats.recorded} evaluations counted in ${summarizer?.summaries ?? 0} summaries over ${summarizer?.windows ?? 0} windows` +
          `${hookStats.fullEvents > 0 ? `, plus ${hookStats.fullEvents} sampled full events` : ''}` +
          (kafkaMode ? '' : `; the summaries in the files count ${counted} evaluations (${summaryLines} lines)`),
      ]
    : []),
  `  service  accepted ${serviceReport.accepted}, exported ${svc.exported}, dropped ${drops(svc)}`,
  kafkaMode
    ? `  output   Kafka topic (see KAFKA_TOPIC, default trackpipe-events)`
    : `  files    ${files.length} written: ${files.map((f) => join(out, f)).join(', ')} (${written} lines)`,
  problems.length === 0
    ? `  result   OK: nothing lost — every evaluation recorded by the app was ${summaries ? 'counted in a summary that was ' : ''}exported${kafkaMode ? ' to Kafka' : ' and written'}`
    : `  result   LOST EVENTS: ${problems.join('; ')}`,
  '',
];
process.stdout.write(lines.join('\n'));
process.exit(problems.length === 0 && hookStats.evaluations > 0 ? 0 : 1);
