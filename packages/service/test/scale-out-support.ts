// Support for the scale-out tests: an HTTP sink that writes down what each instance delivers, and
// `trackpipe serve` instances (the built CLI, real processes) reading one topic in one consumer group.
import { writeFileSync } from 'node:fs';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { parseExposition, samples } from '@trackpipe/core/testing';
import { type Child, serve } from './cli-support.js';

/** One event as the sink received it. */
export interface Arrival {
  readonly id: string;
  readonly key: string;
  readonly seq: number;
  /** The instance that sent it (its `x-instance` header). */
  readonly instance: string;
}

/** A real HTTP server on 127.0.0.1 that takes JSON batches and can be down (connections refused) and come back on its port. */
export class Sink {
  readonly arrivals: Arrival[] = [];
  readonly ids = new Set<string>();
  #server: Server | undefined;
  #port = 0;

  get url(): string {
    return `http://127.0.0.1:${this.#port}/v1/batch`;
  }

  async start(): Promise<void> {
    const server = createServer((request, response) => this.#handle(request, response));
    server.keepAliveTimeout = 60_000;
    await new Promise<void>((resolve) => server.listen(this.#port, '127.0.0.1', resolve));
    this.#port = (server.address() as AddressInfo).port;
    this.#server = server;
  }

  /** Refuses connections from now on (open ones are cut) until {@link start}. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server === undefined) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await closed;
  }

  /** Events delivered by each instance. */
  shares(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const a of this.arrivals) out[a.instance] = (out[a.instance] ?? 0) + 1;
    return out;
  }

  #handle(request: IncomingMessage, response: ServerResponse): void {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const instance = String(request.headers['x-instance']);
      const events = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id: string; targetingKey: string; attributes: { seq: number } }[];
      for (const e of events) {
        this.arrivals.push({ id: e.id, key: e.targetingKey, seq: e.attributes.seq, instance });
        this.ids.add(e.id);
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  }
}

/** What an instance's configuration says beyond the defaults of these tests. */
export interface InstanceSettings {
  readonly brokers: string;
  readonly topic: string;
  readonly groupId: string;
  readonly sinkUrl: string;
  /** Receiver options to add (commitIntervalMs, lagIntervalMs, ...). */
  readonly receiver?: Record<string, unknown>;
  /** Pipeline batch settings to add. */
  readonly batch?: Record<string, unknown>;
}

/** A running `trackpipe serve` instance. */
export interface Instance {
  readonly name: string;
  readonly child: Child;
  readonly url: string;
  /** Scrapes its /metrics. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
}

/**
 * Starts `trackpipe serve` with a configuration of its own: HTTP on a free port (for /metrics), no
 * gRPC, a Kafka receiver in the group, and one pipeline to the sink keeping each partition's order
 * (one export at a time) and retrying quickly.
 */
export async function startInstance(name: string, dir: string, s: InstanceSettings): Promise<Instance> {
  const config = {
    service: { http: { port: 0 }, grpc: { enabled: false }, shutdownTimeoutMs: 20_000 },
    receivers: [
      {
        type: 'kafka',
        name: 'events',
        brokers: s.brokers.split(','),
        topic: s.topic,
        groupId: s.groupId,
        sessionTimeoutMs: 10_000,
        heartbeatIntervalMs: 1_000,
        commitIntervalMs: 500,
        lagIntervalMs: 500,
        ...s.receiver,
      },
    ],
    pipelines: [
      {
        name: 'sink',
        batch: { maxConcurrentExports: 1, flushIntervalMs: 200, ...s.batch },
        retry: { initialBackoffMs: 200, maxBackoffMs: 1_000 },
        exporters: [{ type: 'http', url: s.sinkUrl, compression: 'none', headers: { 'x-instance': name } }],
      },
    ],
  };
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(config));
  const { service: child, url } = await serve(file, dir, 60_000);
  return {
    name,
    child,
    url,
    async metric(metricName, labels = {}) {
      const text = await (await fetch(`${url}/metrics`)).text();
      return samples(parseExposition(text), metricName, labels).reduce((sum, sample) => sum + sample.value, 0);
    },
  };
}

/** Waits until every instance owns a share and the shares add up to the topic's partitions. */
export async function untilGroupStable(instances: readonly Instance[], partitions: number, timeoutMs = 60_000): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const shares = await Promise.all(instances.map((i) => i.metric('trackpipe_receiver_assigned_partitions').catch(() => -1)));
    if (shares.every((n) => n > 0) && shares.reduce((a, b) => a + b, 0) === partitions) return shares;
    if (Date.now() > deadline) throw new Error(`the group did not settle: shares ${JSON.stringify(shares)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** Waits until `condition` holds, polling. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Per key: the keys whose sequence numbers went down at the sink (in arrival order). */
export function keysOutOfOrder(arrivals: readonly Arrival[], firstCopiesOnly: boolean): string[] {
  const last = new Map<string, number>();
  const seen = new Set<string>();
  const bad = new Set<string>();
  for (const a of arrivals) {
    if (firstCopiesOnly) {
      if (seen.has(a.id)) continue;
      seen.add(a.id);
    }
    if ((last.get(a.key) ?? -1) > a.seq) bad.add(a.key);
    last.set(a.key, a.seq);
  }
  return [...bad];
}

/** `count` events over `keys` keys, each key with its own sequence numbers `firstSeq`, `firstSeq + 1`, ... */
export function sequencedEvents(
  count: number,
  keys: number,
  tag: string,
  firstSeq = 0,
): { name: string; id: string; flagKey: string; value: boolean; targetingKey: string; attributes: { seq: number } }[] {
  return Array.from({ length: count }, (_, i) => ({
    name: 'feature_flag.evaluation',
    id: `${tag}-${i}`,
    flagKey: 'checkout',
    value: i % 2 === 0,
    targetingKey: `user-${i % keys}`,
    attributes: { seq: firstSeq + Math.floor(i / keys) },
  }));
}
