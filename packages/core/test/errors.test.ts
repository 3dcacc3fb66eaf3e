import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ErrorCodes, TrackpipeError, isRetriable } from '@trackpipe/core';

describe('error codes', () => {
  const readme = readFileSync(join(import.meta.dirname, '../README.md'), 'utf8');

  it.each(Object.keys(ErrorCodes))('documents %s in the README table', (code) => {
    expect(code).toMatch(/^TRACKPIPE_ERR_[A-Z]+_[A-Z_]+$/);
    expect(readme).toMatch(new RegExp(`^\\| \`${code}\` \\| .+\\|$`, 'm'));
  });

  it('carries code, retriable flag and details; unknown errors are not retriable', () => {
    const e = new TrackpipeError('TRACKPIPE_ERR_EXPORT_TIMEOUT', 'slow', { retriable: true, details: { exporter: 'http' } });
    expect(e).toMatchObject({ code: 'TRACKPIPE_ERR_EXPORT_TIMEOUT', retriable: true, details: { exporter: 'http' } });
    expect(e.message).toBe('TRACKPIPE_ERR_EXPORT_TIMEOUT: slow');
    expect([isRetriable(e), isRetriable(new Error('x')), isRetriable({ retriable: 'yes' })]).toEqual([true, false, false]);
  });
});
