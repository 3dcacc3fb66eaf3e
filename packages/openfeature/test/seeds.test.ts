// The sampled mode's seed: the same seed picks the same evaluations, and seeds that differ only
// beyond 32 bits (the generator's state) pick other ones.
import type { HookContext } from '@openfeature/server-sdk';
import { silentLogger } from '@trackpipe/core';
import { TrackpipeHook } from '@trackpipe/openfeature';
import { describe, expect, it } from 'vitest';
import { RecordingCollector } from './support/fakes.js';

const hookContext = { flagKey: 'flag', defaultValue: false, flagValueType: 'boolean', context: {}, clientMetadata: {}, providerMetadata: { name: 'test' } } as unknown as HookContext;

describe('seeds beyond 32 bits', () => {
  it('picks other evaluations for seeds that share their low 32 bits (-1 and 4294967295, 1 and 2^32 + 1)', () => {
    const picks = (seed: number): number[] => {
      const collector = new RecordingCollector();
      const hook = new TrackpipeHook(collector, { mode: { summaries: true, sample: 0.5, seed }, logger: silentLogger });
      for (let i = 0; i < 64; i++) hook.finally(hookContext, { flagKey: `f-${i}`, flagMetadata: {}, value: true });
      return collector.events.map((e) => Number(e.flagKey.slice(2)));
    };
    expect(picks(-1)).not.toEqual(picks(4_294_967_295));
    expect(picks(1)).not.toEqual(picks(4_294_967_297));
    expect(picks(7)).toEqual(picks(7));
  });
});
