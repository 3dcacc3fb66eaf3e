import { afterEach, beforeEach, vi } from 'vitest';
import {
  type Collector,
  type CollectorStats,
  DROP_REASONS,
  type FlagEvaluationEvent,
  type FlagEvaluationSummaryEvent,
  type FlushReport,
  type Logger,
  SummarizingCollector,
  type SummarizingOptions,
  type TelemetryEvent,
  flagEvaluation,
  isFlagEvaluationSummary,
} from '@trackpipe/core';

// Test helpers of the summaries tests: an inner collector that keeps what it is given (the far side
// of the Collector contract, which we own), a logger that keeps its lines, and key/identity helpers.

/** The fake clock's start in the summaries tests. */
export const T0 = 1_700_000_000_000;

/**
 * For a test file: fake timers from T0 around each test, and a factory of summarizers (with a
 * {@link KeptLogger}) that are closed after each test.
 */
export function summarizersOnFakeTime(): (inner: Collector<TelemetryEvent>, options?: SummarizingOptions) => SummarizingCollector {
  let open: SummarizingCollector[] = [];
  beforeEach(() => {
    vi.useFakeTimers({ now: T0 });
  });
  afterEach(async () => {
    for (const s of open) await s.close();
    open = [];
    vi.useRealTimers();
  });
  return (inner, options = {}) => {
    const s = new SummarizingCollector(inner, { logger: new KeptLogger(), ...options });
    open.push(s);
    return s;
  };
}

/** A flag evaluation of `flagKey` (value true, variant on, reason STATIC, provider test), with `fields` over it. */
export function evaluation(flagKey: string, fields: Partial<FlagEvaluationEvent> = {}): FlagEvaluationEvent {
  return flagEvaluation({ flagKey, value: true, variant: 'on', reason: 'STATIC', provider: 'test', ...fields });
}

const EMPTY_REPORT: FlushReport = { complete: true, exported: 0, dropped: 0, droppedByReason: {}, remaining: 0 };

/** Keeps every event recorded into it, in order; can be told to throw from record(). Counts flush/close calls. */
export class InnerCollector implements Collector<TelemetryEvent> {
  readonly events: TelemetryEvent[] = [];
  /** What happened, in order: `record`, `flush`, `close`. */
  readonly calls: string[] = [];
  throwOnRecord: Error | undefined;
  room = 1_000;
  durable = true;

  record(event: TelemetryEvent): void {
    this.calls.push('record');
    if (this.throwOnRecord) throw this.throwOnRecord;
    this.events.push(event);
  }
  flush(): Promise<FlushReport> {
    this.calls.push('flush');
    return Promise.resolve({ ...EMPTY_REPORT, exported: this.events.length });
  }
  close(): Promise<FlushReport> {
    this.calls.push('close');
    return Promise.resolve({ ...EMPTY_REPORT, exported: this.events.length });
  }
  headroom(fill?: number): number {
    return fill === undefined ? this.room : Math.floor(this.room * fill);
  }
  persisted(): Promise<boolean> {
    return Promise.resolve(this.durable);
  }
  stats(): CollectorStats {
    const droppedByReason = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as CollectorStats['droppedByReason'];
    return {
      recorded: this.events.length,
      recovered: 0,
      exported: this.events.length,
      dropped: 0,
      droppedByReason,
      queued: 0,
      inFlight: 0,
      batchesInFlight: 0,
      queueCapacity: 10_000,
      retries: 0,
      failedExports: { retryable: 0, permanent: 0, timeout: 0, auth: 0 },
      lastError: undefined,
      lastExportAt: undefined,
    };
  }
  /** The summaries recorded so far. */
  summaries(): FlagEvaluationSummaryEvent[] {
    return this.events.filter((e): e is FlagEvaluationSummaryEvent => isFlagEvaluationSummary(e));
  }
}

/** A logger that keeps its lines. */
export class KeptLogger implements Logger {
  readonly warnings: { message: string; fields: Record<string, unknown> | undefined }[] = [];
  readonly errors: { message: string; fields: Record<string, unknown> | undefined }[] = [];
  warn(message: string, fields?: Record<string, unknown>): void {
    this.warnings.push({ message, fields });
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.errors.push({ message, fields });
  }
}

/** The accounting identity of a collector's stats. */
export function identityOf(stats: CollectorStats): { recorded: number; accounted: number } {
  return { recorded: stats.recorded, accounted: stats.exported + stats.dropped + stats.queued + stats.inFlight };
}

/** Sum of the counts of `summaries`, per flag key. */
export function countsByFlag(summaries: readonly FlagEvaluationSummaryEvent[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of summaries) {
    const key = s.attributes['feature_flag.key'];
    out[key] = (out[key] ?? 0) + s.attributes['trackpipe.summary.count'];
  }
  return out;
}
