// inversify 8 loads reflect-metadata's API itself; its docs still ask for this import where decorators
// are declared, so it stays here (and only here).
import 'reflect-metadata';
import { writeFile } from 'node:fs/promises';
import { inject, injectable } from 'inversify';
import { Counter, type Registry } from 'prom-client';
import * as z from 'zod';
import {
  type ExportBatch,
  type ExportResult,
  ExportResults,
  type Exporter,
  type ExporterContext,
  type ExporterFactory,
  type Logger,
  type Recorded,
  TOKENS,
  type TelemetryEvent,
} from '@trackpipe/core';

type Event = Recorded<TelemetryEvent>;

/** The counter every audit exporter adds to, in the registry the container injects. */
export const AUDIT_COUNTER = 'audit_events_written_total';

// Failures the disk or the process may recover from: the processor retries them within its budget.
const TRANSIENT = new Set(['ENOSPC', 'EAGAIN', 'EBUSY', 'EMFILE', 'ENFILE']);

/**
 * Appends one tab-separated line per event to a file: time (ISO 8601), id, name, flag key ("-" for
 * events without one). Counts what it wrote in `written`. A plain class: it classifies failures and
 * leaves retries, batching and accounting to the processor, like every exporter.
 */
class AuditExporter implements Exporter<Event> {
  constructor(
    readonly name: string,
    private readonly path: string,
    private readonly written: Counter<'exporter'>,
  ) {}

  async export(batch: ExportBatch<Event>, signal: AbortSignal): Promise<ExportResult> {
    let text = '';
    for (const event of batch.events) {
      const flagKey = (event as { flagKey?: unknown }).flagKey;
      text += `${new Date(event.timestamp).toISOString()}\t${event.id}\t${event.name}\t${typeof flagKey === 'string' ? flagKey : '-'}\n`;
    }
    try {
      await writeFile(this.path, text, { flag: 'a', signal });
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      return typeof code === 'string' && TRANSIENT.has(code) ? ExportResults.retry({ error }) : ExportResults.reject({ error });
    }
    this.written.inc({ exporter: this.name }, batch.events.length);
    return ExportResults.ok();
  }
}

const auditOptions = z.strictObject({
  /** File the audit lines are appended to (created if missing; relative to the working directory). Required. */
  path: z.string().min(1),
});

/**
 * The `audit` exporter type. The container builds it: each constructor parameter names its token, so
 * no emitted decorator metadata is needed. Core validates every `type: audit` entry with `options`
 * before anything is built, and reports a bad field by its path.
 */
@injectable()
export class AuditExporterFactory implements ExporterFactory<z.output<typeof auditOptions>> {
  readonly type = 'audit';
  readonly options = auditOptions;
  readonly #written: Counter<'exporter'>;
  /** Files already written by an audit exporter of this container, by path: the exporter's name. */
  readonly #paths = new Map<string, string>();

  constructor(
    @inject(TOKENS.Logger) private readonly logger: Logger,
    @inject(TOKENS.MetricsRegistry) registry: Registry,
  ) {
    // One counter per registry: a second container sharing the registry (the global one) reuses it.
    this.#written =
      (registry.getSingleMetric(AUDIT_COUNTER) as Counter<'exporter'> | undefined) ??
      new Counter({ name: AUDIT_COUNTER, help: 'Events appended to an audit log, per exporter.', labelNames: ['exporter'], registers: [registry] });
  }

  create({ path }: z.output<typeof auditOptions>, context: ExporterContext): Exporter<Event> {
    const other = this.#paths.get(path);
    if (other !== undefined) {
      this.logger.warn(`audit exporters "${other}" and "${context.name}" (${context.path}) append to the same file; their lines will interleave`);
    } else {
      this.#paths.set(path, context.name);
    }
    return new AuditExporter(context.name, path, this.#written);
  }
}
