import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, countingSink, exitOf, serve, writeSpooledConfig } from './cli-support.js';

// `trackpipe serve` with a spool, under many concurrent clients, killed with SIGKILL at seeded random
// moments while its destination refuses a third of the requests, and started again on the same
// spool: every event the service answered 202 for reaches the destination. Duplicates are counted;
// they come from batches exported but not yet released when the process died.

const SEED = Number(process.env.TRACKPIPE_SERVICE_CRASH_SEED ?? 20261128);
// 10 kills in the main run; TRACKPIPE_CRASH_RUNS lowers it where the same test runs again (the other Node lines).
const RUNS = Number(process.env.TRACKPIPE_CRASH_RUNS ?? 10);
const CLIENTS = 8;

function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The destination: counts the events it stored, refusing a third of the requests until healed. */
async function destination(random: () => number) {
  let refuse = 1 / 3;
  const sink = await countingSink(() => random() < refuse);
  return { ...sink, heal: () => (refuse = 0) };
}

let dir: string;
beforeAll(() => {
  buildCli();
  dir = mkdtempSync(join(tmpdir(), 'trackpipe-service-spool-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('trackpipe serve with a spool, killed with SIGKILL', () => {
  it(`delivers every event it answered 202 for, across ${RUNS} kills at random moments (seed ${SEED})`, async () => {
    const random = seeded(SEED);
    const sink = await destination(random);
    const config = writeSpooledConfig(dir, sink.url, { maxBatchSize: 200, flushIntervalMs: 50 });
    const acknowledged = new Set<string>();
    let refused = 0;
    try {
      for (let runNo = 0; runNo < RUNS; runNo++) {
        const { service, url } = await serve(config, dir);
        let stop = false;
        const client = async (c: number): Promise<void> => {
          for (let n = 0; !stop; n++) {
            const batch = Array.from({ length: 25 }, (_, i) => ({ id: `r${runNo}-c${c}-${n}-${i}`, name: 'crash.test' }));
            try {
              const res = await fetch(`${url}/v1/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ batch }) });
              if (res.status === 202) for (const id of ((await res.json()) as { ids: string[] }).ids) acknowledged.add(id);
              else refused++;
            } catch {
              return; // the service died under us: nothing of this request was acknowledged
            }
          }
        };
        const clients = Array.from({ length: CLIENTS }, (_, c) => client(c));
        await new Promise((resolve) => setTimeout(resolve, 300 + random() * 1_200));
        service.child.kill('SIGKILL');
        const [, signal] = await service.exited;
        stop = true;
        await Promise.all(clients);
        expect(signal).toBe('SIGKILL');
      }

      // The destination recovers; the last start delivers what the spool holds, then stops cleanly.
      sink.heal();
      const { service: last } = await serve(config, dir);
      const deadline = Date.now() + 120_000;
      const missing = () => [...acknowledged].filter((id) => !sink.received.has(id));
      while (missing().length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 200));
      last.child.kill('SIGTERM');
      expect(await exitOf(last, 30_000)).toBe(0);

      let duplicates = 0;
      for (const count of sink.received.values()) duplicates += count - 1;
      console.log(
        `service crash: ${RUNS} kills, ${acknowledged.size} events acknowledged (202), ${refused} requests refused, ` +
          `${sink.received.size} distinct received, ${missing().length} missing, ${duplicates} duplicates`,
      );
      expect(acknowledged.size).toBeGreaterThan(0);
      expect(missing().slice(0, 5)).toEqual([]);
    } finally {
      await sink.close();
    }
  }, 420_000);
});
