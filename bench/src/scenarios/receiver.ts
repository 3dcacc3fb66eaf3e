import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import kafkajs from 'kafkajs';
import type { BenchClient, ShutdownOutcome } from '../clients/types.js';
import { type Metrics, type Scenario, processFigures } from '../harness.js';
import { BATCH_SIZE, flagEvaluationAt, sleep, withDeadline } from '../workload.js';
import { heldBroker, kafkaAt } from './broker.js';

const { CompressionTypes } = kafkajs;

/** Parameters of the receiver scenario. */
export interface ReceiverParams {
  /** Events written to the topic before each run. */
  readonly events: number;
  /** Partitions of the topic. */
  readonly partitions: number;
  /** How long a run may take to read (or deliver) every event, in ms. */
  readonly deadlineMs: number;
  /** Runs only with a broker given in KAFKA_BROKERS (quick runs start none). */
  readonly onlyExternal: boolean;
}

/** The clients: a raw kafkajs consumer that only reads, and `trackpipe serve` with the Kafka receiver, one instance or three. */
const CLIENTS = ['kafkajs-consumer', 'trackpipe-serve-1', 'trackpipe-serve-3'] as const;

const SERVICE_CLI = fileURLToPath(new URL('../../../packages/service/dist/cli.js', import.meta.url));

/** The broker of this run (parent process only). */
let brokers: string | undefined;

/**
 * Writes `events` flag evaluations to a new topic as the Kafka exporter does (key = targeting key,
 * value = the event as JSON, its three headers, gzip, acks all), in requests of one batch each.
 */
async function fillTopic(address: string, topic: string, partitions: number, events: number, idPrefix: string): Promise<void> {
  const kafka = kafkaAt(address, 'bench-receiver-fill');
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  try {
    const now = Date.now();
    for (let start = 0; start < events; start += BATCH_SIZE) {
      const messages = [];
      for (let i = start; i < Math.min(events, start + BATCH_SIZE); i++) {
        const event = { ...flagEvaluationAt(i, idPrefix), timestamp: now };
        messages.push({
          key: event.targetingKey ?? null,
          value: JSON.stringify(event),
          headers: { 'event-name': event.name, 'content-type': 'application/json', 'schema-version': '1' },
        });
      }
      await producer.send({ topic, acks: -1, compression: CompressionTypes.GZIP, messages });
    }
  } finally {
    await producer.disconnect();
  }
}

/** CPU time a process has used so far, in ms (Linux /proc; undefined elsewhere). */
function cpuMsOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ');
    if (fields === undefined) return undefined;
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / 100; // utime + stime, in clock ticks of 1/100 s
  } catch {
    return undefined;
  }
}

/** A process's peak resident set so far, in MB (Linux /proc; undefined elsewhere). */
function peakRssMbOf(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? undefined : Number(kb) / 1024;
  } catch {
    return undefined;
  }
}

/** One `trackpipe serve` instance of a run. */
interface Serve {
  readonly child: ChildProcess;
  readonly url: Promise<string>;
  readonly exited: Promise<number | null>;
  /** Epoch ms of its receiver's first join of the group (from its log), once it joined. */
  joinedAt(): number | undefined;
}

function startServe(file: string): Serve {
  const child = spawn(process.execPath, [SERVICE_CLI, 'serve', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TRACKPIPE_CONFIG: undefined } });
  let listening: (url: string) => void = () => undefined;
  let failed: (error: Error) => void = () => undefined;
  const url = new Promise<string>((resolve, reject) => {
    listening = resolve;
    failed = reject;
  });
  let buffer = '';
  let joinedAt: number | undefined;
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      try {
        const parsed = JSON.parse(line) as { msg?: string; http?: string; time?: string };
        if (parsed.msg === 'listening' && parsed.http !== undefined) listening(parsed.http);
        if (joinedAt === undefined && parsed.msg?.includes('joined group') === true && parsed.time !== undefined) joinedAt = Date.parse(parsed.time);
      } catch {
        // not a log line
      }
    }
  });
  child.stderr?.resume();
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      failed(new Error(`trackpipe serve exited (${String(code)}) before listening`));
      resolve(code);
    }),
  );
  return { child, url, exited, joinedAt: () => joinedAt };
}

/** The sum of one metric over every series of an instance's /metrics. */
async function scrape(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

/** The raw consumer's process has no client to build: this stands in for one. */
const NO_CLIENT: BenchClient = {
  name: 'kafkajs-consumer',
  prepare: (event) => event,
  record: () => {
    throw new Error('the consumer records nothing');
  },
  shutdown: async (): Promise<ShutdownOutcome> => ({ returned: true, ms: 0 }),
  reportedDrops: () => undefined,
};

/**
 * Scenario 12, the Kafka receiver: a topic filled beforehand, read by a raw kafkajs consumer that only
 * reads, and by `trackpipe serve` with the Kafka receiver delivering to the sink over HTTP, as one
 * instance and as three in one consumer group.
 */
export const receiver: Scenario<ReceiverParams> = {
  id: 'receiver',
  title: '12. Kafka receiver: a topic read and delivered by one and by three instances',
  params: (quick) =>
    quick ? { events: 100_000, partitions: 6, deadlineMs: 120_000, onlyExternal: true } : { events: 1_000_000, partitions: 6, deadlineMs: 300_000, onlyExternal: false },
  clients: () => CLIENTS,
  accepts: (client) => (CLIENTS as readonly string[]).includes(client),
  timeoutMs: (p) => p.deadlineMs + 60_000,
  describe: (p) =>
    `${p.events.toLocaleString('en')} flag evaluations are written beforehand to a fresh ${p.partitions}-partition topic, as the Kafka exporter writes them (JSON values, its headers, gzip), on a single-node Apache Kafka 3.9 broker on 127.0.0.1. ` +
    '`kafkajs-consumer` is a raw kafkajs consumer (its defaults) that only reads: **events/s** = events ÷ time from its join of the group to the last record read. ' +
    '`trackpipe-serve-1` and `trackpipe-serve-3` are `trackpipe serve` processes with the Kafka receiver (its defaults: records handed over up to 90 % of the queue, offsets committed every second after a flush) in one consumer group, each delivering to the sink over HTTP (JSON, no compression, batches of 512, one export at a time so that each partition stays in order, a partial batch exported after 200 ms as the OpenTelemetry Collector\'s batch processor does by default): ' +
    '**events/s** = events ÷ time from the first join of the group to the last event at the sink (consumed, decoded, recorded, exported over HTTP and acknowledged). **CPU µs/event** is the CPU of the consumer process from `go`, or of all the service processes after they started listening; **peak RSS** the largest maximum resident set of those processes. ' +
    'On a 2-core machine the broker, the sink and three instances share the cores: three instances show that the partitions and the work are shared with nothing lost or repeated, not a 3× speed-up.',
  columns: [
    { key: 'eventsPerSec', label: 'events/s', digits: 0, ratio: true },
    { key: 'cpuUsPerEvent', label: 'CPU µs/event', digits: 2, ratio: true },
    { key: 'peakRssMb', label: 'peak RSS MB (largest process)', digits: 0 },
    { key: 'delivered', label: 'delivered', digits: 0 },
    { key: 'duplicates', label: 'duplicates', digits: 0 },
  ],

  setup: (params, log) => heldBroker('receiver', params.onlyExternal, log, (address) => (brokers = address)),

  async createClient(name: string): Promise<BenchClient> {
    if (name !== 'kafkajs-consumer') throw new Error(`${name} runs as trackpipe serve processes, not as a bench client`);
    return NO_CLIENT;
  },

  async runOne({ client, spawn: fork, params, idPrefix, sink, log }) {
    if (brokers === undefined) throw new Error('no broker');
    const topic = `bench-receiver-${idPrefix.replace(/[^A-Za-z0-9]/g, '')}`;
    await fillTopic(brokers, topic, params.partitions, params.events, idPrefix);
    sink.reset();
    if (client === 'kafkajs-consumer') {
      const child = await fork({ sinkUrl: sink.url, queueSize: params.events, batchSize: BATCH_SIZE, kafka: { brokers, topic } });
      child.send({ type: 'go' });
      const metrics = await child.result();
      const readMs = metrics.readMs as number;
      return {
        ...metrics,
        delivered: metrics.read ?? null,
        duplicates: null,
        eventsPerSec: (metrics.read as number) >= params.events ? params.events / (readMs / 1000) : null,
        cpuUsPerEvent: ((metrics.cpuMs as number) * 1000) / params.events,
        peakRssMb: metrics.maxRssMb ?? null,
      };
    }

    // trackpipe serve × n, one consumer group, delivering to the sink.
    const n = client === 'trackpipe-serve-3' ? 3 : 1;
    const dir = await mkdtemp(join(tmpdir(), 'trackpipe-bench-serve-'));
    const serves: Serve[] = [];
    try {
      const file = join(dir, 'collector.json');
      writeFileSync(
        file,
        JSON.stringify({
          service: { http: { port: 0 }, grpc: { enabled: false } },
          receivers: [{ type: 'kafka', name: 'events', brokers: [brokers], topic, groupId: `bench-${idPrefix}`, sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1_000 }],
          pipelines: [
            {
              name: 'sink',
              batch: { maxBatchSize: BATCH_SIZE, maxConcurrentExports: 1, flushIntervalMs: 200 },
              exporters: [{ type: 'http', url: `${sink.url}/v1/batch`, compression: 'none' }],
            },
          ],
        }),
      );
      for (let i = 0; i < n; i++) serves.push(startServe(file));
      const cpuAtStart = new Map<Serve, number>();
      await Promise.all(
        serves.map(async (s) => {
          await Promise.race([s.url, sleep(30_000)]);
          cpuAtStart.set(s, cpuMsOf(s.child.pid) ?? 0);
        }),
      );
      const last = await withDeadline(sink.whenDistinct(params.events), params.deadlineMs);
      // From the first join of the group (consuming starts) to the last event at the sink, in epoch ms.
      const joins = serves.map((s) => s.joinedAt()).filter((t): t is number => t !== undefined);
      const firstJoin = joins.length === 0 ? undefined : Math.min(...joins);
      const urls = await Promise.all(serves.map((s) => s.url));
      const shares = await Promise.all(urls.map((url) => scrape(url, 'trackpipe_receiver_records_consumed_total')));
      const partitions = await Promise.all(urls.map((url) => scrape(url, 'trackpipe_receiver_assigned_partitions')));
      let cpuMs = 0;
      for (const s of serves) cpuMs += (cpuMsOf(s.child.pid) ?? 0) - (cpuAtStart.get(s) ?? 0);
      const peaks = serves.map((s) => peakRssMbOf(s.child.pid)).filter((mb): mb is number => mb !== undefined);
      for (const s of serves) s.child.kill('SIGTERM');
      const exits = await Promise.all(serves.map((s) => withDeadline(s.exited, 30_000)));
      const counts = sink.counts();
      log(`[receiver] ${client}: records consumed per instance ${JSON.stringify(shares)}, partitions ${JSON.stringify(partitions)}`);
      const elapsedMs = last.returned && firstJoin !== undefined ? performance.timeOrigin + (last.value as number) - firstJoin : undefined;
      const figures: Metrics = {
        instances: n,
        delivered: counts.distinct,
        duplicates: counts.duplicates,
        shares: shares.join('/'),
        partitionsPerInstance: partitions.join('/'),
        elapsedMs: elapsedMs ?? null,
        eventsPerSec: elapsedMs === undefined ? null : params.events / (elapsedMs / 1000),
        cpuMs,
        cpuUsPerEvent: (cpuMs * 1000) / params.events,
        peakRssMb: peaks.length === 0 ? null : Math.max(...peaks),
        exitCodes: exits.map((e) => (e.returned ? String(e.value) : 'timeout')).join('/'),
      };
      return figures;
    } finally {
      for (const s of serves) if (s.child.exitCode === null && s.child.signalCode === null) s.child.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  },

  async child({ params, settings, idPrefix }) {
    // The raw consumer: kafkajs defaults, reads every record of the topic and does nothing with it.
    if (settings.kafka === undefined) throw new Error('no Kafka settings');
    const cpu = process.cpuUsage();
    const consumer = kafkaAt(settings.kafka.brokers, 'bench-raw-consumer').consumer({ groupId: `bench-raw-${idPrefix}` });
    let read = 0;
    let joinedAt: number | undefined;
    let done: (at: number) => void = () => undefined;
    const all = new Promise<number>((resolve) => (done = resolve));
    consumer.on(consumer.events.GROUP_JOIN, () => (joinedAt ??= performance.now()));
    await consumer.connect();
    await consumer.subscribe({ topic: settings.kafka.topic, fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        read += batch.messages.length;
        if (read >= params.events) done(performance.now());
      },
    });
    const outcome = await withDeadline(all, params.deadlineMs);
    const figures = processFigures(cpu);
    await consumer.disconnect();
    return { read, readMs: outcome.returned && joinedAt !== undefined ? (outcome.value as number) - joinedAt : null, ...figures };
  },
};
