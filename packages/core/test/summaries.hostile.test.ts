import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type Collector,
  type FlagEvaluationEvent,
  SummarizingCollector,
  type SummarizingOptions,
  type TelemetryEvent,
  flagEvaluation,
} from '@trackpipe/core';
import { InnerCollector, KeptLogger, countsByFlag, identityOf } from './summaries-fixtures.js';

// Hostile callers of a SummarizingCollector: user code (getters, toString, window listeners, the inner
// collector) that re-enters it — records, flushes, closes — at every point where it runs.

const T0 = 1_700_000_000_000;

let open: SummarizingCollector[] = [];
function summarizer(inner: Collector<TelemetryEvent>, options: SummarizingOptions = {}): SummarizingCollector {
  const s = new SummarizingCollector(inner, { logger: new KeptLogger(), ...options });
  open.push(s);
  return s;
}

function evaluation(flagKey: string, fields: Partial<FlagEvaluationEvent> = {}): FlagEvaluationEvent {
  return flagEvaluation({ flagKey, value: true, variant: 'on', reason: 'STATIC', provider: 'test', ...fields });
}

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});
afterEach(async () => {
  for (const s of open) await s.close();
  open = [];
  vi.useRealTimers();
});

describe('re-entry while the last window closes', () => {
  it('drops (closed) what a window listener records during close(): nothing stays queued forever', async () => {
    const inner = new InnerCollector();
    const s = summarizer(inner);
    s.onWindow(() => s.record(evaluation('late')));
    s.record(evaluation('f'));
    await s.close();
    const stats = s.stats();
    expect(countsByFlag(inner.summaries())).toEqual({ f: 1 });
    expect(stats).toMatchObject({ recorded: 2, exported: 1, queued: 0, dropped: 1, droppedByReason: { closed: 1 } });
    expect(identityOf(stats).accounted).toBe(stats.recorded);
    expect(await s.persisted()).toBe(true);
  });

  it('drops (closed) what the inner collector records back into the summarizer during close()', async () => {
    const inner = new InnerCollector();
    const s = summarizer(inner);
    const record = inner.record.bind(inner);
    let echoes = 0;
    inner.record = (event) => {
      record(event);
      if (echoes++ < 5) s.record(evaluation('echo')); // bounded: the test must end on a broken summarizer too
    };
    s.record(evaluation('f'));
    s.record(evaluation('g'));
    await s.close();
    expect(countsByFlag(inner.summaries())).toEqual({ f: 1, g: 1 });
    expect(s.stats()).toMatchObject({ recorded: 4, exported: 2, queued: 0, droppedByReason: { closed: 2 } });
    expect(echoes).toBe(2);
  });
});
