import {
  ErrorCode,
  type JsonValue,
  type Logger as OpenFeatureLogger,
  type Provider,
  type ResolutionDetails,
} from '@openfeature/server-sdk';
import type { Collector, CollectorStats, FlagEvaluationEvent, FlushReport, Logger } from '@trackpipe/core';
import { DROP_REASONS } from '@trackpipe/core';

const EMPTY_REPORT: FlushReport = { complete: true, exported: 0, dropped: 0, droppedByReason: {}, remaining: 0 };

/** A Collector that keeps what it is given, so tests can read it back. Optionally throws from record(). */
export class RecordingCollector implements Collector<FlagEvaluationEvent> {
  readonly events: FlagEvaluationEvent[] = [];
  /** When set, record() throws this instead of keeping the event. */
  throwOnRecord: Error | undefined;

  record(event: FlagEvaluationEvent): void {
    if (this.throwOnRecord) throw this.throwOnRecord;
    this.events.push(event);
  }

  flush(): Promise<FlushReport> {
    return Promise.resolve(EMPTY_REPORT);
  }

  close(): Promise<FlushReport> {
    return Promise.resolve(EMPTY_REPORT);
  }

  headroom(): number {
    return Number.POSITIVE_INFINITY;
  }

  persisted(): Promise<boolean> {
    return Promise.resolve(false);
  }

  stats(): CollectorStats {
    const droppedByReason = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as CollectorStats['droppedByReason'];
    return {
      recorded: this.events.length,
      recovered: 0,
      exported: 0,
      dropped: 0,
      droppedByReason,
      queued: this.events.length,
      inFlight: 0,
      batchesInFlight: 0,
      queueCapacity: Number.POSITIVE_INFINITY,
      retries: 0,
      failedExports: { retryable: 0, permanent: 0, timeout: 0, auth: 0 },
      lastError: undefined,
      lastExportAt: undefined,
    };
  }
}

/** A Trackpipe logger that keeps its lines. */
export class RecordingLogger implements Logger {
  readonly warnings: { message: string; fields: Record<string, unknown> | undefined }[] = [];
  readonly errors: { message: string; fields: Record<string, unknown> | undefined }[] = [];
  warn(message: string, fields?: Record<string, unknown>): void {
    this.warnings.push({ message, fields });
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.errors.push({ message, fields });
  }
}

/** An OpenFeature logger that keeps error and warn lines (the SDK reports hook failures there). */
export class SdkLogger implements OpenFeatureLogger {
  readonly lines: string[] = [];
  error(...args: unknown[]): void {
    this.lines.push(`error ${args.map(String).join(' ')}`);
  }
  warn(...args: unknown[]): void {
    this.lines.push(`warn ${args.map(String).join(' ')}`);
  }
  info(): void {}
  debug(): void {}
}

/**
 * A provider that answers every flag with an error result (default value, reason ERROR, an error code)
 * instead of throwing, as providers that wrap a remote service often do.
 */
export class ErrorResultProvider implements Provider {
  readonly metadata = { name: 'error-result' } as const;
  readonly runsOn = 'server';

  constructor(private readonly errorCode: ErrorCode = ErrorCode.FLAG_NOT_FOUND) {}

  #answer<T>(flagKey: string, defaultValue: T): Promise<ResolutionDetails<T>> {
    return Promise.resolve({
      value: defaultValue,
      reason: 'ERROR',
      errorCode: this.errorCode,
      errorMessage: `flag ${flagKey} not found`,
    });
  }
  resolveBooleanEvaluation(flagKey: string, defaultValue: boolean): Promise<ResolutionDetails<boolean>> {
    return this.#answer(flagKey, defaultValue);
  }
  resolveStringEvaluation(flagKey: string, defaultValue: string): Promise<ResolutionDetails<string>> {
    return this.#answer(flagKey, defaultValue);
  }
  resolveNumberEvaluation(flagKey: string, defaultValue: number): Promise<ResolutionDetails<number>> {
    return this.#answer(flagKey, defaultValue);
  }
  resolveObjectEvaluation<T extends JsonValue>(flagKey: string, defaultValue: T): Promise<ResolutionDetails<T>> {
    return this.#answer(flagKey, defaultValue);
  }
}

/** A provider whose every resolution rejects with a plain Error (not an OpenFeature error). */
export class ThrowingProvider implements Provider {
  readonly metadata = { name: 'throwing' } as const;
  readonly runsOn = 'server';

  async resolveBooleanEvaluation(): Promise<ResolutionDetails<boolean>> {
    throw new Error('backend unreachable');
  }
  async resolveStringEvaluation(): Promise<ResolutionDetails<string>> {
    throw new Error('backend unreachable');
  }
  async resolveNumberEvaluation(): Promise<ResolutionDetails<number>> {
    throw new Error('backend unreachable');
  }
  async resolveObjectEvaluation<T extends JsonValue>(): Promise<ResolutionDetails<T>> {
    throw new Error('backend unreachable');
  }
}
