import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchProcessor, type EventQueue, type FlagEvaluationEvent, type Recorded, type RetryOptions, silentLogger } from '@trackpipe/core';
import { HttpExporter, type HttpSerializer, otlpEnvelope } from '@trackpipe/exporter-http';
import { Spool } from '@trackpipe/spool';
import { encodeOtlpLogRecordDirect } from './otlp-direct.js';
import { withDeadline } from '../workload.js';
import type { BenchClient, ClientSettings, ShutdownOutcome } from './types.js';

/** Body format and compression of a Trackpipe HTTP client. */
export interface TrackpipeHttpVariant {
  /**
   * `otlp-direct`: the OTLP format through a custom serializer using the experimental direct encoder.
   * `json-batch`: an experiment measuring batch-level serialization: the per-event encoder returns ''
   * (so the processor's byte accounting sees 0 bytes) and the body is one JSON.stringify of the events.
   */
  readonly format: 'json' | 'otlp' | 'otlp-direct' | 'json-batch';
  /** True: the exporter's default (gzip bodies of 1 KiB and more). False: never compress, like the floor. */
  readonly gzip: boolean;
  /** The processor's `maxConcurrentExports`. Default: the processor's default (2). */
  readonly concurrency?: number;
  /** The processor's retry options. Default: the processor's defaults. */
  readonly retry?: RetryOptions;
  /**
   * The processor's queue is a `Spool` (@trackpipe/spool) in a fresh temporary directory, removed at
   * shutdown: `true` with the spool's defaults, or with these options. `queueSize` then does not
   * apply (the spool has its own bounds).
   */
  readonly spool?: boolean | { readonly maxBytes?: number; readonly maxPendingEvents?: number };
}

/**
 * Trackpipe as a user sets it up: core `BatchProcessor` (batch size and queue set for the scenario,
 * every other option at its default) feeding the `HttpExporter`.
 */
export class TrackpipeHttpClient implements BenchClient {
  readonly name: string;
  readonly processor: BatchProcessor<FlagEvaluationEvent>;
  /** The spool's directory, when the variant has one. */
  readonly #spoolDir: string | undefined;

  constructor(name: string, settings: ClientSettings, variant: TrackpipeHttpVariant) {
    this.name = name;
    const { prefix, suffix } = otlpEnvelope({ serviceName: 'trackpipe-bench' });
    const direct: HttpSerializer<Recorded<FlagEvaluationEvent>> = {
      contentType: 'application/json',
      encoder: encodeOtlpLogRecordDirect,
      body: (encoded) => `${prefix}${encoded.join(',')}${suffix}`,
    };
    const batchJson: HttpSerializer<Recorded<FlagEvaluationEvent>> = {
      contentType: 'application/json',
      encoder: () => '',
      body: (_encoded, events) => JSON.stringify(events),
    };
    const format = variant.format === 'otlp-direct' ? direct : variant.format === 'json-batch' ? batchJson : variant.format;
    const exporter = new HttpExporter<Recorded<FlagEvaluationEvent>>({
      url: new URL(variant.format === 'json' || variant.format === 'json-batch' ? '/v1/events' : '/v1/logs', settings.sinkUrl),
      format,
      ...(variant.gzip ? {} : { gzipThresholdBytes: false as const }),
      ...(variant.format === 'otlp' ? { otlp: { serviceName: 'trackpipe-bench' } } : {}),
    });
    const spool = variant.spool === undefined || variant.spool === false ? undefined : variant.spool === true ? {} : variant.spool;
    this.#spoolDir = spool === undefined ? undefined : mkdtempSync(join(tmpdir(), 'trackpipe-bench-spool-'));
    this.processor = new BatchProcessor<FlagEvaluationEvent>(exporter, {
      name: 'bench',
      maxBatchSize: settings.batchSize,
      maxQueueSize: settings.queueSize,
      // The cast: core's option is typed EventQueue<never>, which no queue of real events satisfies (reported to the lead).
      ...(this.#spoolDir === undefined ? {} : { queue: new Spool<Recorded<FlagEvaluationEvent>>({ ...spool, path: this.#spoolDir, logger: silentLogger }) as unknown as EventQueue<never> }),
      ...(variant.concurrency === undefined ? {} : { maxConcurrentExports: variant.concurrency }),
      ...(variant.retry === undefined ? {} : { retry: variant.retry }),
      logger: silentLogger,
    });
  }

  prepare(event: FlagEvaluationEvent): unknown {
    return event;
  }

  record(input: unknown): void {
    this.processor.record(input as FlagEvaluationEvent);
  }

  async shutdown(deadlineMs: number): Promise<ShutdownOutcome> {
    const outcome = await withDeadline(this.processor.close({ timeoutMs: deadlineMs }), deadlineMs + 1_000);
    if (this.#spoolDir !== undefined && outcome.returned) rmSync(this.#spoolDir, { recursive: true, force: true });
    return { ...outcome, reportedDrops: this.processor.stats().dropped };
  }

  reportedDrops(): number {
    return this.processor.stats().dropped;
  }

  backlog(): number {
    return this.processor.stats().queued;
  }
}
