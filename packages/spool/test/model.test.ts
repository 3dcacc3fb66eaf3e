// Random interleavings of what a processor does with a spool (push, persisted, peek, shift,
// peekEncoded + takeEncoded, release, clear) and restarts (close, then a new Spool on the same directory),
// against a model: the ordered keys pushed and not released. Small windows and groups, so that
// events are taken from memory and read back from disk (as text) alike.
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Spool } from '../src/index.js';
import { type Ev, openSpool, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir('trackpipe-spool-model-'));
});
afterEach(() => cleanup());

type Op =
  | { op: 'push'; n: number }
  | { op: 'persisted' }
  | { op: 'peek' }
  | { op: 'shift' }
  | { op: 'takeEncoded' }
  | { op: 'release'; pick: number; run: number }
  | { op: 'clear' }
  | { op: 'reopen' };

const ops: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('push' as const), n: fc.integer({ min: 1, max: 7 }) }) },
  { weight: 2, arbitrary: fc.constant({ op: 'persisted' as const }) },
  { weight: 2, arbitrary: fc.constant({ op: 'peek' as const }) },
  { weight: 3, arbitrary: fc.constant({ op: 'shift' as const }) },
  { weight: 3, arbitrary: fc.constant({ op: 'takeEncoded' as const }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('release' as const), pick: fc.nat(), run: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 1, arbitrary: fc.constant({ op: 'clear' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'reopen' as const }) },
);

const OPTIONS = { memoryEvents: 3, sync: { maxEvents: 4, intervalMs: 1 } };

describe('a spool against a model of its keys', () => {
  it('takes each live key once, in order, and gives back every key not released after a restart', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(ops, { minLength: 1, maxLength: 40 }), async (script) => {
        const path = `${dir}/${run++}`;
        /** Keys pushed and not released, ascending. */
        const live: number[] = [];
        /** Keys taken and not released. */
        const taken = new Set<number>();
        let spool: Spool<Ev> = openSpool({ path, ...OPTIONS }).spool;
        let next = 0;
        /** The key the spool must hand out next, if any is ready: the first live key not taken. */
        const expectedHead = (): number | undefined => live.find((k) => !taken.has(k));
        const took = (key: number, k: number): void => {
          expect(k).toBe(key);
          expect(k).toBe(expectedHead());
          taken.add(k);
        };
        try {
          for (const step of script) {
            switch (step.op) {
              case 'push':
                for (let i = 0; i < step.n; i++) {
                  spool.push({ name: 'e', k: next });
                  live.push(next++);
                }
                break;
              case 'persisted':
                expect(await spool.persisted()).toBe(true);
                break;
              case 'peek': {
                const ready = spool.ready;
                const event = spool.peek();
                if (ready > 0) expect(event).toBeDefined();
                if (event !== undefined) expect(event.k).toBe(expectedHead());
                break;
              }
              case 'shift': {
                const ready = spool.ready;
                const key = spool.head;
                const event = spool.shift();
                if (ready > 0) expect(event).toBeDefined();
                if (event !== undefined) took(key, event.k);
                break;
              }
              case 'takeEncoded': {
                const text = spool.peekEncoded();
                if (text === undefined) break;
                const key = spool.head;
                const held = spool.takeEncoded();
                const event = JSON.parse(text) as Ev;
                if (held !== undefined) expect(held).toEqual(event);
                took(key, event.k);
                break;
              }
              case 'release': {
                const keys = [...taken].sort((a, b) => a - b);
                if (keys.length === 0) break;
                const from = keys[step.pick % keys.length]!;
                let to = from + 1;
                while (to - from < step.run && taken.has(to)) to++;
                spool.release(from, to);
                for (let k = from; k < to; k++) {
                  taken.delete(k);
                  live.splice(live.indexOf(k), 1);
                }
                break;
              }
              case 'clear': {
                // Drops every waiting event (taken ones stay until released).
                const waiting = live.filter((k) => !taken.has(k));
                expect(spool.clear()).toBe(waiting.length);
                live.splice(0, live.length, ...live.filter((k) => taken.has(k)));
                break;
              }
              case 'reopen': {
                await spool.close();
                const opened = openSpool({ path, ...OPTIONS });
                spool = opened.spool;
                expect(opened.recovered).toBe(live.length);
                taken.clear();
                break;
              }
            }
            expect(spool.size + taken.size).toBe(live.length);
            expect(spool.stats().events).toBe(live.length);
            expect(spool.stats().dropped).toEqual({ spool_full: 0, queue_full: 0, unserializable: 0, closed: 0, shutdown_timeout: 0 });
          }
          await spool.close();
          const last = openSpool({ path, ...OPTIONS });
          spool = last.spool;
          expect(last.recovered).toBe(live.length);
          const back: number[] = [];
          for (let text = spool.peekEncoded(); text !== undefined; text = spool.peekEncoded()) {
            back.push((JSON.parse(text) as Ev).k);
            spool.takeEncoded();
          }
          expect(back).toEqual(live);
        } finally {
          await spool.close();
        }
      }),
      { numRuns: 20 },
    );
  }, 60_000);

  it('under drop-oldest on a full spool, drops only the oldest waiting keys, each counted once, and hands out the rest once, in order', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(ops, { minLength: 1, maxLength: 40 }), async (script) => {
        const path = `${dir}/full-${run++}`;
        const options = { ...OPTIONS, maxBytes: 1_024, overflow: 'drop-oldest' as const };
        /** Keys pushed and neither released nor known dropped, ascending. */
        let live: number[] = [];
        const taken = new Set<number>();
        /** Pushes refused (nothing waiting to drop), and oldest events seen dropped (skipped by a take). */
        let refused = 0;
        let skipped = 0;
        let fullBefore = 0;
        let opened = openSpool({ path, ...options });
        /** A take of `k`: every live key below it not taken was dropped. */
        const took = (key: number, k: number): void => {
          expect(k).toBe(key);
          expect(live).toContain(k);
          expect(taken.has(k)).toBe(false);
          const gone = live.filter((x) => x < k && !taken.has(x));
          skipped += gone.length;
          live = live.filter((x) => x >= k || taken.has(x));
          taken.add(k);
        };
        try {
          for (const step of script) {
            const spool = opened.spool;
            switch (step.op) {
              case 'push':
                for (let i = 0; i < step.n * 3; i++) {
                  const key = spool.tail;
                  spool.push({ name: 'e', k: key });
                  if (spool.tail === key) refused++;
                  else live.push(key);
                }
                break;
              case 'persisted':
                await spool.persisted();
                break;
              case 'peek':
              case 'shift': {
                const ready = spool.ready;
                // With drops not yet found on disk, head is a lower bound until the head is read (peek).
                const before = spool.head;
                const event = step.op === 'peek' ? spool.peek() : spool.shift();
                if (ready > 0) expect(event).toBeDefined();
                if (event !== undefined) expect(before).toBeLessThanOrEqual(event.k);
                if (event !== undefined && step.op === 'shift') took(spool.head - 1, event.k);
                break;
              }
              case 'takeEncoded': {
                const text = spool.peekEncoded();
                if (text === undefined) break;
                const key = spool.head;
                spool.takeEncoded();
                took(key, (JSON.parse(text) as Ev).k);
                break;
              }
              case 'release': {
                const keys = [...taken].sort((a, b) => a - b);
                if (keys.length === 0) break;
                const k = keys[step.pick % keys.length]!;
                spool.release(k, k + 1);
                taken.delete(k);
                live = live.filter((x) => x !== k);
                break;
              }
              case 'clear': {
                // Drops every waiting event; the live keys not taken that it did not count were dropped before.
                const waiting = live.filter((x) => !taken.has(x)).length;
                skipped += waiting - spool.clear();
                live = live.filter((x) => taken.has(x));
                break;
              }
              case 'reopen': {
                fullBefore += opened.listener.count('spool_full');
                await spool.close();
                opened = openSpool({ path, ...options });
                taken.clear();
                // What comes back is what was neither released nor dropped.
                expect(opened.recovered).toBeLessThanOrEqual(live.length);
                break;
              }
            }
            expect(opened.listener.count('unserializable') + opened.listener.count('queue_full')).toBe(0);
          }
          fullBefore += opened.listener.count('spool_full');
          await opened.spool.close();
          opened = openSpool({ path, ...options });
          const back: number[] = [];
          for (let text = opened.spool.peekEncoded(); text !== undefined; text = opened.spool.peekEncoded()) {
            back.push((JSON.parse(text) as Ev).k);
            opened.spool.takeEncoded();
          }
          expect(opened.recovered).toBe(back.length);
          // In order, a part of the live keys; the rest of them were the oldest dropped.
          expect(back).toEqual([...back].sort((a, b) => a - b));
          for (const k of back) expect(live).toContain(k);
          skipped += live.length - back.length;
          expect(skipped).toBe(fullBefore - refused);
        } finally {
          await opened.spool.close();
        }
      }),
      { numRuns: 20 },
    );
  }, 60_000);
});

