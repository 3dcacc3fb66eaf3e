// A key the hook does not know is refused, naming it: a misspelt option would otherwise be ignored
// and its default used (a misspelt targetingKey: 'hash' would record the key in clear).
import { TrackpipeError } from '@trackpipe/core';
import { TrackpipeHook, type TrackpipeHookOptions } from '@trackpipe/openfeature';
import { describe, expect, it } from 'vitest';
import { RecordingCollector } from './support/fakes.js';

describe('options a hook does not know', () => {
  function thrown(options: unknown): TrackpipeError {
    try {
      new TrackpipeHook(new RecordingCollector(), options as TrackpipeHookOptions);
    } catch (error) {
      if (error instanceof TrackpipeError) return error;
      throw error;
    }
    throw new Error('expected a TrackpipeError, nothing was thrown');
  }

  it.each<[string, unknown, string]>([
    ['a misspelt targetingKey (the key would be recorded in clear)', { targetingkey: 'hash' }, 'targetingkey'],
    ['sampleRate for sampleRatio', { sampleRate: 0.1 }, 'sampleRate'],
    ['a singular hashAttribute', { hashAttribute: ['email'] }, 'hashAttribute'],
    ['an unknown key in the sampled mode', { mode: { summaries: true, sample: 0.1, seeed: 7 } }, 'mode.seeed'],
  ])('refuses %s, naming it, with TRACKPIPE_ERR_OPTIONS_INVALID', (_what, options, option) => {
    const error = thrown(options);
    expect(error.code).toBe('TRACKPIPE_ERR_OPTIONS_INVALID');
    expect(error.details.option).toBe(option);
    expect(error.message).toContain(`${option} is not an option`);
  });

  it('never echoes a value in the error, only the name', () => {
    const error = thrown({ hashsalt: 'very-secret-salt' });
    expect(error.message).not.toContain('very-secret-salt');
  });
});
