// An outage, end to end, in one process: N events go into a spool while nothing takes them (the
// exporter is down), then everything is taken back and released, in order. Prints one JSON line:
// the time of each phase, the stored bytes and the data file's size, and the resident memory
// (max RSS, and /proc's split into anonymous memory and mapped file pages) during each phase.
//
//   pnpm exec tsc -p packages/spool/tsconfig.json && node packages/spool/bench/outage.mjs [events=5000000] [dir]
//
// Plain JavaScript against the built package, so that the figures are those of a real process.
// test/outage.test.ts runs it on the TypeScript sources instead (SPOOL_BENCH_SOURCE=1, with the
// test's module hooks), with fewer events, and checks its answer.
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

// A full collection before the half-way sample and the last one, so that they compare what is
// retained, not how lazily this Node line's collector works (Node 24 and later collect later).
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc');

const { Spool } = await import(process.env.SPOOL_BENCH_SOURCE ? '../src/index.ts' : '../dist/index.js');
const total = Number(process.argv[2] ?? 5_000_000);
const dir = process.argv[3] ?? mkdtempSync(join(tmpdir(), 'trackpipe-spool-outage-'));
const removeAfter = process.argv[3] === undefined;

function memory() {
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (name) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') };
}
const mb = (bytes) => Math.round(bytes / 1048576);
const peak = { rss: 0, anon: 0, file: 0, heap: 0, external: 0 };
function sample() {
  const m = memory();
  const v8 = process.memoryUsage();
  peak.rss = Math.max(peak.rss, m.rss);
  peak.anon = Math.max(peak.anon, m.anon);
  peak.file = Math.max(peak.file, m.file);
  peak.heap = Math.max(peak.heap, v8.heapTotal);
  peak.external = Math.max(peak.external, v8.external);
}
function takePeak() {
  const p = { rssMB: mb(peak.rss), anonMB: mb(peak.anon), fileMB: mb(peak.file), heapTotalMB: mb(peak.heap), externalMB: mb(peak.external) };
  peak.rss = peak.anon = peak.file = peak.heap = peak.external = 0;
  return p;
}

const event = (k) => ({
  k,
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

const spool = new Spool({ path: dir, maxBytes: 16 * 1024 ** 3 });
let drops = 0;
spool.open({ dropped: (_reason, n) => (drops += n), ready: () => undefined });
const base = memory();

// Phase 1: the outage. Bursts of 10 000, yielding between them; a producer that waits for the disk
// when 20 000 events are not yet committed (what the service does: it answers once persisted).
// Each event carries the sequence number it gets (`tail` at push).
let t = performance.now();
let anonAtHalf = 0;
let heapAtHalf = 0;
while (spool.tail < total) {
  const end = Math.min(total, spool.tail + 10_000);
  while (spool.tail < end) spool.push(event(spool.tail));
  sample();
  if (anonAtHalf === 0 && spool.tail >= total / 2) {
    collect();
    anonAtHalf = memory().anon;
    heapAtHalf = process.memoryUsage().heapUsed;
  }
  if (spool.stats().uncommitted >= 20_000) await spool.persisted();
  else await yieldToLoop();
}
await spool.persisted();
sample();
const writeSeconds = (performance.now() - t) / 1000;
collect();
const anonAtEnd = memory().anon;
const heapAtEnd = process.memoryUsage().heapUsed;
const written = spool.stats();
const dataFile = statSync(join(dir, 'data.mdb')).size;
const writePeak = takePeak();

// Phase 2: the exporter is back. Batches of 512 are taken and released, in order.
t = performance.now();
let expected = 0;
let outOfOrder = 0;
for (;;) {
  // A batch's range: `head` before its first shift to `head` after its last (as the processor does).
  const from = spool.head;
  let n = 0;
  for (let e = spool.shift(); e !== undefined; e = n < 512 ? spool.shift() : undefined) {
    if (e.k !== expected) outOfOrder++;
    expected = e.k + 1;
    n++;
  }
  if (n === 0) break;
  spool.release(from, spool.head);
  if ((expected & 0xffff) < 512) {
    sample();
    await yieldToLoop();
  }
}
await spool.persisted();
sample();
const readSeconds = (performance.now() - t) / 1000;
const readPeak = takePeak();
await spool.close();

// Phase 3: a restart finds nothing: every released group was deleted.
const reopened = new Spool({ path: dir });
const recoveredAfter = reopened.open({ dropped: () => undefined, ready: () => undefined });
const bytesAfter = reopened.stats().bytes;
await reopened.close();
if (removeAfter) rmSync(dir, { recursive: true, force: true });

console.log(
  JSON.stringify({
    events: total,
    drops,
    taken: expected,
    outOfOrder,
    write: {
      seconds: +writeSeconds.toFixed(1),
      eventsPerSecond: Math.round(total / writeSeconds),
      commits: written.commits,
      anonAtHalfMB: mb(anonAtHalf),
      anonAtEndMB: mb(anonAtEnd),
      heapUsedAtHalfMB: mb(heapAtHalf),
      heapUsedAtEndMB: mb(heapAtEnd),
      ...writePeak,
    },
    stored: { bytes: written.bytes, bytesPerEvent: +(written.bytes / total).toFixed(1), dataFileBytes: dataFile },
    read: { seconds: +readSeconds.toFixed(1), eventsPerSecond: Math.round(total / readSeconds), ...readPeak },
    afterRestart: { recovered: recoveredAfter, bytes: bytesAfter },
    baseRssMB: mb(base.rss),
  }),
);
