import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runFixture } from './child.js';

let dir: string | undefined;
afterEach(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('a spool whose disk is full (a file size limit: commits fail with EIO)', () => {
  it('does not end the process, answers persisted() false for every event that cannot be committed (also those behind the failed group, and after a close that lost them)', async () => {
    dir = mkdtempSync(join(tmpdir(), 'trackpipe-spool-full-'));
    const child = runFixture('disk-full-child.ts', [dir], { fileSizeLimitKiB: 2048 });
    const { code, signal } = await child.exited;
    expect({ code, signal }, child.stderr()).toEqual({ code: 0, signal: null });
    const lines = child.lines.filter((l) => !l.startsWith('error '));
    expect(lines[0]).toMatch(/^failed true after \d+ groups$/);
    expect(lines.slice(1, 4)).toEqual(['later false', 'after-close false', 'failures true']);
    // The failure is logged once, naming the spool, and close() says how many events it lost.
    const errors = child.lines.filter((l) => l.startsWith('error '));
    expect(errors.some((l) => l.includes('a group commit failed'))).toBe(true);
    const lost = errors.map((l) => /(\d+) events could not be written before close and are lost/.exec(l)?.[1]).find((n) => n !== undefined);
    expect(Number(lost)).toBeGreaterThanOrEqual(10); // at least the 'later' ones
    // Those it lost are dropped, counted (shutdown_timeout), and the spool no longer counts them as held.
    expect(lines[4]).toMatch(new RegExp(`^dropped \\[\\["shutdown_timeout",${lost}\\]\\] ${lost} size (\\d+) ready \\1 uncommitted 0$`));
    expect(lines).toHaveLength(5);
  }, 60_000);
});
