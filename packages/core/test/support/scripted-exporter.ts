import type { ExportBatch, ExportResult, Exporter, Recorded, TelemetryEvent } from '@trackpipe/core';
import { ExportResults } from '@trackpipe/core';

type Event = Recorded<TelemetryEvent>;

/**
 * One scripted answer: an ExportResult, `throw`, `hang` (until the AbortSignal fires), `hold`
 * (until the test calls `release()`), or a function of the batch.
 */
export type Step =
  | ExportResult
  | 'throw'
  | 'hang'
  | 'hold'
  | ((batch: ExportBatch<Event>) => ExportResult | Promise<ExportResult>);

/** The far side of our own Exporter contract, scripted by the test. */
export class ScriptedExporter implements Exporter<Event> {
  readonly name = 'scripted';
  /** Answers for the next calls, first out first; when empty, `fallback` answers. */
  readonly script: Step[] = [];
  fallback: Step = ExportResults.ok();
  /** Every event the destination accepted, in arrival order (with duplicates when retried). */
  readonly delivered: Event[] = [];
  /** Every call: batch size and the time (Date.now()) it was made. */
  readonly calls: { size: number; at: number; ids: string[] }[] = [];
  readonly #held: (() => void)[] = [];
  shutdownCalls = 0;

  constructor(...steps: Step[]) {
    this.script.push(...steps);
  }

  async export(batch: ExportBatch<Event>, signal: AbortSignal): Promise<ExportResult> {
    this.calls.push({ size: batch.events.length, at: Date.now(), ids: batch.events.map((e) => e.id) });
    const step = this.script.length > 0 ? this.script.shift()! : this.fallback;
    let result: ExportResult;
    if (step === 'throw') throw new Error('exporter exploded');
    if (step === 'hang') {
      return new Promise((resolve) => signal.addEventListener('abort', () => resolve(ExportResults.retry())));
    }
    if (step === 'hold') {
      await new Promise<void>((resolve) => this.#held.push(resolve));
      result = ExportResults.ok();
    } else if (typeof step === 'function') {
      result = await step(batch);
    } else {
      result = step;
    }
    if (result.code === 'ok') this.delivered.push(...batch.events);
    // A partial success is a delivery only when its indexes make sense; a malformed answer delivers nothing.
    const { indexes } = result as { indexes?: unknown };
    const n = batch.events.length;
    if (result.code === 'reject' && Array.isArray(indexes) && indexes.every((i) => Number.isInteger(i) && i >= 0 && i < n)) {
      const rejected = new Set(indexes as number[]);
      batch.events.forEach((e, i) => rejected.has(i) || this.delivered.push(e));
    }
    return result;
  }

  /** Lets every held export finish (ok). */
  release(): void {
    for (const resolve of this.#held.splice(0)) resolve();
  }

  get heldCount(): number {
    return this.#held.length;
  }

  async shutdown(): Promise<void> {
    this.shutdownCalls++;
  }
}

/** `n` events named `e<i>`, with an `i` attribute. */
export function events(n: number, from = 0): TelemetryEvent[] {
  return Array.from({ length: n }, (_, k) => ({ name: `e${from + k}`, attributes: { i: from + k } }));
}

/** Asserts the accounting identity and returns the stats. */
export function identityHolds(stats: {
  recorded: number;
  exported: number;
  dropped: number;
  queued: number;
  inFlight: number;
}): boolean {
  return stats.recorded === stats.exported + stats.dropped + stats.queued + stats.inFlight;
}
