import { describe, expect, it } from 'vitest';
import { REMAP_MIN_FILE_BYTES } from '../src/constants.js';
import { RangeSet } from '../src/ranges.js';
import { runFixture } from './child.js';
import { eventFor, padFor, seeded } from './fixtures/workload.js';
import { openSpool, take, tempDir } from './helpers.js';

// The seed of the whole test; set TRACKPIPE_SPOOL_CRASH_SEED to replay a failure.
const SEED = Number(process.env.TRACKPIPE_SPOOL_CRASH_SEED ?? 20261126);

// 10 kills in the main run; TRACKPIPE_CRASH_RUNS lowers it where the same test runs again (the other Node lines).
const RUNS = Number(process.env.TRACKPIPE_CRASH_RUNS ?? 10);

/**
 * Runs `runs` children on one spool, each killed with SIGKILL at a random moment, its pads `scale`
 * times as long, the spool first filled with `prefill` bytes of such events; after each, reopens the
 * spool here and checks every acknowledged, unreleased event is back, in order, intact. Returns how
 * often the children's spools reopened their environment.
 */
async function killRuns(runs: number, scale: number, seed: number, prefill = 0): Promise<number> {
  const random = seeded(seed);
  const { dir, cleanup } = tempDir('trackpipe-spool-crash-');
  // Sequence numbers acknowledged by persisted() and never released: each must come back.
  const mustHave = new RangeSet();
  let acknowledged = 0;
  let recoveredTotal = 0;
  let reopened = 0;
  try {
    if (prefill > 0) {
      const { spool } = openSpool({ path: dir });
      while (spool.stats().bytes < prefill) {
        for (let i = 0; i < 1000; i++) spool.push(eventFor(spool.tail, scale));
        expect(await spool.persisted()).toBe(true);
      }
      mustHave.add(0, spool.tail);
      await spool.close();
    }
    for (let run = 0; run < runs; run++) {
      const child = runFixture('crash-child.ts', [dir, String(Math.floor(random() * 2 ** 31)), String(scale)]);
      const opened = (await child.waitFor('open ')).split(' ').map(Number);
      const [recovered, , runStart] = [opened[1]!, opened[2]!, opened[3]!];
      recoveredTotal += recovered;
      await new Promise((resolve) => setTimeout(resolve, 50 + random() * 700));
      child.process.kill('SIGKILL');
      const { signal } = await child.exited;
      expect(signal, child.stderr()).toBe('SIGKILL');
      expect(child.lines.filter((l) => l.startsWith('bad')), child.stderr()).toEqual([]);

      let mark = runStart;
      for (const l of child.lines) {
        const [what, a] = l.split(' ');
        if (what === 'persisted') mark = Math.max(mark, Number(a));
        if (what === 'reopened') reopened = Math.max(reopened, Number(a));
      }
      mustHave.add(runStart, mark);
      acknowledged += mark - runStart;
      for (const l of child.lines) {
        const [what, a, b] = l.split(' ');
        if (what === 'releasing') mustHave.subtract(Number(a), Number(b));
      }

      // Reopen in this process: every acknowledged, unreleased event is there, in order, intact.
      const { spool, recovered: found, listener } = openSpool({ path: dir });
      const got = take(spool);
      expect(got.length).toBe(found);
      expect(listener.drops.size).toBe(0);
      const present = new RangeSet();
      let previous = -1;
      for (const { key, event } of got) {
        expect(key).toBeGreaterThan(previous);
        expect(event.k).toBe(key);
        expect(event.pad).toBe(padFor(key, scale));
        previous = key;
        present.add(key, key + 1);
      }
      for (const [from, to] of mustHave.toPairs()) {
        expect(present.countIn(from, to), `run ${run}: events ${from}..${to - 1} were acknowledged`).toBe(to - from);
      }
      await spool.close(); // nothing released: the next child recovers all of it
    }
    // The kills landed while the child was busy: events were acknowledged and recovered.
    expect(acknowledged).toBeGreaterThan(0);
    expect(recoveredTotal).toBeGreaterThan(0);
    return reopened;
  } finally {
    cleanup();
  }
}

describe('a process writing to a spool, killed with SIGKILL', () => {
  it(`loses no event persisted() acknowledged, across ${RUNS} kills at random moments (seed ${SEED})`, async () => {
    await killRuns(RUNS, 1, SEED);
  }, 300_000);

  it(`loses none either while the spool reopens its environment to unmap what it read, across ${Math.ceil(RUNS / 2)} kills (seed ${SEED + 1})`, async () => {
    // A data file past REMAP_MIN_FILE_BYTES, and events of up to 25 KB: a run reads back and deletes more than REMAP_TOUCHED_BYTES.
    const reopened = await killRuns(Math.ceil(RUNS / 2), 100, SEED + 1, 1.25 * REMAP_MIN_FILE_BYTES);
    expect(reopened).toBeGreaterThan(0);
  }, 300_000);
});
