// Options that cannot work fail at construction, naming the option, before anything is opened: the
// directory stays free for a corrected attempt.
import { TrackpipeError } from '@trackpipe/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Spool, type SpoolOptions } from '../src/index.js';
import { RecordingLogger, openSpool, take, tempDir } from './helpers.js';

let dir: string;
let cleanup: () => void;
beforeEach(() => ({ dir, cleanup } = tempDir()));
afterEach(() => cleanup());

function optionError(options: SpoolOptions): TrackpipeError {
  try {
    new Spool(options);
  } catch (error) {
    if (error instanceof TrackpipeError) return error;
    throw error;
  }
  throw new Error('no error was thrown');
}

describe('spool options that cannot work', () => {
  it.each<[string, Partial<SpoolOptions>, string]>([
    ['maxPendingEvents 2^32 (no ring can hold it)', { maxPendingEvents: 2 ** 32 }, 'spool.maxPendingEvents'],
    ['maxPendingEvents above 1e9', { maxPendingEvents: 1_000_000_001 }, 'spool.maxPendingEvents'],
    ['a logger that is a number', { logger: 5 as never }, 'spool.logger'],
    ['a logger without error()', { logger: { warn: () => undefined } as never }, 'spool.logger'],
    ['an onCommit that is no function', { onCommit: 'metrics' as never }, 'spool.onCommit'],
  ])('refuses %s with TRACKPIPE_ERR_OPTIONS_INVALID naming it', (_what, options, field) => {
    const error = optionError({ path: dir, ...options });
    expect(error.code).toBe('TRACKPIPE_ERR_OPTIONS_INVALID');
    expect(error.message).toContain(field);
    expect(error.details.field).toBe(field);
  });

  it('leaves the directory free after a refused option: the corrected spool opens it and keeps its events', async () => {
    const first = openSpool({ path: dir });
    first.spool.push({ name: 'e', k: 0 });
    expect(await first.spool.persisted()).toBe(true);
    await first.spool.close();
    expect(() => new Spool({ path: dir, maxPendingEvents: 2 ** 32, logger: new RecordingLogger() })).toThrow(TrackpipeError);
    const next = openSpool({ path: dir, maxPendingEvents: 1_000_000_000 });
    expect(next.recovered).toBe(1);
    expect(take(next.spool).map((t) => t.event)).toEqual([{ name: 'e', k: 0 }]);
    await next.spool.close();
  });
});
