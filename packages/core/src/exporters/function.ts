import type { Encoder, ExportBatch, ExportResult, Exporter } from '../contracts.js';
import { ExportResults } from '../contracts.js';
import { isRetriable } from '../errors.js';
import type { Recorded, TelemetryEvent } from '../events.js';

/**
 * The function a {@link FunctionExporter} wraps. Return nothing (or `ok`) on success, or any
 * ExportResult; a thrown error is retried when it carries `retriable: true`, else rejected.
 */
export type ExportFunction<E> = (
  events: readonly E[],
  context: { readonly signal: AbortSignal; readonly batch: ExportBatch<E> },
) => Promise<ExportResult | undefined | void> | ExportResult | undefined | void;

/** Options of a {@link FunctionExporter}. */
export interface FunctionExporterOptions<E> {
  /** Name in logs and metric labels. Default `"function"`. */
  name?: string;
  /** Per-event serializer used for batching by bytes and in `context.batch.encoded`. Default JSON. */
  encoder?: Encoder<E>;
}

/** Turns any async function that takes a batch into an Exporter: the simplest way to plug in an API. */
export class FunctionExporter<E = Recorded<TelemetryEvent>> implements Exporter<E> {
  readonly name: string;
  readonly encoder: Encoder<E> | undefined;
  readonly #fn: ExportFunction<E>;

  constructor(fn: ExportFunction<E>, options: FunctionExporterOptions<E> = {}) {
    this.#fn = fn;
    this.name = options.name ?? 'function';
    this.encoder = options.encoder;
  }

  async export(batch: ExportBatch<E>, signal: AbortSignal): Promise<ExportResult> {
    try {
      return (await this.#fn(batch.events, { signal, batch })) ?? ExportResults.ok();
    } catch (error) {
      return isRetriable(error) ? ExportResults.retry({ error }) : ExportResults.reject({ error });
    }
  }
}
