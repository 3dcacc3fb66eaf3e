import { type ChildProcess, spawn as spawnProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FlagEvaluationEvent } from '@trackpipe/core';
import { postJson } from '../clients/floor.js';
import { packageVersion } from '../clients/index.js';
import type { BenchClient, ClientInfo, ClientSettings, ShutdownOutcome } from '../clients/types.js';
import { type Metrics, type Scenario, median, processFigures } from '../harness.js';
import { BATCH_SIZE, flagEvaluationAt, sleep, withDeadline } from '../workload.js';

/** Parameters of the service ingest scenario. */
export interface ServiceIngestParams {
  /** Paced phase: one request every `pacedIntervalMs`, for this long, in s. */
  readonly pacedSeconds: number;
  /** Events per request of the paced phase. */
  readonly pacedBatch: number;
  /** Milliseconds between two requests of the paced phase. */
  readonly pacedIntervalMs: number;
  /** Saturated phase: this many connections, each sending its next batch as soon as the last was answered, for this long, in s. */
  readonly saturatedSeconds: number;
  /** Connections of the saturated phase. */
  readonly connections: number;
  /** Deadline of the service's drain after SIGTERM, in ms. */
  readonly drainMs: number;
}

const CLI = fileURLToPath(new URL('../../../packages/service/dist/cli.js', import.meta.url));
const MEMORY = 'service-memory';
const SPOOL = 'service-spool';

/** The version of the service package next to the bench. */
function serviceVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../../packages/service/package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** A `trackpipe serve` process started for one run. */
interface RunningService {
  readonly url: string;
  readonly process: ChildProcess;
  readonly exited: Promise<number | null>;
  /** Its log lines so far (the last 200). */
  readonly log: string[];
}

/** Starts `trackpipe serve --config <file>`; resolves with its HTTP URL once it logs `listening`, rejects when it exits first. */
function startService(configFile: string, timeoutMs: number): Promise<RunningService> {
  if (!existsSync(CLI)) return Promise.reject(new Error(`${CLI} is missing: build the workspace first (pnpm build)`));
  const child = spawnProcess(process.execPath, [CLI, 'serve', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log: string[] = [];
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`trackpipe serve did not start within ${timeoutMs} ms: ${log.slice(-5).join(' | ')}`));
    }, timeoutMs);
    const onLine = (line: string): void => {
      log.push(line);
      if (log.length > 200) log.shift();
      if (!line.includes('"listening"')) return;
      try {
        const url = (JSON.parse(line) as { http?: string }).http;
        if (url === undefined) return;
        clearTimeout(timer);
        resolve({ url, process: child, exited, log });
      } catch {
        // not one of its JSON lines
      }
    };
    let partial = '';
    const read = (chunk: Buffer): void => {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.trim() !== '') onLine(line);
    };
    child.stdout.on('data', read);
    child.stderr.on('data', read);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`trackpipe serve exited (code ${code}) before it listened: ${log.slice(-5).join(' | ')}`));
    });
  });
}

/** The load generator's HTTP client: POSTs `{ batch }` bodies to the service's `/v1/batch` over a keep-alive agent. */
class IngestLoad implements BenchClient {
  readonly name: string;
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  readonly #url: URL;
  #batch: FlagEvaluationEvent[] = [];
  readonly #inFlight = new Set<Promise<unknown>>();
  #failed = 0;

  constructor(name: string, settings: ClientSettings) {
    this.name = name;
    this.#url = new URL('/v1/batch', settings.sinkUrl);
  }

  /** Sends one batch; resolves with the status (0 on a network error) and the time to the answer, in ms. Never rejects. */
  post(events: readonly FlagEvaluationEvent[]): Promise<{ status: number; ms: number }> {
    const body = JSON.stringify({ batch: events });
    const started = performance.now();
    return postJson(this.#agent, this.#url, body).then((status) => ({ status, ms: performance.now() - started }));
  }

  prepare(event: FlagEvaluationEvent): unknown {
    return event;
  }

  record(input: unknown): void {
    this.#batch.push(input as FlagEvaluationEvent);
    if (this.#batch.length >= BATCH_SIZE) this.#send();
  }

  #send(): void {
    const events = this.#batch;
    this.#batch = [];
    const sent = this.post(events).then(({ status }) => {
      if (status !== 202) this.#failed += events.length;
      this.#inFlight.delete(sent);
    });
    this.#inFlight.add(sent);
  }

  async shutdown(deadlineMs: number): Promise<ShutdownOutcome> {
    if (this.#batch.length > 0) this.#send();
    const outcome = await withDeadline(Promise.all([...this.#inFlight]), deadlineMs);
    this.#agent.destroy();
    return { ...outcome, reportedDrops: this.#failed };
  }

  reportedDrops(): number {
    return this.#failed;
  }
}

function quantile(values: readonly number[], q: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] as number;
}

/** Scenario 11, service ingest: `trackpipe serve` with its queues in memory against the same with a spool (durable acknowledgements). */
export const serviceIngest: Scenario<ServiceIngestParams> = {
  id: 'service-ingest',
  title: '11. Service ingest: in memory against a spool (durable acknowledgements)',
  params: (quick) =>
    quick
      ? { pacedSeconds: 2, pacedBatch: 100, pacedIntervalMs: 5, saturatedSeconds: 3, connections: 4, drainMs: 30_000 }
      : { pacedSeconds: 10, pacedBatch: 100, pacedIntervalMs: 5, saturatedSeconds: 15, connections: 4, drainMs: 60_000 },
  clients: () => [MEMORY, SPOOL],
  accepts: (client) => client === MEMORY || client === SPOOL,
  createClient: (name, settings) => Promise.resolve(new IngestLoad(name, settings)),
  clientInfo: (): Record<string, ClientInfo> => {
    const version = `@trackpipe/service ${serviceVersion()}`;
    return {
      [MEMORY]: { label: 'trackpipe serve, queues in memory', version, bound: 'the pipeline queue (10 000); 503 when full' },
      [SPOOL]: { label: 'trackpipe serve, spool (durable 202)', version: `${version} + @trackpipe/spool ${packageVersion('@trackpipe/spool')}`, bound: 'the spool; 503 when full' },
    };
  },
  timeoutMs: (p) => (1 + p.pacedSeconds + p.saturatedSeconds) * 1000 + p.drainMs + 120_000,
  describe: (p) =>
    '`trackpipe serve` (a separate process; HTTP ingest, one pipeline, an HTTP exporter to the sink with its defaults) with its queue in memory, or with a spool (`pipelines[0].spool`, defaults: `sync.intervalMs` 5), where a 202 waits for the group commit. ' +
    `A load generator in a third process POSTs flag evaluations to \`/v1/batch\`: first paced, ${p.pacedBatch} events every ${p.pacedIntervalMs} ms for ${p.pacedSeconds} s after a second of warm-up (${((p.pacedBatch * 1000) / p.pacedIntervalMs).toLocaleString('en')} events/s): **ack p50 / p99** is the time from sending a request to its 202; ` +
    `then saturated, ${p.connections} connections each sending its next batch of ${BATCH_SIZE} as soon as the last was answered (a 503 waits 100 ms) for ${p.saturatedSeconds} s: **events/s** is the events answered 202 over the window (× the in-memory service: the target is ≥ 0.7×). ` +
    'Then the service gets SIGTERM and drains; **lost** = events answered 202 − distinct ids at the sink. Three processes share the 2 cores (sink, service, load generator): compare the rows with each other.',
  columns: [
    { key: 'eventsPerSec', label: 'events/s (saturated)', digits: 0, ratio: true },
    { key: 'overloaded', label: '503s', digits: 0 },
    { key: 'ackP50Ms', label: 'ack p50 ms (paced)', digits: 2 },
    { key: 'ackP99Ms', label: 'ack p99 ms (paced)', digits: 2 },
    { key: 'ackMaxMs', label: 'ack max ms', digits: 1 },
    { key: 'lost', label: 'lost', digits: 0 },
    { key: 'serviceExitCode', label: 'exit code', digits: 0 },
  ],

  async runOne({ client, sink, spawn, params }) {
    sink.reset();
    const dir = mkdtempSync(join(tmpdir(), 'trackpipe-bench-service-'));
    const config = {
      service: { http: { host: '127.0.0.1', port: 0 }, grpc: { enabled: false }, logLevel: 'info' },
      pipelines: [
        {
          name: 'bench',
          exporters: [{ type: 'http', url: `${sink.url}/v1/events` }],
          ...(client === SPOOL ? { spool: { path: join(dir, 'spool') } } : {}),
        },
      ],
    };
    const configFile = join(dir, 'trackpipe.json');
    writeFileSync(configFile, JSON.stringify(config));
    let service: RunningService | undefined;
    try {
      try {
        service = await startService(configFile, 60_000);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        const refusal = /pipelines\[0\]\.spool: [^"\\]*/.exec(message)?.[0];
        if (client === SPOOL && refusal !== undefined) throw new Error(`not run: trackpipe serve cannot run with a spool yet (${refusal})`, { cause: error });
        throw error;
      }
      const child = await spawn({ sinkUrl: service.url, queueSize: 0, batchSize: BATCH_SIZE });
      child.send({ type: 'go' });
      const metrics = await child.result();
      service.process.kill('SIGTERM');
      const exit = await Promise.race([service.exited, sleep(params.drainMs + 5_000).then(() => 'timeout' as const)]);
      await sleep(500);
      const counts = sink.counts();
      const accepted = metrics.acceptedEvents as number;
      return { ...metrics, serviceExitCode: exit === 'timeout' ? null : exit, delivered: counts.distinct, lost: accepted - counts.distinct, duplicates: counts.duplicates };
    } finally {
      if (service !== undefined && service.process.exitCode === null && service.process.signalCode === null) {
        service.process.kill('SIGKILL');
        await service.exited;
      }
      rmSync(dir, { recursive: true, force: true });
    }
  },

  async child({ client, params, idPrefix }) {
    const load = client as IngestLoad;
    const cpu = process.cpuUsage();
    let next = 0;
    let acceptedEvents = 0;
    let overloaded = 0;
    let failed = 0;
    const batchOf = (n: number): FlagEvaluationEvent[] => {
      const events: FlagEvaluationEvent[] = [];
      for (let i = 0; i < n; i++) events.push(flagEvaluationAt(next++, idPrefix));
      return events;
    };
    const count = (status: number, n: number): void => {
      if (status === 202) acceptedEvents += n;
      else if (status === 503) overloaded++;
      else failed++;
    };

    // Paced: acknowledgement latency at a steady load (the first second warms up and is not measured).
    const latencies: number[] = [];
    const pending: Promise<void>[] = [];
    const pacedFrom = performance.now() + 1_000;
    const pacedUntil = pacedFrom + params.pacedSeconds * 1000;
    for (let due = performance.now(); due < pacedUntil; due += params.pacedIntervalMs) {
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      const events = batchOf(params.pacedBatch);
      const measured = due >= pacedFrom;
      pending.push(
        load.post(events).then(({ status, ms }) => {
          count(status, events.length);
          if (status === 202 && measured) latencies.push(ms);
        }),
      );
    }
    await Promise.all(pending);

    // Saturated: events/s the service answers 202 to.
    const before = acceptedEvents;
    const t0 = performance.now();
    const until = t0 + params.saturatedSeconds * 1000;
    await Promise.all(
      Array.from({ length: params.connections }, async () => {
        while (performance.now() < until) {
          const events = batchOf(BATCH_SIZE);
          const { status } = await load.post(events);
          count(status, events.length);
          if (status === 503) await sleep(100);
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    const outcome = await load.shutdown(10_000);
    const metrics: Metrics = {
      sent: next,
      acceptedEvents,
      overloaded,
      failedRequests: failed,
      eventsPerSec: (acceptedEvents - before) / seconds,
      ackP50Ms: median(latencies) ?? null,
      ackP99Ms: quantile(latencies, 0.99),
      ackMaxMs: latencies.length === 0 ? null : Math.max(...latencies),
      ackSamples: latencies.length,
      loadShutdownReturned: outcome.returned,
      ...processFigures(cpu),
    };
    return metrics;
  },
};
