// `pnpm bench [--quick] [--only a,b] [--clients x,y] [--runs n] [--out file] [--cpu-prof] [--report raw.jsonl]`
// Runs every scenario, each client in its own process, interleaved (A B C, A B C, ...), with the sink
// in this process; writes one JSON line per run to results/ and renders RESULTS.md.
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem, type } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { clientInfo, isClientName } from './clients/index.js';
import { ChildHandle, type Metrics, type Scenario } from './harness.js';
import { type Machine, type RawResult, type ScenarioOutcome, writeReportFiles } from './report.js';
import { SCENARIOS } from './scenarios/index.js';
import { Sink } from './sink.js';

const BENCH_DIR = fileURLToPath(new URL('..', import.meta.url));

/** First line of a raw results file. */
interface MetaLine {
  readonly meta: {
    readonly command: string;
    readonly mode: 'full' | 'quick';
    readonly runs: number;
    readonly startedAt: string;
    readonly machine: Machine;
    readonly scenarios: readonly string[];
    /** The code measured: commit and uncommitted changes in the packages under test. */
    readonly code?: string;
  };
}
/** A scenario that did not run. */
interface SkippedLine {
  readonly skipped: { readonly scenario: string; readonly reason: string; readonly clients: readonly string[] };
}
/** Last line of a complete raw results file. */
interface EndLine {
  readonly end: { readonly finishedAt: string; readonly load: number };
}
type RawLine = MetaLine | SkippedLine | EndLine | RawResult;

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

function machine(): Machine {
  const list = cpus();
  const load = loadavg()[0] ?? 0;
  return {
    cpu: list[0]?.model.trim() ?? 'unknown',
    cores: list.length,
    memoryGb: totalmem() / 1024 ** 3,
    node: process.version,
    os: `${type()} ${release()}`,
    load: [load, load],
  };
}

/** The commit being measured, and which packages under test have uncommitted changes (read-only git calls). */
function codeVersion(): string {
  const git = (...args: string[]): string => execFileSync('git', args, { cwd: BENCH_DIR, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    const commit = git('rev-parse', '--short', 'HEAD');
    const dirty = git('status', '--porcelain', '--', '../packages/core/src', '../packages/exporter-http/src', '../packages/exporter-kafka/src', '../packages/spool/src');
    const packages = [...new Set(dirty.split('\n').filter((line) => line !== '').map((line) => line.slice(3).split('/').slice(0, 2).join('/')))];
    return packages.length === 0 ? `commit ${commit}` : `commit ${commit} + uncommitted changes in ${packages.join(', ')}`;
  } catch {
    return 'unknown (not a git checkout)';
  }
}

/** A short line of the figures a table shows, for progress output. */
function brief(scenario: Scenario<unknown>, metrics: Metrics): string {
  return scenario.columns
    .map((column) => {
      const value = metrics[column.key];
      if (typeof value === 'number') return `${column.label} ${value.toLocaleString('en-US', { maximumFractionDigits: column.digits ?? 0 })}`;
      if (typeof value === 'boolean') return `${column.label} ${value ? 'yes' : 'no'}`;
      return undefined;
    })
    .filter((part) => part !== undefined)
    .join(', ');
}

/** Renders the report of a raw results file (from this run, or an earlier one with `--report`). */
function writeReport(rawFile: string, out: string): void {
  const lines = readFileSync(rawFile, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as RawLine);
  const meta = lines.find((line): line is MetaLine => 'meta' in line)?.meta;
  if (meta === undefined) throw new Error(`${rawFile} has no meta line`);
  const end = lines.find((line): line is EndLine => 'end' in line)?.end;
  const results = lines.filter((line): line is RawResult => 'scenario' in line);
  const skipped = lines.filter((line): line is SkippedLine => 'skipped' in line).map((line) => line.skipped);
  const quick = meta.mode === 'quick';
  const outcomes: ScenarioOutcome[] = [];
  for (const id of meta.scenarios) {
    const scenario = SCENARIOS.find((s) => s.id === id);
    if (scenario === undefined) continue;
    const own = results.filter((r) => r.scenario === id);
    const skip = skipped.find((s) => s.scenario === id);
    if (own.length === 0 && skip === undefined) continue;
    const params = own[0]?.params ?? scenario.params(quick);
    const clients = skip?.clients ?? [...new Set(own.map((r) => r.client))];
    outcomes.push({
      id,
      title: scenario.title,
      description: scenario.describe(params),
      columns: scenario.columns,
      clients,
      results: own,
      ...(skip === undefined ? {} : { skipped: skip.reason }),
    });
  }
  // The hand-written notes belong to the published report only (their links are relative to bench/).
  let notes: string | undefined;
  if (resolve(out) === join(BENCH_DIR, 'RESULTS.md')) {
    try {
      notes = readFileSync(join(BENCH_DIR, 'what-we-tried.md'), 'utf8');
    } catch {
      notes = undefined;
    }
  }
  const labels = clientInfo();
  for (const scenario of SCENARIOS) Object.assign(labels, scenario.clientInfo?.());
  const written = writeReportFiles(out, {
    command: meta.command,
    code: meta.code ?? 'not recorded',
    mode: meta.mode,
    runs: meta.runs,
    startedAt: new Date(meta.startedAt),
    finishedAt: new Date(end?.finishedAt ?? results.at(-1)?.at ?? meta.startedAt),
    machine: { ...meta.machine, load: [meta.machine.load[0], end?.load ?? meta.machine.load[1]] },
    clients: labels,
    scenarios: outcomes,
    rawPath: relative(dirname(out), rawFile),
    readmePath: relative(dirname(out), join(BENCH_DIR, 'README.md')),
    notes,
  });
  log(`wrote ${written.map((file) => relative(process.cwd(), file)).join(', ')}`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: process.argv.slice(2).filter((arg) => arg !== '--'),
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      clients: { type: 'string' },
      runs: { type: 'string' },
      out: { type: 'string' },
      'cpu-prof': { type: 'boolean', default: false },
      report: { type: 'string' },
    },
  });
  const quick = values.quick === true;
  const resultsDir = join(BENCH_DIR, 'results');
  const defaultOut = (mode: 'full' | 'quick'): string => (mode === 'quick' ? join(resultsDir, 'RESULTS.quick.md') : join(BENCH_DIR, 'RESULTS.md'));
  if (values.report !== undefined) {
    const rawFile = resolve(values.report);
    writeReport(rawFile, values.out ?? defaultOut(rawFile.includes('quick-') ? 'quick' : 'full'));
    return;
  }
  const runs = values.runs !== undefined ? Number(values.runs) : quick ? 1 : 3;
  if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a positive integer');
  const only = values.only?.split(',').map((s) => s.trim());
  const onlyClients = values.clients?.split(',').map((s) => s.trim());
  const scenarios = SCENARIOS.filter((s) => only === undefined || only.includes(s.id));
  if (scenarios.length === 0) throw new Error(`--only matches no scenario (there are: ${SCENARIOS.map((s) => s.id).join(', ')})`);

  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-').slice(0, 19);
  mkdirSync(resultsDir, { recursive: true });
  const rawFile = join(resultsDir, `${quick ? 'quick' : 'full'}-${stamp}.jsonl`);
  const profileDir = join(resultsDir, 'profiles', stamp);
  const execArgv = values['cpu-prof'] === true ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
  const args = process.argv.slice(2).filter((a) => a !== '--');
  const command = `pnpm bench${args.length > 0 ? ` ${args.join(' ')}` : ''}`;
  const write = (line: RawLine): void => appendFileSync(rawFile, `${JSON.stringify(line)}\n`);
  write({ meta: { command, mode: quick ? 'quick' : 'full', runs, startedAt: startedAt.toISOString(), machine: machine(), scenarios: scenarios.map((s) => s.id), code: codeVersion() } });
  log(`trackpipe bench: ${quick ? 'quick' : 'full'} run, ${runs} run(s) per client, scenarios ${scenarios.map((s) => s.id).join(', ')}`);
  log(`raw results: ${relative(BENCH_DIR, rawFile)}`);

  const sink = new Sink();
  await sink.start();
  let sequence = 0;
  for (const scenario of scenarios) {
    const params = scenario.params(quick);
    const accepts = (client: string): boolean => (scenario.accepts === undefined ? isClientName(client) : scenario.accepts(client));
    const clients = onlyClients === undefined ? scenario.clients(params) : onlyClients.filter(accepts);
    if (clients.length === 0) {
      log(`[${scenario.id}] no client of --clients runs in this scenario; skipped`);
      continue;
    }
    const prepared = scenario.setup === undefined ? { teardown: async () => undefined } : await scenario.setup(params, log);
    if (prepared.skip !== undefined) {
      log(`[${scenario.id}] ${prepared.skip}`);
      write({ skipped: { scenario: scenario.id, reason: prepared.skip, clients } });
      continue;
    }
    try {
      const rounds = scenario.runs?.(runs, params) ?? runs;
      for (let run = 0; run < rounds; run++) {
        for (const client of clients) {
          const idPrefix = `${(sequence++).toString(36)}${Math.random().toString(36).slice(2, 6)}-`;
          const started = performance.now();
          let result: RawResult;
          const handles: ChildHandle[] = [];
          try {
            const metrics = await scenario.runOne({
              client,
              params,
              sink,
              run,
              idPrefix,
              log,
              spawn: async (settings, nodeOptions = []) => {
                const handle = await ChildHandle.spawn(
                  { type: 'run', scenario: scenario.id, client, params, settings, idPrefix },
                  { timeoutMs: scenario.timeoutMs(params), execArgv: [...nodeOptions, ...execArgv] },
                );
                handles.push(handle);
                return handle;
              },
            });
            result = { scenario: scenario.id, client, run, at: new Date().toISOString(), params, metrics: { ...metrics, load: loadavg()[0] ?? 0 } };
            log(`[${scenario.id}] round ${run + 1}/${rounds} ${client}: ${brief(scenario, metrics)} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
          } catch (error) {
            const message = error instanceof Error ? error.message : String(error);
            result = { scenario: scenario.id, client, run, at: new Date().toISOString(), params, error: message };
            log(`[${scenario.id}] round ${run + 1}/${rounds} ${client}: FAILED: ${message}`);
          } finally {
            for (const handle of handles) await handle.kill();
            if (!sink.up) await sink.start();
          }
          write(result);
        }
      }
    } finally {
      await prepared.teardown();
    }
  }
  await sink.stop();
  write({ end: { finishedAt: new Date().toISOString(), load: loadavg()[0] ?? 0 } });
  writeReport(rawFile, values.out ?? defaultOut(quick ? 'quick' : 'full'));
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    log(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
