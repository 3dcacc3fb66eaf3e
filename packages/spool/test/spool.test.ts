import { open as openLmdb } from 'lmdb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readCount } from '../src/codec.js';
import { Spool } from '../src/index.js';
import { type Ev, RecordingLogger, openSpool, pushN, take, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => void;
const open: Spool<Ev>[] = [];

beforeEach(() => {
  ({ dir, cleanup } = tempDir());
});
afterEach(async () => {
  for (const s of open.splice(0)) await s.close();
  cleanup();
});

function spoolAt(options: Partial<ConstructorParameters<typeof Spool<Ev>>[0]> = {}) {
  const opened = openSpool({ path: dir, ...options });
  open.push(opened.spool);
  return opened;
}

/** Pushes `n` events (see pushN) and returns them. */
function pushAll(spool: Spool<Ev>, n: number, pad = ''): Ev[] {
  const events = Array.from({ length: n }, (_, i) => ({ k: spool.tail + i, pad }));
  for (const event of events) spool.push(event);
  return events;
}

async function reopen(spool: Spool<Ev>, options: Partial<ConstructorParameters<typeof Spool<Ev>>[0]> = {}) {
  await spool.close();
  open.splice(open.indexOf(spool), 1);
  return spoolAt(options);
}

describe('Spool as an EventQueue', () => {
  it('accepts pushes synchronously and makes them takeable, in order, once their group is committed', async () => {
    const { spool, listener } = spoolAt();
    expect(spool.durable).toBe(true);
    expect([spool.head, spool.tail, spool.size, spool.ready]).toEqual([0, 0, 0, 0]);
    pushN(spool, 3);
    expect([spool.head, spool.tail, spool.size, spool.ready]).toEqual([0, 3, 3, 0]);
    expect(spool.shift()).toBeUndefined();
    expect(await spool.persisted()).toBe(true);
    expect(spool.ready).toBe(3);
    expect(listener.readies).toBeGreaterThanOrEqual(1);
    const taken = take(spool);
    expect(taken.map((t) => [t.key, t.event.k])).toEqual([
      [0, 0],
      [1, 1],
      [2, 2],
    ]);
    expect([spool.head, spool.tail, spool.size, spool.ready]).toEqual([3, 3, 0, 0]);
  });

  it('hands the processor the JSON of each committed event, so it is not encoded twice', async () => {
    const { spool } = spoolAt();
    pushN(spool, 2);
    expect(spool.peekEncoded()).toBeUndefined(); // not committed yet
    await spool.persisted();
    for (let i = 0; i < 2; i++) {
      const text = spool.peekEncoded();
      expect(text).toBe(JSON.stringify(spool.shift()));
    }
    expect(spool.peekEncoded()).toBeUndefined();
  });

  it('hands the processor the JSON of events read back from disk too, after an outage and after a restart', async () => {
    const { spool } = spoolAt({ memoryEvents: 10, sync: { maxEvents: 10 } });
    pushN(spool, 35, 'é"\\\n\u2028'); // escapes, a newline and a non-ASCII text in the JSON
    await spool.persisted();
    // 10 are in memory, 25 wait on disk only.
    for (let i = 0; i < 20; i++) {
      spool.peek(); // as the processor does: peek(), then the JSON of what it found
      const text = spool.peekEncoded();
      const event = spool.shift()!;
      expect(event.k).toBe(i);
      expect(text).toBe(JSON.stringify(event));
    }
    const { spool: again } = await reopen(spool, { memoryEvents: 10, sync: { maxEvents: 10 } });
    for (let i = 0; i < 35; i++) {
      again.peek();
      const text = again.peekEncoded();
      const event = again.shift()!;
      expect(event.k).toBe(i); // nothing was released: the restart recovers all 35
      expect(text).toBe(JSON.stringify(event));
    }
    expect(again.shift()).toBeUndefined();
  });

  it('hands events read back from disk over as their JSON alone (takeEncoded), never parsed; those still in memory as the objects pushed', async () => {
    const { spool } = spoolAt({ memoryEvents: 10, sync: { maxEvents: 10 } });
    const pushed = pushAll(spool, 25, 'é"\\\n');
    await spool.persisted();
    const held: (Ev | undefined)[] = [];
    const texts: (string | undefined)[] = [];
    for (let text = spool.peekEncoded(); text !== undefined; text = spool.peekEncoded()) {
      texts.push(text);
      held.push(spool.takeEncoded());
    }
    expect(texts).toEqual(pushed.map((e) => JSON.stringify(e)));
    // The first 10 never left memory: the objects pushed. The other 15 were read back: text only.
    expect(held.slice(0, 10)).toEqual(pushed.slice(0, 10));
    expect(held[0]).toBe(pushed[0]);
    expect(held.slice(10)).toEqual(Array.from({ length: 15 }, () => undefined));
    expect([spool.head, spool.size, spool.ready]).toEqual([25, 0, 0]);
    expect(spool.takeEncoded()).toBeUndefined();
    expect(spool.head).toBe(25);
  });

  it('parses an event read back from disk when peek() or shift() asks for it, once', async () => {
    const { spool } = spoolAt({ memoryEvents: 2, sync: { maxEvents: 2 } });
    const pushed = pushAll(spool, 6);
    await spool.persisted();
    take(spool, 2);
    const first = spool.peek();
    expect(first).toEqual(pushed[2]);
    expect(spool.peek()).toBe(first);
    expect(spool.shift()).toBe(first);
    expect(take(spool).map((t) => t.event)).toEqual(pushed.slice(3));
  });

  it('reads groups stored as a one-line array (by earlier versions) with their events, decoding the JSON itself', async () => {
    const { spool } = spoolAt();
    pushN(spool, 5);
    await spool.persisted();
    await spool.close();
    open.splice(open.indexOf(spool), 1);
    // Rewrite every stored group as the earlier version wrote it: `<count>\n[<json>,<json>]` on one line.
    const env = openLmdb({ path: dir, maxDbs: 8 });
    const events = env.openDB<string, number>({ name: 'events', encoding: 'string' });
    for (const key of Array.from(events.getKeys({}))) {
      const value = events.get(key)!;
      const newline = value.indexOf('\n');
      const array = JSON.parse(value.slice(newline + 1)) as unknown[];
      expect(value.slice(newline + 1)).toContain(',\n'); // this version writes one event per line
      await events.put(key, `${value.slice(0, newline)}\n${JSON.stringify(array)}`);
    }
    await env.close();
    const { spool: again, recovered } = spoolAt();
    expect(recovered).toBe(5);
    const texts: (string | undefined)[] = [];
    const keys: number[] = [];
    for (let event = again.peek(); event !== undefined; event = again.peek()) {
      texts.push(again.peekEncoded());
      keys.push(again.shift()!.k);
    }
    expect(keys).toEqual([0, 1, 2, 3, 4]);
    expect(texts).toEqual([undefined, undefined, undefined, undefined, undefined]); // the processor encodes them
  });

  it('reads back a stored group of 16 MiB or more (lmdb hands such a value out as a plain Uint8Array), after a restart and from disk while open', async () => {
    const pad = 'x'.repeat(3_500_000); // five events: one stored group of 17.5 MB
    const { spool } = spoolAt({ memoryEvents: 1, sync: { maxEvents: 5 } });
    for (let i = 0; i < 10; i++) spool.push({ name: 'e', k: i, pad });
    expect(await spool.persisted()).toBe(true);
    // The window holds one event; the rest is read back from disk.
    const live = take(spool);
    expect(live.map((t) => [t.key, t.event.k, t.event.pad === pad])).toEqual(range(0, 10).map((k) => [k, k, true]));
    const { spool: again, recovered, listener } = await reopen(spool, { memoryEvents: 1, sync: { maxEvents: 5 } });
    expect(recovered).toBe(10);
    const back = take(again);
    expect(listener.drops.size).toBe(0);
    expect(back.map((t) => [t.key, t.event.k, t.event.pad === pad])).toEqual(range(0, 10).map((k) => [k, k, true]));
  });

  it('writes a burst of up to 65 536 events in one commit, so that commits keep up with bursts', async () => {
    const { spool, listener } = spoolAt({ maxPendingEvents: 70_000, sync: { maxEvents: 100 } });
    pushN(spool, 65_536 + 100);
    expect(await spool.persisted()).toBe(true);
    expect(spool.stats().commits).toBe(2); // 65 536, then the last 100
    expect(spool.ready).toBe(65_636);
    expect(listener.count('queue_full')).toBe(0);
  });

  it('commits a group as soon as it holds sync.maxEvents events, before the interval ends', async () => {
    const { spool } = spoolAt({ sync: { intervalMs: 60_000, maxEvents: 100 } });
    pushN(spool, 1); // first commit starts at once (none ran for an interval)
    await spool.persisted();
    pushN(spool, 99);
    await new Promise((r) => setTimeout(r, 50));
    expect(spool.ready).toBe(1); // 99 < maxEvents: waits for the (long) interval
    pushN(spool, 1);
    expect(await spool.persisted()).toBe(true);
    expect(spool.ready).toBe(101);
  });

  it('starts the commit a persisted() call waits for as soon as none runs, not at the end of the interval', async () => {
    const { spool } = spoolAt({ sync: { intervalMs: 60_000, maxEvents: 100 } });
    pushN(spool, 1);
    await spool.persisted(); // the next commit would wait a minute for the interval
    pushN(spool, 5);
    await new Promise((r) => setTimeout(r, 20));
    expect(spool.ready).toBe(1); // nobody waits: the interval holds
    expect(await spool.persisted()).toBe(true); // somebody waits: no interval (the test would time out)
    expect(spool.ready).toBe(6);
    expect(spool.stats().commits).toBe(2);
  });

  it('shares one commit between persisted() callers and resolves at once when nothing is pending', async () => {
    const { spool } = spoolAt();
    expect(await spool.persisted()).toBe(true);
    pushN(spool, 10);
    const a = spool.persisted();
    const b = spool.persisted();
    expect(a).toBe(b);
    expect(await Promise.all([a, b])).toEqual([true, true]);
    expect(spool.stats().commits).toBe(1);
  });

  it('answers persisted() while pushes go on without pause, storing at most sync.maxEvents events per value', async () => {
    const { spool } = spoolAt({ sync: { maxEvents: 500 } });
    let answered = false;
    pushN(spool, 2000);
    const p = spool.persisted().then((ok) => {
      answered = ok;
    });
    for (let i = 0; i < 200 && !answered; i++) {
      pushN(spool, 1000);
      await new Promise((r) => setImmediate(r));
    }
    await p;
    expect(answered).toBe(true);
    expect(spool.tail).toBeGreaterThan(2000);
    await spool.persisted();
    const total = spool.tail;
    expect(spool.stats().commits).toBeGreaterThanOrEqual(Math.floor(total / 65_536)); // at most 65 536 events a commit
    await spool.close();
    open.splice(open.indexOf(spool), 1);
    const env = openLmdb({ path: dir, maxDbs: 4, readOnly: true });
    const events = env.openDB<string, number>({ name: 'events', encoding: 'string' });
    let stored = 0;
    for (const key of events.getKeys({})) {
      const count = readCount(events.getBinaryFast(key)!);
      expect(count).toBeGreaterThan(0);
      expect(count).toBeLessThanOrEqual(500);
      stored += count;
    }
    await env.close();
    expect(stored).toBe(total);
  });

  it('resolves persisted() for events clear() dropped before their commit', async () => {
    const { spool } = spoolAt({ sync: { intervalMs: 60_000 } });
    pushN(spool, 1);
    await spool.persisted(); // so that the next commit waits for the interval
    pushN(spool, 5);
    const p = spool.persisted();
    expect(spool.clear()).toBe(6);
    expect(await p).toBe(true);
    expect([spool.size, spool.ready, spool.head, spool.tail]).toEqual([0, 0, 6, 6]);
    const again = await reopen(spool);
    expect(again.recovered).toBe(0);
    expect(again.spool.tail).toBe(6);
  });

  it('recovers after a clean close everything not released, in key order, with the same sequence numbers', async () => {
    const { spool } = spoolAt({ sync: { maxEvents: 7 } });
    pushN(spool, 50);
    await spool.persisted();
    const batches = [take(spool, 10), take(spool, 10), take(spool, 10)];
    // Released out of order: the middle batch first, then the last; the first is still "in flight".
    spool.release(batches[1]![0]!.key, batches[1]![9]!.key + 1);
    spool.release(batches[2]![0]!.key, batches[2]![9]!.key + 1);
    const { spool: again, recovered } = await reopen(spool, { sync: { maxEvents: 7 } });
    expect(recovered).toBe(30); // 0-9 (taken, not released) and 30-49
    expect(again.size).toBe(30);
    expect(again.ready).toBe(30);
    expect(again.tail).toBe(50);
    const keys = take(again).map((t) => {
      expect(t.event.k).toBe(t.key);
      return t.key;
    });
    expect(keys).toEqual([...range(0, 10), ...range(30, 50)]);
    pushN(again, 1);
    await again.persisted();
    expect(take(again).map((t) => t.key)).toEqual([50]);
  });

  it('forgets released events for good: a released range never comes back, even when released in pieces', async () => {
    const { spool } = spoolAt({ sync: { maxEvents: 16 } });
    pushN(spool, 64);
    await spool.persisted();
    const all = take(spool);
    for (const [from, to] of [
      [40, 64],
      [0, 5],
      [20, 40],
      [5, 20],
    ] as const) {
      spool.release(from, to);
    }
    pushN(spool, 1);
    await spool.persisted();
    expect(all.length).toBe(64);
    const { recovered, spool: again } = await reopen(spool);
    expect(recovered).toBe(1);
    expect(take(again).map((t) => t.key)).toEqual([64]);
    expect(again.stats().bytes).toBeLessThan(200); // the released groups are deleted, not just marked
  });

  it('serves an outage backlog larger than memoryEvents from disk, in order, and catches up to memory', async () => {
    const { spool } = spoolAt({ memoryEvents: 100, sync: { maxEvents: 64 } });
    for (let i = 0; i < 10; i++) {
      pushN(spool, 200, 'x'.repeat(i * 10));
      await spool.persisted();
    }
    expect(spool.ready).toBe(2000);
    expect(spool.stats().events).toBe(2000);
    let expected = 0;
    let arrived = false;
    for (;;) {
      const batch = take(spool, 150);
      if (batch.length === 0) break;
      for (const t of batch) expect(t.event.k).toBe(expected++);
      spool.release(batch[0]!.key, batch.at(-1)!.key + 1);
      if (expected >= 1000 && !arrived) {
        arrived = true;
        pushN(spool, 10); // arrives while the backlog is read back
        await spool.persisted();
      }
    }
    expect(expected).toBe(2010);
    await spool.persisted();
    expect(spool.stats().events).toBe(0);
  });

  it('drops the newest events with reason spool_full when full under drop-newest, and keeps the oldest', async () => {
    const { spool, listener } = spoolAt({ maxBytes: 64 * 1024, overflow: 'drop-newest', sync: { maxEvents: 50 } });
    const pad = 'p'.repeat(1000);
    let pushed = 0;
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 50; i++, pushed++) spool.push({ k: spool.tail, pad });
      await spool.persisted();
    }
    const dropped = listener.count('spool_full');
    expect(dropped).toBeGreaterThan(0);
    expect(spool.stats().dropped.spool_full).toBe(dropped);
    expect(spool.stats().bytes).toBeLessThanOrEqual(64 * 1024 + 8 * 1024);
    const kept = take(spool);
    expect(kept.length + dropped).toBe(pushed);
    // The oldest survived: sequence numbers start at 0 and run without a gap.
    expect(kept.map((t) => t.key)).toEqual(range(0, kept.length));
  });

  it('drops the oldest waiting events with reason spool_full when full under drop-oldest, and keeps the newest', async () => {
    const { spool, listener } = spoolAt({ maxBytes: 64 * 1024, overflow: 'drop-oldest', sync: { maxEvents: 50 }, memoryEvents: 50 });
    const pad = 'p'.repeat(1000);
    let pushed = 0;
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 50; i++, pushed++) spool.push({ k: spool.tail, pad });
      await spool.persisted();
    }
    const dropped = listener.count('spool_full');
    expect(dropped).toBeGreaterThan(0);
    await spool.persisted();
    expect(spool.stats().bytes).toBeLessThanOrEqual(64 * 1024 + 8 * 1024);
    const kept = take(spool);
    expect(kept.length + dropped).toBe(pushed);
    // The newest survived: the last event pushed is there, and what is kept has no gap.
    expect(kept.at(-1)!.key).toBe(pushed - 1);
    expect(kept.map((t) => t.key)).toEqual(range(pushed - kept.length, pushed));
    for (const t of kept) expect(t.event.k).toBe(t.key);
    // What was dropped is gone from disk too.
    const { spool: again, recovered } = await reopen(spool);
    expect(recovered).toBe(kept.length);
    expect(take(again).map((t) => t.key)).toEqual(kept.map((t) => t.key));
  });

  it('counts pushes beyond maxPendingEvents as queue_full while the disk is behind', async () => {
    const { spool, listener } = spoolAt({ maxPendingEvents: 10, sync: { intervalMs: 60_000, maxEvents: 1000 } });
    pushN(spool, 1);
    await spool.persisted();
    pushN(spool, 15);
    expect(listener.count('queue_full')).toBe(5);
    expect(spool.size).toBe(11);
    expect(spool.tail).toBe(11); // dropped pushes get no sequence number
  });

  it('keeps an event JSON cannot encode in memory, and drops it counted as unserializable when read back from disk', async () => {
    const { spool } = spoolAt();
    spool.push({ k: 0 });
    spool.push({ k: 1, big: 1n });
    spool.push({ k: 2 });
    await spool.persisted();
    expect(take(spool).map((t) => t.event.k)).toEqual([0, 1, 2]); // from memory: the processor deals with it
    const { spool: again, listener, recovered } = await reopen(spool);
    expect(recovered).toBe(3);
    expect(take(again).map((t) => t.key)).toEqual([0, 2]);
    expect(listener.count('unserializable')).toBe(1);
    expect(again.size).toBe(0);
  });

  it('takes hostile events without throwing (a cycle, a BigInt, a getter or toJSON that throws, a revoked proxy) and drops only those, counted, when read back; lone surrogates come back as they were', async () => {
    const { spool } = spoolAt();
    const cycle: Record<string, unknown> = { name: 'c', k: 1 };
    cycle.self = cycle;
    const { proxy, revoke } = Proxy.revocable({ name: 'p', k: 4 }, {});
    revoke();
    const surrogates = 'a\ud800b\udc00c\udbff';
    const hostile: unknown[] = [
      { name: 'e', k: 0 },
      cycle,
      { name: 'b', k: 2, big: 1n },
      { name: 'g', k: 3, get boom(): never { throw new Error('getter'); } },
      proxy,
      { name: 't', k: 5, toJSON: (): never => { throw new Error('toJSON'); } },
      { name: 's', k: 6, pad: surrogates },
    ];
    for (const event of hostile) expect(() => spool.push(event as Ev)).not.toThrow();
    expect(await spool.persisted()).toBe(true);
    // close() twice at once is one close; persisted() after it answers at once.
    const closing = spool.close();
    expect(spool.close()).toBe(closing);
    await closing;
    open.splice(open.indexOf(spool), 1);
    expect(await spool.persisted()).toBe(true);
    const { spool: again, listener, recovered } = spoolAt();
    expect(recovered).toBe(7);
    expect(take(again).map((t) => [t.key, t.event.pad])).toEqual([
      [0, undefined],
      [6, surrogates],
    ]);
    expect(listener.count('unserializable')).toBe(5);
    expect(again.size).toBe(0);
  });

  it('encodes as the processor does: an event whose toJSON makes it no object gets no JSON to reuse, and is dropped as unserializable when read back', async () => {
    const { spool } = spoolAt();
    spool.push({ k: 0 });
    spool.push({ k: 1, toJSON: () => 'text' } as Ev);
    spool.push({ k: 2 });
    await spool.persisted();
    const texts: (string | undefined)[] = [];
    for (let i = 0; i < 3; i++) {
      texts.push(spool.peekEncoded());
      spool.shift();
    }
    expect(texts).toEqual(['{"k":0}', undefined, '{"k":2}']); // the processor encodes it itself, and drops it
    const { spool: again, listener, recovered } = await reopen(spool);
    expect(recovered).toBe(3);
    expect(take(again).map((t) => t.key)).toEqual([0, 2]);
    expect(listener.count('unserializable')).toBe(1);
  });

  it('keeps sequence numbers growing across restarts even when everything was released', async () => {
    const { spool } = spoolAt();
    pushN(spool, 5);
    await spool.persisted();
    const t = take(spool);
    spool.release(t[0]!.key, t.at(-1)!.key + 1);
    const { spool: again, recovered } = await reopen(spool);
    expect(recovered).toBe(0);
    expect([again.head, again.tail]).toEqual([5, 5]);
  });

  it('reports its figures: events, bytes, commits and a commit-latency histogram', async () => {
    const { spool } = spoolAt();
    pushN(spool, 100, 'abc');
    await spool.persisted();
    const s = spool.stats();
    expect(s.events).toBe(100);
    expect(s.bytes).toBeGreaterThan(100 * 10);
    expect(s.commits).toBe(1);
    expect(s.commitSeconds.count).toBe(1);
    expect(s.commitSeconds.buckets.at(-1)).toEqual({ le: Infinity, count: 1 });
    expect(s.uncommitted).toBe(0);
    expect(spool.capacity).toBe(Math.floor(s.maxBytes / (s.bytes / 100)));
  });

  it('refuses a second spool on the same directory in one process', () => {
    spoolAt();
    expect(() => new Spool({ path: dir, logger: new RecordingLogger() })).toThrow(/already open/);
  });

  it('names the bad option in the error', () => {
    expect(() => new Spool({ path: dir, maxBytes: -1 })).toThrow(/spool\.maxBytes/);
    expect(() => new Spool({ path: dir, sync: { intervalMs: 1.5 } })).toThrow(/spool\.sync\.intervalMs/);
    expect(() => new Spool({ path: dir, sync: { maxEvents: 0 } })).toThrow(/spool\.sync\.maxEvents/);
    expect(() => new Spool({ path: dir, overflow: 'drop-all' as never })).toThrow(/spool\.overflow/);
    expect(() => new Spool({ path: '' })).toThrow(/spool\.path/);
  });

  it('drops pushes after close as closed, and keeps what was pending, all groups of it, for the next start', async () => {
    const { spool, listener } = spoolAt({ sync: { intervalMs: 60_000, maxEvents: 10 } });
    pushN(spool, 1);
    await spool.persisted();
    pushN(spool, 54); // pending: several groups, the last one not full
    await spool.close();
    open.splice(open.indexOf(spool), 1);
    spool.push({ k: 99 });
    expect(listener.count('closed')).toBe(1);
    const { recovered, spool: again } = spoolAt();
    expect(recovered).toBe(55);
    expect(take(again).map((t) => t.key)).toEqual(range(0, 55));
  });
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from }, (_, i) => from + i);
}
