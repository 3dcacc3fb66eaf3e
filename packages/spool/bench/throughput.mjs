// The spool against the in-memory queue, in one process, same events:
//  1. push(): ns per call, over bursts of 10 000 pre-built events (the median burst, and the mean);
//  2. a pipeline loop: a producer pushes bursts of 10 000, a consumer takes batches of 512, encodes
//     each (JSON.stringify, like an exporter) and releases it; events/s until 1 000 000 are through
//     (the producer waits for persisted() when 20 000 events are not yet durable);
//  3. persisted(): the time from a push to its durability, one event every 2 ms, for 2 s.
// Prints one JSON line. `push`, `pipeline` or `persisted` as the argument runs that part only.
//
//   pnpm exec tsc -p packages/spool/tsconfig.json && node packages/spool/bench/throughput.mjs [part]
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import { MemoryQueue } from '@trackpipe/core';
import { Spool } from '../dist/index.js';

const NO_LISTENER = { dropped: () => undefined, ready: () => undefined };
const event = (k) => ({
  id: `0193a1b2-c3d4-7e5f-8a9b-${String(k).padStart(12, '0')}`,
  name: 'feature_flag.evaluation',
  timestamp: 1764100000000 + k,
  flagKey: 'new-checkout',
  variant: k % 3 === 0 ? 'on' : 'off',
  value: k % 3 === 0,
  reason: 'TARGETING_MATCH',
  targetingKey: `user-${k % 100_000}`,
  provider: 'flagd',
  attributes: { region: 'eu-west-1', plan: 'pro' },
});
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const quantile = (xs, q) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))];
const dirs = [];
function queue(kind) {
  if (kind === 'memory') return new MemoryQueue(2_000_000);
  const dir = mkdtempSync(join(tmpdir(), 'trackpipe-spool-bench-'));
  dirs.push(dir);
  return new Spool({ path: dir, logger: { warn: () => undefined, error: () => undefined } });
}

/** Takes every ready event in batches of 512, encodes and releases each batch; returns how many. */
function drain(q) {
  let n = 0;
  for (;;) {
    const from = q.head;
    const batch = [];
    for (let e = q.shift(); e !== undefined; e = batch.length < 512 ? q.shift() : undefined) batch.push(e);
    if (batch.length === 0) return n;
    JSON.stringify(batch);
    q.release(from, q.head);
    n += batch.length;
  }
}

async function pushCost(kind) {
  const q = queue(kind);
  q.open(NO_LISTENER);
  const burst = Array.from({ length: 10_000 }, (_, i) => event(i));
  const perCall = [];
  for (let b = 0; b < 100; b++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < burst.length; i++) q.push(burst[i]);
    perCall.push(Number(process.hrtime.bigint() - t) / burst.length);
    await yieldToLoop();
    if (kind !== 'memory') await q.persisted();
    drain(q);
  }
  await q.close();
  const warm = perCall.slice(10);
  return { medianNs: +median(warm).toFixed(1), meanNs: +(warm.reduce((a, b) => a + b, 0) / warm.length).toFixed(1) };
}

async function pipeline(kind) {
  const total = 1_000_000;
  const q = queue(kind);
  q.open(NO_LISTENER);
  const cpu = process.cpuUsage();
  const t = performance.now();
  let pushed = 0;
  let delivered = 0;
  while (delivered < total) {
    if (pushed < total) {
      for (const end = Math.min(total, pushed + 10_000); pushed < end; pushed++) q.push(event(pushed));
    }
    delivered += drain(q);
    // A producer that waits for the disk when 20 000 events are not yet durable.
    if (kind !== 'memory' && (pushed >= total || q.size - q.ready >= 20_000)) await q.persisted();
    else await yieldToLoop();
  }
  const seconds = (performance.now() - t) / 1000;
  const used = process.cpuUsage(cpu);
  await q.close();
  return { eventsPerSecond: Math.round(total / seconds), cpuMicrosPerEvent: +((used.user + used.system) / total).toFixed(2) };
}

async function persistLatency() {
  const q = queue('spool');
  q.open(NO_LISTENER);
  const ms = [];
  const until = performance.now() + 2000;
  let k = 0;
  while (performance.now() < until) {
    q.push(event(k++));
    const t = performance.now();
    await q.persisted();
    ms.push(performance.now() - t);
    drain(q);
    await sleep(2);
  }
  await q.close();
  return { p50Ms: +quantile(ms, 0.5).toFixed(2), p99Ms: +quantile(ms, 0.99).toFixed(2), samples: ms.length };
}

const only = process.argv[2];
const part = (name) => only === undefined || only === name;
try {
  const result = { machine: { cpu: cpus()[0]?.model, cores: cpus().length, node: process.version } };
  if (part('push')) result.push = { memory: await pushCost('memory'), spool: await pushCost('spool') };
  if (part('pipeline')) {
    const memory = await pipeline('memory');
    const spool = await pipeline('spool');
    result.pipeline = { memory, spool: { ...spool, ratio: +(spool.eventsPerSecond / memory.eventsPerSecond).toFixed(2) } };
  }
  if (part('persisted')) result.persisted = await persistLatency();
  console.log(JSON.stringify(result));
} finally {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
}
