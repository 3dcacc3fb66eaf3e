import { chmodSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { TrackpipeError } from '@trackpipe/core';
import { open as openLmdb } from 'lmdb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SPOOL_UNAVAILABLE, Spool } from '../src/index.js';
import { runFixture } from './child.js';
import { RecordingLogger, openSpool, pushN, take, tempDir } from './helpers.js';

let root: string;
let cleanup: () => void;
let dir: string;

beforeEach(() => {
  ({ dir: root, cleanup } = tempDir('trackpipe-spool-store-'));
  dir = join(root, 'spool');
});
afterEach(() => cleanup());

/** Writes a spool with `n` events (the secret word in each) and closes it. */
async function writeSpool(n: number): Promise<void> {
  const { spool } = openSpool({ path: dir });
  pushN(spool, n, 'SECRET-PAYLOAD');
  await spool.persisted();
  await spool.close();
}

/** Opens the spool again and checks it came up empty, with its old files moved aside; returns the log line. */
async function expectMovedAside(original: Buffer, reason: RegExp): Promise<string> {
  const logger = new RecordingLogger();
  const { spool, recovered } = openSpool({ path: dir, logger });
  try {
    expect(recovered).toBe(0);
    expect(spool.size).toBe(0);
    const errors = logger.errors();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain(dir);
    expect(errors[0]).toMatch(reason);
    expect(errors[0]).toMatch(/moved to .*and the spool starts empty/);
    expect(JSON.stringify(logger.lines)).not.toContain('SECRET-PAYLOAD');
    const aside = readdirSync(root).filter((f) => f.startsWith(`${basename(dir)}.corrupt-`));
    expect(aside).toHaveLength(1);
    expect(errors[0]).toContain(join(root, aside[0]!));
    expect(readFileSync(join(root, aside[0]!, 'data.mdb')).equals(original)).toBe(true);
    // The new spool works.
    pushN(spool, 3);
    expect(await spool.persisted()).toBe(true);
    expect(take(spool).map((t) => t.event.k)).toEqual([0, 1, 2]);
  } finally {
    await spool.close();
  }
  return logger.errors()[0]!;
}

describe('a spool directory whose name has a dot', () => {
  it.each(['spool.d', 'trackpipe.lmdb', 'tmp.Uj64pEqWdM'])('opens %s as a directory, keeps what was persisted and recovers it after a restart', async (name) => {
    const path = join(root, name);
    const first = openSpool({ path });
    pushN(first.spool, 5);
    expect(await first.spool.persisted()).toBe(true);
    await first.spool.close();
    expect(statSync(path).isDirectory()).toBe(true);
    const logger = new RecordingLogger();
    const again = openSpool({ path, logger });
    try {
      expect(again.recovered).toBe(5);
      expect(logger.errors()).toEqual([]);
      expect(take(again.spool).map((t) => t.event.k)).toEqual([0, 1, 2, 3, 4]);
    } finally {
      await again.spool.close();
    }
  });
});

describe('opening a spool whose files cannot be read', () => {
  it('moves a data file of random bytes aside, logs it, and starts empty', async () => {
    await writeSpool(100);
    const file = join(dir, 'data.mdb');
    writeFileSync(file, randomBytes(statSync(file).size));
    await expectMovedAside(readFileSync(file), /could not be read/);
  });

  it('moves a truncated data file aside instead of crashing on it', async () => {
    await writeSpool(5_000);
    const file = join(dir, 'data.mdb');
    truncateSync(file, Math.floor(statSync(file).size / 2));
    await expectMovedAside(readFileSync(file), /truncated|crashed/);
  });

  it('moves a data file with a garbled header aside instead of crashing on it', async () => {
    await writeSpool(100);
    const file = join(dir, 'data.mdb');
    const bytes = readFileSync(file);
    randomBytes(256).copy(bytes, 0);
    writeFileSync(file, bytes);
    await expectMovedAside(bytes, /could not be read/);
  });

  it('moves a spool of another format version aside', async () => {
    await writeSpool(10);
    const env = openLmdb({ path: dir, maxDbs: 4 });
    env.openDB({ name: 'meta', encoding: 'json' }).putSync('format', 999);
    await env.close();
    await expectMovedAside(readFileSync(join(dir, 'data.mdb')), /format 999/);
  });

  it('moves an LMDB environment that is not a spool aside', async () => {
    mkdirSync(dir);
    const env = openLmdb({ path: dir, maxDbs: 4 });
    env.openDB({ name: 'users', encoding: 'json' }).putSync('u1', { name: 'someone' });
    await env.close();
    await expectMovedAside(readFileSync(join(dir, 'data.mdb')), /not a spool/);
  });

  it('drops the events of a stored group that no longer decodes, counted and logged, and keeps the rest', async () => {
    await writeSpool(3); // one group: 0..2
    const env = openLmdb({ path: dir, maxDbs: 4 });
    env.openDB<string, number>({ name: 'events', encoding: 'string' }).putSync(3, '2\n[{"k":3,"pad":"SECRET-PAYLOAD"} garbage]');
    await env.close();
    const { spool, recovered, listener, logger } = openSpool({ path: dir });
    try {
      expect(recovered).toBe(5);
      expect(take(spool).map((t) => t.key)).toEqual([0, 1, 2]);
      expect(listener.count('unserializable')).toBe(2);
      expect(spool.size).toBe(0);
      expect(logger.errors().join('\n')).toMatch(/2 stored events were dropped: the group at 3 cannot be decoded/);
      expect(JSON.stringify(logger.lines)).not.toContain('SECRET-PAYLOAD');
    } finally {
      await spool.close();
    }
  });
});

describe('a stored group whose header is damaged, between sound ones', () => {
  /** Writes three groups (0..2, 3..5, 6..8), then rewrites the value of the middle one (or the last) with `damage`. */
  async function damageGroup(key: number, damage: (value: string) => string): Promise<void> {
    const { spool } = openSpool({ path: dir, sync: { maxEvents: 3 } });
    pushN(spool, 9, 'SECRET-PAYLOAD');
    expect(await spool.persisted()).toBe(true);
    await spool.close();
    const env = openLmdb({ path: dir, maxDbs: 4 });
    const events = env.openDB<string, number>({ name: 'events', encoding: 'string' });
    expect(Array.from(events.getKeys({}))).toEqual([0, 3, 6]);
    events.putSync(key, damage(events.get(key)!));
    await env.close();
  }
  const body = (value: string): string => value.slice(value.indexOf('\n') + 1);

  it.each<[string, number, (value: string) => string, number[]]>([
    ['a garbled count, its events intact', 3, (v) => `x7\n${body(v)}`, [0, 1, 2, 3, 4, 5, 6, 7, 8]],
    ['a count that runs into the next group, its events intact', 3, (v) => `9\n${body(v)}`, [0, 1, 2, 3, 4, 5, 6, 7, 8]],
    ['no header left and its events garbled', 3, (v) => `garbage ${body(v).slice(5)}`, [0, 1, 2, 6, 7, 8]],
    ['(the last group) a garbled count and its events garbled', 6, (v) => `x\n${body(v).slice(0, -3)}`, [0, 1, 2, 3, 4, 5]],
  ])('with %s loses its own events at most, counted as unserializable and logged; the others come back in order', async (_what, key, damage, expected) => {
    await damageGroup(key, damage);
    const { spool, recovered, listener, logger } = openSpool({ path: dir });
    try {
      expect(readdirSync(root).filter((f) => f.includes('corrupt'))).toEqual([]);
      expect(recovered).toBe(9);
      expect(take(spool).map((t) => t.event.k)).toEqual(expected);
      const lost = 9 - expected.length;
      expect(listener.count('unserializable')).toBe(lost);
      expect(spool.size).toBe(0);
      if (lost > 0) expect(logger.errors().join('\n')).toContain(`${lost} stored events were dropped: the group at ${key} cannot be decoded`);
      expect(JSON.stringify(logger.lines)).not.toContain('SECRET-PAYLOAD');
      // Released and pruned with the next commit: the damaged value is gone after a restart.
      spool.release(0, 9);
      pushN(spool, 1);
      expect(await spool.persisted()).toBe(true);
    } finally {
      await spool.close();
    }
    const again = openSpool({ path: dir });
    expect(again.recovered).toBe(1);
    expect(take(again.spool).map((t) => t.key)).toEqual([9]);
    await again.spool.close();
  });
});

describe('a spool whose state record is damaged', () => {
  it.each<[string, unknown]>([
    ['not an object', 'garbage'],
    ['with a next key that is not a number', { next: 'x', released: [] }],
    ['with released ranges that are not pairs', { next: 9, released: [[5, 3], 'x'] }],
  ])('(%s) keeps its events: nothing released counts as released, the events come back in order, and the damage is logged', async (_what, state) => {
    const first = openSpool({ path: dir, sync: { maxEvents: 3 } });
    pushN(first.spool, 9);
    expect(await first.spool.persisted()).toBe(true);
    expect(take(first.spool)).toHaveLength(9);
    first.spool.release(0, 5); // 0..2 deleted, 3..4 released inside a stored group
    await first.spool.close();
    const env = openLmdb({ path: dir, maxDbs: 4 });
    env.openDB({ name: 'meta', encoding: 'json' }).putSync('state', state);
    await env.close();
    const { spool, recovered, logger } = openSpool({ path: dir });
    try {
      expect(readdirSync(root).filter((f) => f.includes('corrupt'))).toEqual([]);
      expect(recovered).toBe(6);
      expect(take(spool).map((t) => t.event.k)).toEqual([3, 4, 5, 6, 7, 8]); // 3 and 4 again: at least once
      expect(spool.tail).toBe(9);
      expect(logger.errors()).toEqual([`spool ${dir}: its state record is damaged; read as if nothing had been released: events exported before may be exported again`]);
      pushN(spool, 1);
      expect(await spool.persisted()).toBe(true);
    } finally {
      await spool.close();
    }
  });
});

describe('a spool directory that cannot be used', () => {
  it('throws a TrackpipeError naming the path when the directory is not writable', async () => {
    mkdirSync(dir, { mode: 0o755 });
    chmodSync(root, 0o755);
    chmodSync(dir, 0o555);
    // root writes anywhere: check as an unprivileged user when the tests run as root.
    const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const child = runFixture('open-child.ts', [join(dir, 'inner')], asNobody);
    const { code } = await child.exited;
    expect(code, child.stderr()).toBe(0);
    const answer = JSON.parse(child.lines.at(-1)!) as { code: string; message: string };
    expect(answer.code).toBe(SPOOL_UNAVAILABLE);
    expect(answer.message).toContain(join(dir, 'inner'));
    expect(answer.message).toMatch(/cannot be created|is not writable/);
    const direct = runFixture('open-child.ts', [dir], asNobody);
    await direct.exited;
    const answer2 = JSON.parse(direct.lines.at(-1)!) as { code: string; message: string };
    expect(answer2.code).toBe(SPOOL_UNAVAILABLE);
    expect(answer2.message).toMatch(new RegExp(`the spool directory ${dir} is not writable \\(EACCES\\)`));
  });

  it.each<[string, (path: string) => void, string]>([
    ['a file', (path) => writeFileSync(path, 'x'), 'is not a directory (EEXIST)'],
    ['a link to a file', (path) => (writeFileSync(join(root, 'target'), 'x'), symlinkSync(join(root, 'target'), path)), 'is a link to what is not a directory (EEXIST)'],
    ['a link that leads nowhere', (path) => symlinkSync(join(root, 'gone'), path), 'is a link that leads nowhere (ENOENT)'],
  ])('throws a TrackpipeError saying what is in its place when the spool path itself is %s', (_what, make, problem) => {
    mkdirSync(root, { recursive: true });
    make(dir);
    let thrown: unknown;
    try {
      new Spool({ path: dir, logger: new RecordingLogger() });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TrackpipeError);
    expect((thrown as TrackpipeError).code).toBe(SPOOL_UNAVAILABLE);
    expect((thrown as TrackpipeError).message).toBe(`${SPOOL_UNAVAILABLE}: spool.path: the spool directory ${dir} ${problem}`);
  });

  it('throws a TrackpipeError naming the path when the path is a file', () => {
    mkdirSync(root, { recursive: true });
    const file = join(root, 'a-file');
    writeFileSync(file, 'x');
    let thrown: unknown;
    try {
      new Spool({ path: join(file, 'spool') });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TrackpipeError);
    expect((thrown as TrackpipeError).code).toBe(SPOOL_UNAVAILABLE);
    expect((thrown as TrackpipeError).message).toContain(join(file, 'spool'));
    expect(dirname(file)).toBe(root);
  });
});
