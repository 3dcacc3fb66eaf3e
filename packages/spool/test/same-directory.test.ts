// One spool per directory in a process: two would export everything twice. The directory is what
// counts, not how the path names it (a symbolic link, a linked parent, `..`, a trailing slash). Two
// processes on one directory: the second is refused at open (owner.test.ts); where the owner files do
// not hold (a network filesystem, files removed by hand), their commits would write their events under
// the same keys: the one that finds the other's commit stops writing.
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { open as openLmdb } from 'lmdb';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runFixture } from './child.js';
import { openRefusal, openSpool, pushN, take, tempDir } from './helpers.js';

let root: string;
let cleanup: () => void;
beforeEach(() => ({ dir: root, cleanup } = tempDir()));
afterEach(() => cleanup());

describe('a second spool on an open spool\'s directory, named another way', () => {
  it('is refused through a link to the directory, a linked parent, ".." and a trailing slash; the link opens it once the first is closed', async () => {
    const real = join(root, 'real');
    mkdirSync(real);
    symlinkSync(real, join(root, 'link'));
    symlinkSync(root, join(root, 'root-link'));
    const dir = join(real, 'spool');
    const first = openSpool({ path: dir });
    first.spool.push({ name: 'e', k: 0 });
    expect(await first.spool.persisted()).toBe(true);
    for (const alias of [join(root, 'link', 'spool'), join(root, 'root-link', 'real', 'spool'), join(real, '..', 'real', 'spool'), `${dir}/`]) {
      const error = openRefusal(alias);
      expect(error.code).toBe('TRACKPIPE_ERR_OPTIONS_INVALID');
      expect(error.message).toContain('is already open in this process');
    }
    await first.spool.close();
    const again = openSpool({ path: join(root, 'link', 'spool') });
    expect(again.recovered).toBe(1);
    expect(take(again.spool).map((t) => t.event.k)).toEqual([0]);
    expect(openRefusal(dir).message).toContain('is already open in this process');
    await again.spool.close();
  });
});

describe('two processes on one spool directory whose owner files do not hold', () => {
  it('takes a state written before the writer was recorded (an earlier version, a process killed) for its own at the first commit', async () => {
    const dir = join(root, 'spool');
    const first = openSpool({ path: dir });
    pushN(first.spool, 3);
    expect(await first.spool.persisted()).toBe(true);
    await first.spool.close();
    // The state as earlier versions wrote it: no writer.
    const env = openLmdb({ path: dir, maxDbs: 4 });
    const meta = env.openDB<{ next: number; released: unknown[]; writer?: string }, string>({ name: 'meta', encoding: 'json' });
    const { writer, ...earlier } = meta.get('state')!;
    expect(typeof writer).toBe('string');
    meta.putSync('state', earlier);
    await env.close();
    const { spool, logger } = openSpool({ path: dir });
    try {
      pushN(spool, 2);
      expect(await spool.persisted()).toBe(true);
      expect(logger.errors()).toEqual([]);
      expect(take(spool).map((t) => t.event.k)).toEqual([0, 1, 2, 3, 4]);
    } finally {
      await spool.close();
    }
  });


  it('never overwrite each other\'s acknowledged events: the spool that finds another process\'s commit stops writing, says so naming the directory, and answers persisted() false', async () => {
    const dir = join(root, 'spool');
    const { spool, logger } = openSpool({ path: dir });
    for (let i = 0; i < 5; i++) spool.push({ name: 'first', k: spool.tail });
    expect(await spool.persisted()).toBe(true);
    // A second process removes the owner files, opens the same directory, commits 5 events of its own (keys 5..9) and ends.
    const second = runFixture('second-writer-child.ts', [dir, '5', 'second']);
    expect((await second.exited).code, second.stderr()).toBe(0);
    expect(second.lines).toEqual(['persisted true 5 10']);
    // This spool's next events would get the same keys: it must not write them over the second's.
    for (let i = 0; i < 5; i++) spool.push({ name: 'first', k: spool.tail });
    expect(await spool.persisted()).toBe(false);
    expect(logger.errors().join('\n')).toContain(`spool ${dir}: another process has written to this spool`);
    pushN(spool, 1);
    expect(await spool.persisted()).toBe(false); // it stays stopped
    await spool.close();
    expect(logger.errors().join('\n')).toMatch(/6 events could not be written before close and are lost/);
    const again = openSpool({ path: dir });
    try {
      expect(take(again.spool).map((t) => `${t.key} ${t.event.name}`)).toEqual([
        ...[0, 1, 2, 3, 4].map((k) => `${k} first`),
        ...[5, 6, 7, 8, 9].map((k) => `${k} second`),
      ]);
    } finally {
      await again.spool.close();
    }
  });
});
