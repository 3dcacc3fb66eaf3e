// Files in a spool directory that LMDB must never open — a device, a FIFO, a directory, a link to
// nowhere in place of data.mdb or lock.mdb — and a process environment (NODE_OPTIONS) that disturbs
// the child process checking the files. The spool must start (empty, the files moved aside and
// named in the log) instead of crashing, and must never move a sound spool aside. A directory removed
// or replaced while open takes every later commit with it: persisted() must say so.
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RecordingLogger, openSpool, take, tempDir } from './helpers.js';

let root: string;
let cleanup: () => void;
let dir: string;

beforeEach(() => {
  ({ dir: root, cleanup } = tempDir('trackpipe-spool-odd-'));
  dir = join(root, 'spool');
  mkdirSync(dir);
});
afterEach(() => cleanup());

describe('a spool directory holding what is not a regular file in place of an LMDB file', () => {
  it.each<[string, string, () => void, RegExp]>([
    ['data.mdb', 'a link to /dev/zero', () => symlinkSync('/dev/zero', join(dir, 'data.mdb')), /data\.mdb is a device/],
    ['data.mdb', 'a link to /dev/null', () => symlinkSync('/dev/null', join(dir, 'data.mdb')), /data\.mdb is a device/],
    ['data.mdb', 'a FIFO', () => execFileSync('mkfifo', [join(dir, 'data.mdb')]), /data\.mdb is a FIFO/],
    ['data.mdb', 'a directory', () => mkdirSync(join(dir, 'data.mdb')), /data\.mdb is a directory/],
    ['data.mdb', 'a link that leads nowhere', () => symlinkSync(join(root, 'gone'), join(dir, 'data.mdb')), /data\.mdb is a link that leads nowhere/],
    ['lock.mdb', 'a directory', () => mkdirSync(join(dir, 'lock.mdb')), /lock\.mdb is a directory/],
    ['lock.mdb', 'a link to /dev/zero', () => symlinkSync('/dev/zero', join(dir, 'lock.mdb')), /lock\.mdb is a device/],
  ])('starts empty when %s is %s: moved aside, named in the log, and the new spool works', async (file, _what, make, reason) => {
    make();
    const logger = new RecordingLogger();
    const { spool, recovered } = openSpool({ path: dir, logger });
    try {
      expect(recovered).toBe(0);
      const errors = logger.errors();
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(reason);
      expect(errors[0]).toContain(dir);
      const aside = readdirSync(root).filter((f) => f.startsWith(`${basename(dir)}.corrupt-`));
      expect(aside).toHaveLength(1);
      expect(errors[0]).toContain(join(root, aside[0]!));
      expect(() => lstatSync(join(root, aside[0]!, file))).not.toThrow();
      spool.push({ name: 'e', k: 0 });
      expect(await spool.persisted()).toBe(true);
    } finally {
      await spool.close();
    }
    const again = openSpool({ path: dir });
    expect(again.recovered).toBe(1);
    expect(take(again.spool).map((t) => t.event)).toEqual([{ name: 'e', k: 0 }]);
    await again.spool.close();
  });
});

describe('a lock.mdb that is a link to a file outside the spool directory', () => {
  it('is moved aside with the directory, named in the log, and the file it leads to is left as it was', async () => {
    const first = openSpool({ path: dir });
    first.spool.push({ name: 'e', k: 0 });
    expect(await first.spool.persisted()).toBe(true);
    await first.spool.close();
    const notes = join(root, 'notes.txt');
    const text = 'somebody else\'s file\n'.repeat(100);
    writeFileSync(notes, text);
    rmSync(join(dir, 'lock.mdb'));
    symlinkSync(notes, join(dir, 'lock.mdb'));
    const logger = new RecordingLogger();
    const { spool, recovered } = openSpool({ path: dir, logger });
    try {
      expect(recovered).toBe(0);
      expect(logger.errors()).toEqual([expect.stringMatching(/lock\.mdb is a link to a file \(LMDB would rewrite the file it leads to\)/)]);
      spool.push({ name: 'e', k: 1 });
      expect(await spool.persisted()).toBe(true);
    } finally {
      await spool.close();
    }
    expect(readFileSync(notes, 'utf8')).toBe(text);
    const aside = readdirSync(root).filter((f) => f.startsWith(`${basename(dir)}.corrupt-`));
    expect(aside).toHaveLength(1);
    expect(lstatSync(join(root, aside[0]!, 'lock.mdb')).isSymbolicLink()).toBe(true);
    expect(lstatSync(join(root, aside[0]!, 'data.mdb')).size).toBeGreaterThan(0); // the spool moved aside is whole
  });
});

describe('a process whose NODE_OPTIONS disturb the check of the files', () => {
  let saved: string | undefined;
  beforeEach(() => (saved = process.env.NODE_OPTIONS));
  afterEach(() => {
    if (saved === undefined) delete process.env.NODE_OPTIONS;
    else process.env.NODE_OPTIONS = saved;
  });

  it.each([
    ['writes a banner to stdout', 'process.stdout.write("agent 1.2.3 loaded\\n");'],
    ['exits with an error', 'process.exit(3);'],
  ])('keeps a sound spool when a preloaded module %s', async (_what, code) => {
    const first = openSpool({ path: dir });
    first.spool.push({ name: 'e', k: 0 });
    first.spool.push({ name: 'e', k: 1 });
    expect(await first.spool.persisted()).toBe(true);
    await first.spool.close();
    const preload = join(root, 'preload.cjs');
    writeFileSync(preload, code);
    process.env.NODE_OPTIONS = `--require ${preload}`;
    const logger = new RecordingLogger();
    const next = openSpool({ path: dir, logger });
    delete process.env.NODE_OPTIONS;
    try {
      expect(logger.errors()).toEqual([]);
      expect(next.recovered).toBe(2);
      expect(take(next.spool).map((t) => t.event.k)).toEqual([0, 1]);
      expect(readdirSync(root).filter((f) => f.includes('corrupt'))).toEqual([]);
    } finally {
      await next.spool.close();
    }
  });
});

describe('a spool directory removed or replaced while the spool has it open', () => {
  it.each<[string, () => void]>([
    ['removed', () => rmSync(dir, { recursive: true, force: true })],
    ['moved away and created anew', () => (renameSync(dir, join(root, 'elsewhere')), mkdirSync(dir))],
  ])('answers persisted() false once its data file is %s (nothing written to it survives), says so naming the file, and stops writing', async (_what, remove) => {
    const logger = new RecordingLogger();
    const { spool } = openSpool({ path: dir, logger });
    try {
      spool.push({ name: 'e', k: 0 });
      expect(await spool.persisted()).toBe(true);
      remove();
      spool.push({ name: 'e', k: 1 });
      expect(await spool.persisted()).toBe(false);
      expect(logger.errors()).toEqual([expect.stringContaining(`its data file ${join(dir, 'data.mdb')} was removed or replaced while the spool had it open`)]);
      spool.push({ name: 'e', k: 2 });
      expect(await spool.persisted()).toBe(false);
      expect(logger.errors()).toHaveLength(1);
    } finally {
      await spool.close();
    }
  });
});

describe('a spool whose logger throws', () => {
  it('still answers persisted() false once its data file is removed, and no rejection goes unhandled', async () => {
    const escaped: unknown[] = [];
    const onEscaped = (reason: unknown): void => void escaped.push(reason);
    process.on('unhandledRejection', onEscaped);
    const logger = {
      warn: (): void => {
        throw new Error('logger broke');
      },
      error: (): void => {
        throw new Error('logger broke');
      },
    };
    const { spool } = openSpool({ path: dir, logger });
    try {
      spool.push({ name: 'e', k: 0 });
      expect(await spool.persisted()).toBe(true);
      rmSync(dir, { recursive: true, force: true });
      spool.push({ name: 'e', k: 1 });
      const answer = await Promise.race([spool.persisted(), new Promise((resolve) => setTimeout(() => resolve('no answer'), 2_000))]);
      expect(answer).toBe(false);
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(escaped).toEqual([]);
    } finally {
      await spool.close();
      process.off('unhandledRejection', onEscaped);
    }
  });
});
