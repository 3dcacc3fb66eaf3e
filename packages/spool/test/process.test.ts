import { describe, expect, it } from 'vitest';
import { runFixture } from './child.js';
import { openSpool, take, tempDir } from './helpers.js';

describe('a spool in a process that does nothing else', () => {
  it('keeps the process alive until persisted() answers, then lets it exit', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const child = runFixture('persist-child.ts', [dir]);
      const { code } = await child.exited;
      expect(code, child.stderr()).toBe(0);
      expect(child.lines).toEqual(['persisted true true']);
      const { spool, recovered } = openSpool({ path: dir });
      expect(recovered).toBe(2);
      expect(take(spool).map((t) => t.event.k)).toEqual([0, 1]);
      await spool.close();
    } finally {
      cleanup();
    }
  });
});
