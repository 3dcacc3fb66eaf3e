import { isIP } from 'node:net';
import * as z from 'zod';
import { BATCH_OPTIONS, type BatchProcessorOptions, type NumericOption, OVERFLOW_POLICIES, RETRY_OPTIONS, checkNumber } from '../options.js';

const integer = (min: number, max?: number) => {
  const rule = max === undefined ? `must be an integer >= ${min}` : `must be an integer from ${min} to ${max}`;
  const message = (issue: { input?: unknown }) => (issue.input === undefined ? 'is required' : rule);
  const base = z.number({ error: message }).int({ error: message }).min(min, { error: message });
  return max === undefined ? base : base.max(max, { error: message });
};

const HOST_RULE = 'must be an IP address or a host name (letters, digits, "-" and "_" in dot-separated labels), without spaces, port or scheme';
/** A DNS host name (RFC 1123 labels; "_" allowed, as container service names have it). */
const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/;

/**
 * An interface to listen on: an IP address (an IPv6 one may be written in brackets, `[::1]`, and is
 * taken without them) or a host name. Anything else (a space or line break from an env variable, a
 * port, a scheme) would fail only when listening, with the value in the error: refused by path.
 */
export const listenHostSchema = z
  .string({ error: HOST_RULE })
  .transform((value) => (/^\[[^\]]*\]$/.test(value) && isIP(value.slice(1, -1)) === 6 ? value.slice(1, -1) : value))
  .refine((value) => isIP(value) !== 0 || HOST_NAME.test(value), { error: HOST_RULE });

/** A processor option from its table entry (options.ts): the same bounds and wording as the processor's own check. */
const option = (spec: NumericOption) =>
  z.custom<number>((value) => typeof value === 'number' && checkNumber(spec, value) === undefined, {
    error: (issue) => (issue.input === undefined ? 'is required' : (checkNumber(spec, issue.input) ?? 'is invalid')),
  });

function options<T extends Record<string, NumericOption>>(table: T): { [K in keyof T]: ReturnType<typeof option> } {
  const shape = {} as Record<string, ReturnType<typeof option>>;
  for (const [key, spec] of Object.entries(table)) shape[key] = option(spec).describe(`${spec.doc} Default ${spec.default}.`);
  return shape as { [K in keyof T]: ReturnType<typeof option> };
}

const NAME_RULE = 'must be a name of 1 to 100 letters, digits, "_", ".", ":" or "-", starting with a letter, digit or "_"';
const name = z
  .string({ error: (issue) => (issue.input === undefined ? 'is required' : NAME_RULE) })
  .regex(/^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,99}$/, { error: NAME_RULE });

/** A pipeline's `batch` section: queue and batching settings of each of its exporters' processors (bounds and defaults: `BATCH_OPTIONS`). */
export const batchSchema = z
  .strictObject({
    ...options(BATCH_OPTIONS),
    /** What a full queue drops. Default "drop-oldest". */
    overflow: z.enum(OVERFLOW_POLICIES),
  })
  .partial();

/** A pipeline's `retry` section (bounds and defaults: `RETRY_OPTIONS`). */
export const retrySchema = z.strictObject(options(RETRY_OPTIONS)).partial();

/**
 * One exporter entry: `type` picks the factory, `name` labels it (default: the type); every other key
 * is the exporter's own option, passed to its factory, which validates it.
 */
export const exporterSchema = z.looseObject({
  type: z.string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a string') }).min(1, { error: 'must not be empty' }),
  name: name.optional(),
});

/** One pipeline: every recorded event goes to each of its exporters, each through its own processor. */
export const pipelineSchema = z.strictObject({
  /** Labels logs and metrics. Default "default". Unique among pipelines. */
  name: name.default('default'),
  batch: batchSchema.optional(),
  retry: retrySchema.optional(),
  /** Attach the active OpenTelemetry span's traceId and spanId to events. Default false. */
  traceContext: z.boolean().optional(),
  /**
   * Keep the pipeline's queues on disk (one spool per exporter): its keys (`path`, `maxBytes`, `sync`,
   * ...) belong to the queue factory bound under `TOKENS.QueueFactory` (`@trackpipe/spool/di`), which
   * validates them. Default: queues in memory.
   */
  spool: z.looseObject({}).optional(),
  /** At least one. Names unique within the pipeline. */
  exporters: z.array(exporterSchema).min(1, { error: 'must list at least one exporter' }),
});

/** The `metrics` section: self-metrics and the optional `/metrics` endpoint. */
export const metricsSchema = z.strictObject({
  /** Register Trackpipe's self-metrics in the registry. Default true. */
  enabled: z.boolean().default(true),
  /** Interface the metrics server listens on. Default "127.0.0.1". */
  host: listenHostSchema.default('127.0.0.1'),
  /** When set, serve the registry over HTTP on this port (0: any free port). Default: no server. */
  port: integer(0, 65_535).optional(),
  /** Path of the metrics endpoint. Default "/metrics". */
  path: z.string().startsWith('/', { error: 'must start with "/"' }).default('/metrics'),
  /** Add prom-client's default process metrics to the registry. Default false. */
  defaultMetrics: z.boolean().default(false),
  /** Use prom-client's global registry instead of a fresh one. Default false. */
  global: z.boolean().default(false),
});

/** The whole configuration. One schema gives both validation and the TypeScript types. */
export const configSchema = z
  .strictObject({
    pipelines: z.array(pipelineSchema).min(1, { error: 'must list at least one pipeline' }),
    metrics: metricsSchema.prefault({}),
  })
  .superRefine((config, ctx) => {
    const pipelines = new Set<string>();
    config.pipelines.forEach((pipeline, i) => {
      if (pipelines.has(pipeline.name)) {
        ctx.addIssue({ code: 'custom', path: ['pipelines', i, 'name'], message: 'duplicate pipeline name (each pipeline needs its own)' });
      }
      pipelines.add(pipeline.name);
      const exporters = new Set<string>();
      pipeline.exporters.forEach((exporter, j) => {
        const exporterName = exporter.name ?? exporter.type;
        if (exporters.has(exporterName)) {
          ctx.addIssue({
            code: 'custom',
            path: ['pipelines', i, 'exporters', j, exporter.name === undefined ? 'type' : 'name'],
            message: 'duplicate exporter name in this pipeline (give each exporter a distinct "name")',
          });
        }
        exporters.add(exporterName);
      });
    });
  });

/** A validated configuration, defaults applied. */
export type TrackpipeConfig = z.output<typeof configSchema>;
/** A configuration as written (what `parseConfig` and `createCollector` accept). */
export type TrackpipeConfigInput = z.input<typeof configSchema>;
/** One validated pipeline. */
export type PipelineConfig = z.output<typeof pipelineSchema>;
/** One validated exporter entry (its own options included). */
export type ExporterConfig = z.output<typeof exporterSchema>;
/** The validated `metrics` section. */
export type MetricsConfig = z.output<typeof metricsSchema>;

/** The name an exporter entry is known by: its `name`, or its `type`. */
export function exporterName(exporter: ExporterConfig): string {
  return exporter.name ?? exporter.type;
}

/** An exporter entry's own options: everything but `type` and `name`. */
export function exporterOptions(exporter: ExporterConfig): Record<string, unknown> {
  const { type: _type, name: _name, ...options } = exporter;
  return options;
}

/** Maps a pipeline's settings onto {@link BatchProcessorOptions} (unset settings keep the processor's defaults). */
export function toProcessorOptions(pipeline: PipelineConfig): BatchProcessorOptions {
  const options: BatchProcessorOptions = { name: pipeline.name, ...pipeline.batch };
  if (pipeline.retry !== undefined) options.retry = { ...pipeline.retry };
  if (pipeline.traceContext !== undefined) options.traceContext = pipeline.traceContext;
  return options;
}
