// One spool per directory in a process: two would export everything twice. The directory is what
// counts, not how the path names it (a symbolic link, a linked parent, `..`, a trailing slash).
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { TrackpipeError } from '@trackpipe/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Spool } from '../src/index.js';
import { RecordingLogger, openSpool, take, tempDir } from './helpers.js';

let root: string;
let cleanup: () => void;
beforeEach(() => ({ dir: root, cleanup } = tempDir()));
afterEach(() => cleanup());

function refused(path: string): TrackpipeError {
  try {
    new Spool({ path, logger: new RecordingLogger() });
  } catch (error) {
    if (error instanceof TrackpipeError) return error;
    throw error;
  }
  throw new Error(`a second spool opened ${path}`);
}

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
      const error = refused(alias);
      expect(error.code).toBe('TRACKPIPE_ERR_OPTIONS_INVALID');
      expect(error.message).toContain('is already open in this process');
    }
    await first.spool.close();
    const again = openSpool({ path: join(root, 'link', 'spool') });
    expect(again.recovered).toBe(1);
    expect(take(again.spool).map((t) => t.event.k)).toEqual([0]);
    expect(refused(dir).message).toContain('is already open in this process');
    await again.spool.close();
  });
});
