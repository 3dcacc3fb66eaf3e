import { readFileSync } from 'node:fs';
import { clientInfo } from '../clients/index.js';
import { TrackpipeHttpClient } from '../clients/trackpipe-http.js';
import type { BenchClient, ClientInfo, ClientSettings } from '../clients/types.js';
import { type Metrics, type Scenario, processFigures } from '../harness.js';
import { BATCH_SIZE, BURST, flagEvaluationAt, nextTurn, sleep } from '../workload.js';
import { orNull } from './common.js';

/** Parameters of the spool outage scenario. */
export interface SpoolOutageParams {
  /** Events recorded while the sink is down. */
  readonly events: number;
  /** The application waits for `persisted()` after every this many events. */
  readonly durableEvery: number;
  /** Deadline of the client's shutdown once the sink is back, in ms (it delivers the whole backlog). */
  readonly deadlineMs: number;
}

/** The spool's bound in this scenario: room for the whole outage (5 000 000 events of ~260 bytes of JSON). */
const MAX_BYTES = 2 * 1024 ** 3;
const CLIENT = 'trackpipe-json-spool:outage';
/**
 * The same client in a process whose V8 heap is capped (`--max-old-space-size`): V8 then collects its
 * old generation sooner instead of letting it grow to about four times what is alive. The cap is ten
 * times what the spool keeps alive here (about 25 MB after a full collection).
 */
const HEAP_CAP_MB = 256;
const CAPPED = `${CLIENT}-heap${HEAP_CAP_MB}`;
const NODE_OPTIONS: Readonly<Record<string, readonly string[]>> = { [CAPPED]: [`--max-old-space-size=${HEAP_CAP_MB}`] };

/** RSS and its split into anonymous memory and mapped file pages, in MB (Linux: /proc/self/status; elsewhere RSS only). */
function memory(): { rss: number; anon: number | null; file: number | null } {
  const rss = process.memoryUsage().rss / 1_048_576;
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const kb = (name: string): number | null => {
      const match = new RegExp(`${name}:\\s+(\\d+) kB`).exec(status);
      return match === null ? null : Number(match[1]) / 1024;
    };
    return { rss, anon: kb('RssAnon'), file: kb('RssFile') };
  } catch {
    return { rss, anon: null, file: null };
  }
}

/** Peaks of {@link memory} over samples. */
class Peaks {
  rss = 0;
  anon: number | null = null;
  file: number | null = null;

  sample(): void {
    const m = memory();
    this.rss = Math.max(this.rss, m.rss);
    if (m.anon !== null) this.anon = Math.max(this.anon ?? 0, m.anon);
    if (m.file !== null) this.file = Math.max(this.file ?? 0, m.file);
  }
}

/** Scenario 10, spool outage: an application with a spool while its destination is down for 5 000 000 events; then it comes back. */
export const spoolOutage: Scenario<SpoolOutageParams> = {
  id: 'spool-outage',
  title: '10. Spool outage: 5 000 000 events on disk, memory flat',
  params: (quick) => (quick ? { events: 100_000, durableEvery: 20_000, deadlineMs: 60_000 } : { events: 5_000_000, durableEvery: 20_000, deadlineMs: 600_000 }),
  clients: () => [CLIENT, CAPPED],
  accepts: (client) => client === CLIENT || client === CAPPED,
  runs: () => 1,
  createClient: (name, settings: ClientSettings): Promise<BenchClient> => {
    if (name !== CLIENT && name !== CAPPED) throw new Error(`unknown client ${name}`);
    return Promise.resolve(new TrackpipeHttpClient(name, settings, { format: 'json', gzip: false, spool: { maxBytes: MAX_BYTES } }));
  },
  clientInfo: (): Record<string, ClientInfo> => {
    const base = clientInfo()['trackpipe-json-spool'];
    if (base === undefined) return {};
    const bound = 'the spool: maxBytes 2 GiB on disk; counted';
    return {
      [CLIENT]: { ...base, label: 'Trackpipe JSON + spool (maxBytes 2 GiB)', bound },
      [CAPPED]: { ...base, label: `Trackpipe JSON + spool (maxBytes 2 GiB), node --max-old-space-size=${HEAP_CAP_MB}`, bound },
    };
  },
  timeoutMs: (p) => 2 * p.deadlineMs + 300_000,
  describe: (p) =>
    `Trackpipe JSON with a spool (\`maxBytes\` 2 GiB, other options at their defaults) while the sink is down: ${p.events.toLocaleString('en')} events are recorded in bursts of ${BURST.toLocaleString('en')}, ` +
    `the application waiting for \`persisted()\` after every ${p.durableEvery.toLocaleString('en')} (as the service does before it answers). Then the sink comes back and the client is shut down (deadline ${p.deadlineMs / 1000} s), delivering the backlog from disk. One run. The second row is the same client in a process started with \`node --max-old-space-size=${HEAP_CAP_MB}\`: with Node's defaults V8 lets its old generation grow to about four times what is alive before it collects it; capped, it collects sooner. ` +
    '**outage: peak RSS** is the process\'s maximum resident set (`maxRSS`) by the end of the outage, **throughout** by the end of the run; during the recovery RSS is sampled every 100 ms. **anon** / **file** split the sampled RSS into anonymous memory (heap, buffers) and mapped file pages (LMDB reads through a memory map: page cache, shared and reclaimable). ' +
    '**delivered** = distinct ids at the sink; **drops** the client\'s own count.',
  columns: [
    { key: 'recordPerSec', label: 'recorded events/s (outage)', digits: 0 },
    { key: 'outageRssMb', label: 'outage: peak RSS MB', digits: 0 },
    { key: 'outageAnonMb', label: 'outage: anon MB', digits: 0 },
    { key: 'outageFileMb', label: 'outage: file MB', digits: 0 },
    { key: 'recoveryRssMb', label: 'recovery: RSS MB (sampled peak)', digits: 0 },
    { key: 'peakRssMb', label: 'peak RSS MB, throughout', digits: 0 },
    { key: 'recoveryAnonMb', label: 'recovery: anon MB', digits: 0 },
    { key: 'recoveryFileMb', label: 'recovery: file MB', digits: 0 },
    { key: 'deliverPerSec', label: 'delivered events/s (recovery)', digits: 0 },
    { key: 'delivered', label: 'delivered', digits: 0 },
    { key: 'reportedDrops', label: 'drops', digits: 0 },
    { key: 'shutdownReturned', label: 'shutdown returned', kind: 'bool' },
  ],

  async runOne({ client, sink, spawn, params }) {
    sink.reset();
    await sink.stop();
    try {
      const child = await spawn({ sinkUrl: sink.url, queueSize: params.events, batchSize: BATCH_SIZE }, NODE_OPTIONS[client]);
      child.send({ type: 'go' });
      const during = (await child.next('recorded')).data as Metrics;
      sink.reset();
      await sink.start();
      child.send({ type: 'resume' });
      const metrics = await child.result();
      const recorded = during.recorded as number;
      await Promise.race([sink.whenDistinct(recorded), sleep(2_000)]);
      const counts = sink.counts();
      return {
        ...during,
        ...metrics,
        delivered: counts.distinct,
        duplicates: counts.duplicates,
        lost: recorded - counts.distinct - ((metrics.reportedDrops as number | null) ?? 0),
        deliverPerSec: counts.distinct / ((metrics.shutdownMs as number) / 1000),
      };
    } finally {
      await sink.start();
    }
  },

  async child({ client, params, idPrefix, io }) {
    const c = client as TrackpipeHttpClient;
    const cpu = process.cpuUsage();
    const outage = new Peaks();
    const t0 = performance.now();
    let recorded = 0;
    let waits = 0;
    let sinceDurable = 0;
    while (recorded < params.events) {
      const end = Math.min(params.events, recorded + BURST);
      sinceDurable += end - recorded;
      for (; recorded < end; recorded++) c.record(c.prepare(flagEvaluationAt(recorded, idPrefix)));
      outage.sample();
      if (sinceDurable >= params.durableEvery || recorded === params.events) {
        waits++;
        sinceDurable = 0;
        await c.processor.persisted();
      } else {
        await nextTurn();
      }
    }
    outage.sample();
    const recordMs = performance.now() - t0;
    const during: Metrics = {
      recorded,
      recordMs,
      recordPerSec: recorded / (recordMs / 1000),
      persistedWaits: waits,
      outageRssMb: process.resourceUsage().maxRSS / 1024,
      outageAnonMb: outage.anon,
      outageFileMb: outage.file,
      dropsDuringOutage: orNull(c.reportedDrops()),
    };
    io.send({ type: 'recorded', data: during });
    await io.next('resume');
    const recovery = new Peaks();
    const sampler = setInterval(() => recovery.sample(), 100);
    let outcome;
    try {
      outcome = await c.shutdown(params.deadlineMs);
    } finally {
      clearInterval(sampler);
    }
    recovery.sample();
    const metrics: Metrics = {
      events: params.events,
      shutdownReturned: outcome.returned,
      shutdownMs: outcome.ms,
      reportedDrops: orNull(outcome.reportedDrops),
      recoveryRssMb: recovery.rss,
      peakRssMb: process.resourceUsage().maxRSS / 1024,
      recoveryAnonMb: recovery.anon,
      recoveryFileMb: recovery.file,
      ...processFigures(cpu),
    };
    return metrics;
  },
};
