import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runFixture } from './child.js';
import { tempDir } from './helpers.js';

// bench/outage.mjs, on the sources and with fewer events than the benchmark's 5 000 000 (see
// bench/README.md for those figures): the same program, checked here.
const script = join(dirname(fileURLToPath(import.meta.url)), '../bench/outage.mjs');
const EVENTS = 400_000;

interface Answer {
  events: number;
  drops: number;
  taken: number;
  outOfOrder: number;
  write: { heapUsedAtHalfMB: number; heapUsedAtEndMB: number; anonMB: number; rssMB: number };
  stored: { bytes: number; bytesPerEvent: number; dataFileBytes: number };
  read: { anonMB: number };
  afterRestart: { recovered: number; bytes: number };
}

describe('an outage with a spool', () => {
  it(`holds ${EVENTS} events on disk, not in memory, and gives every one back in order, then frees the disk`, async () => {
    const { dir, cleanup } = tempDir('trackpipe-spool-outage-');
    try {
      const child = runFixture(script, [String(EVENTS), dir], { env: { ...process.env, SPOOL_BENCH_SOURCE: '1' } });
      const { code } = await child.exited;
      expect(code, child.stderr()).toBe(0);
      const answer = JSON.parse(child.lines.at(-1)!) as Answer;
      console.log(`outage of ${EVENTS} events: ${child.lines.at(-1)}`);
      expect([answer.drops, answer.taken, answer.outOfOrder]).toEqual([0, EVENTS, 0]);
      // Memory is flat: after a full collection, the second half of the outage retains no heap to
      // speak of (holding those 200 000 events in memory would take well over 50 MB). Resident memory
      // is reported too; how much of it a Node line hands back after a collection varies.
      expect(answer.write.heapUsedAtEndMB - answer.write.heapUsedAtHalfMB).toBeLessThan(16);
      // Disk usage matches the events: their JSON, and an LMDB file barely larger than that.
      expect(answer.stored.bytesPerEvent).toBeGreaterThan(200);
      expect(answer.stored.bytesPerEvent).toBeLessThan(300);
      expect(answer.stored.dataFileBytes).toBeGreaterThanOrEqual(answer.stored.bytes);
      expect(answer.stored.dataFileBytes).toBeLessThan(answer.stored.bytes * 1.1 + 4 * 1024 * 1024);
      expect(answer.afterRestart).toEqual({ recovered: 0, bytes: 0 });
    } finally {
      cleanup();
    }
  }, 240_000);
});
