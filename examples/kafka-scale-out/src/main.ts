// Scaling out with Kafka, end to end, on one machine:
//
//   apps ──(@trackpipe/exporter-kafka)──▶ topic (6 partitions) ──▶ N × `trackpipe serve` (one consumer group) ──▶ HTTP sink
//
// node dist/main.js [--instances 3] [--events 30000] [--partitions 6] [--apps 2]
// KAFKA_BROKERS=host:port names the broker (start one with tools/kafka/broker.sh). Each run uses a new
// topic and group. Prints progress on stderr and one JSON line on stdout: events delivered by each
// instance, duplicates, keys out of order, exit codes; exits 1 when an event is missing or out of order.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BatchProcessor, type FlagEvaluationEvent, flagEvaluation, silentLogger } from '@trackpipe/core';
import { KafkaExporter } from '@trackpipe/exporter-kafka';
import kafkajs from 'kafkajs';

const { values } = parseArgs({
  options: {
    instances: { type: 'string', default: '3' },
    events: { type: 'string', default: '30000' },
    partitions: { type: 'string', default: '6' },
    apps: { type: 'string', default: '2' },
  },
});
const instances = Number(values.instances);
const total = Number(values.events);
const partitions = Number(values.partitions);
const apps = Number(values.apps);
const brokers = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const run = Date.now().toString(36);
const topic = `scale-out-${run}`;
const groupId = `trackpipe-scale-out-${run}`;
const config = join(dirname(fileURLToPath(import.meta.url)), '../config/collector.yaml');
const cli = join(dirname(createRequire(import.meta.url).resolve('@trackpipe/service/package.json')), 'dist/cli.js');
const log = (line: string): void => void process.stderr.write(`[scale-out] ${line}\n`);

// ---- the topic --------------------------------------------------------------------------------
const admin = new kafkajs.Kafka({ clientId: 'scale-out-example', brokers, logLevel: kafkajs.logLevel.NOTHING }).admin();
await admin.connect();
await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }] });
await admin.disconnect();
log(`topic ${topic}: ${partitions} partitions on ${brokers.join(',')}`);

// ---- the HTTP sink: what each instance delivers -------------------------------------------------
const byInstance = new Map<string, number>();
const ids = new Set<string>();
const lastSeq = new Map<string, number>();
const outOfOrder = new Set<string>();
let arrivals = 0;
const sink = createServer((request: IncomingMessage, response: ServerResponse) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const instance = String(request.headers['x-instance']);
    const events = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id: string; targetingKey: string; attributes: { seq: number } }[];
    for (const event of events) {
      arrivals++;
      byInstance.set(instance, (byInstance.get(instance) ?? 0) + 1);
      if (ids.has(event.id)) continue; // a duplicate (after a crash): order is checked on first copies
      ids.add(event.id);
      if ((lastSeq.get(event.targetingKey) ?? -1) > event.attributes.seq) outOfOrder.add(event.targetingKey);
      lastSeq.set(event.targetingKey, event.attributes.seq);
    }
    response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
});
await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
const sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}/v1/batch`;
log(`sink at ${sinkUrl}`);

// ---- the collector instances --------------------------------------------------------------------
interface Instance {
  readonly name: string;
  readonly child: ChildProcessWithoutNullStreams;
  readonly url: Promise<string>;
  readonly exited: Promise<number | null>;
}

function startInstance(name: string): Instance {
  const child = spawn(process.execPath, [cli, 'serve', '--config', config], {
    env: { ...process.env, KAFKA_BROKER: brokers[0], KAFKA_TOPIC: topic, KAFKA_GROUP: groupId, SINK_URL: sinkUrl, INSTANCE: name, TRACKPIPE_CONFIG: undefined },
  });
  let buffer = '';
  let listening: (url: string) => void = () => undefined;
  const url = new Promise<string>((resolve) => (listening = resolve));
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = JSON.parse(buffer.slice(0, nl)) as { msg?: string; level?: string; http?: string };
      buffer = buffer.slice(nl + 1);
      if (line.msg === 'listening' && line.http !== undefined) listening(line.http);
      if (line.level === 'warn' || line.level === 'error') log(`${name}: ${line.level} ${line.msg ?? ''}`);
    }
  });
  child.stderr.on('data', (chunk: Buffer) => process.stderr.write(chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { name, child, url, exited };
}

/** Partitions an instance owns now, from its /metrics. */
async function share(instance: Instance): Promise<number> {
  const text = await (await fetch(`${await instance.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('trackpipe_receiver_assigned_partitions{'));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

const collectors = Array.from({ length: instances }, (_, i) => startInstance(`collector-${i}`));
await Promise.all(collectors.map((c) => c.url));
for (;;) {
  const shares = await Promise.all(collectors.map(share));
  if (shares.every((n) => n > 0) && shares.reduce((a, b) => a + b, 0) === partitions) {
    log(`group ${groupId} settled: partitions per instance ${JSON.stringify(shares)}`);
    break;
  }
  await new Promise((resolve) => setTimeout(resolve, 250));
}

// ---- the applications: each records flag evaluations of its own users, in sequence -------------
const started = Date.now();
await Promise.all(
  Array.from({ length: apps }, async (_, app) => {
    const collector = new BatchProcessor<FlagEvaluationEvent>(new KafkaExporter({ brokers, topic, logger: silentLogger }), { maxQueueSize: total });
    const mine = Math.floor(total / apps) + (app < total % apps ? 1 : 0);
    for (let i = 0; i < mine; i++) {
      // 250 users per app, each with its own sequence numbers: the sink checks they never go down.
      collector.record(
        flagEvaluation({ flagKey: 'new-checkout', value: i % 2 === 0, targetingKey: `user-${app}-${i % 250}`, attributes: { seq: Math.floor(i / 250) } }),
      );
      if (i % 5_000 === 4_999) await new Promise((resolve) => setImmediate(resolve));
    }
    const report = await collector.close({ timeoutMs: 60_000 });
    log(`app ${app}: ${report.exported} events written to ${topic}`);
  }),
);

// ---- wait for the sink, then stop the collectors with SIGTERM --------------------------------------
const deadline = Date.now() + Math.max(120_000, total);
while (ids.size < total && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
const seconds = (Date.now() - started) / 1000;
for (const c of collectors) c.child.kill('SIGTERM');
const codes = await Promise.all(collectors.map((c) => c.exited));
sink.close();

const outcome = {
  topic,
  partitions,
  instances,
  events: total,
  delivered: ids.size,
  duplicates: arrivals - ids.size,
  keysOutOfOrder: outOfOrder.size,
  byInstance: Object.fromEntries([...byInstance].sort()),
  seconds,
  exitCodes: codes,
};
console.log(JSON.stringify(outcome));
if (ids.size !== total || outOfOrder.size > 0 || codes.some((code) => code !== 0)) process.exitCode = 1;
