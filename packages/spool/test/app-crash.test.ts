import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { runFixture } from './child.js';
import { seeded } from './fixtures/workload.js';
import { tempDir } from './helpers.js';

// An application using a BatchProcessor with a spool, killed with SIGKILL at random moments while the
// destination refuses half of its requests, then started again on the same spool: every event that
// persisted() acknowledged reaches the destination.

const SEED = Number(process.env.TRACKPIPE_SPOOL_CRASH_SEED ?? 20261127);
// 10 kills in the main run; TRACKPIPE_CRASH_RUNS lowers it where the same test runs again (the other Node lines).
const RUNS = Number(process.env.TRACKPIPE_CRASH_RUNS ?? 10);

/** The destination: a real HTTP server on 127.0.0.1 counting the events it stored. */
async function sink(random: () => number) {
  const received = new Map<number, number>();
  let refuse = 0.5;
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (random() < refuse) {
        response.writeHead(503).end();
        return;
      }
      for (const event of JSON.parse(Buffer.concat(chunks).toString()) as { attributes: { n: number } }[]) {
        received.set(event.attributes.n, (received.get(event.attributes.n) ?? 0) + 1);
      }
      response.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`,
    received,
    heal: () => (refuse = 0),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('an application with a spooled BatchProcessor, killed with SIGKILL', () => {
  it(`loses no event persisted() acknowledged, across ${RUNS} kills at random moments (seed ${SEED})`, async () => {
    const random = seeded(SEED);
    const destination = await sink(random);
    const { dir, cleanup } = tempDir('trackpipe-app-crash-');
    const acknowledged: [number, number][] = [];
    try {
      for (let run = 0; run < RUNS; run++) {
        const first = run * 10_000_000;
        const child = runFixture('app-child.ts', [dir, destination.url, 'record', String(first)]);
        await child.waitFor('open ');
        await new Promise((resolve) => setTimeout(resolve, 100 + random() * 900));
        child.process.kill('SIGKILL');
        const { signal } = await child.exited;
        expect(signal, child.stderr()).toBe('SIGKILL');
        let next = first;
        for (const l of child.lines) if (l.startsWith('persisted ')) next = Math.max(next, Number(l.split(' ')[1]));
        acknowledged.push([first, next]);
      }
      destination.heal();
      const drain = runFixture('app-child.ts', [dir, destination.url, 'drain', '0']);
      const drained = await drain.waitFor('drained ', 120_000);
      expect((await drain.exited).code, drain.stderr()).toBe(0);
      expect(drained.split(' ')[2]).toBe('true');

      const total = acknowledged.reduce((n, [from, to]) => n + to - from, 0);
      expect(total).toBeGreaterThan(0);
      const missing: number[] = [];
      for (const [from, to] of acknowledged) for (let n = from; n < to; n++) if (!destination.received.has(n)) missing.push(n);
      let duplicates = 0;
      for (const count of destination.received.values()) duplicates += count - 1;
      console.log(`app crash: ${RUNS} kills, ${total} events acknowledged, ${destination.received.size} received, ${missing.length} missing, ${duplicates} duplicates`);
      expect(missing.slice(0, 5)).toEqual([]);
    } finally {
      cleanup();
      await destination.close();
    }
  }, 300_000);
});
