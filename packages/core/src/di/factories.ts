import * as z from 'zod';
import type { Exporter } from '../contracts.js';
import type { Recorded, TelemetryEvent } from '../events.js';
import { type ExportFunction, FunctionExporter } from '../exporters/function.js';
import { NdjsonExporter } from '../exporters/ndjson.js';
import type { ExporterContext, ExporterFactory } from './tokens.js';

type AnyEvent = Recorded<TelemetryEvent>;

/** Export functions by name, for the `function` exporter type. */
export type ExportFunctions = Readonly<Record<string, ExportFunction<AnyEvent>>>;

const consoleOptions = z.strictObject({
  /** Which standard stream gets the lines. Default "stdout". */
  stream: z.enum(['stdout', 'stderr']).default('stdout'),
});

/** `type: console` — NDJSON lines on stdout (or stderr with `stream: stderr`). */
export const consoleExporterFactory: ExporterFactory<z.output<typeof consoleOptions>> = {
  type: 'console',
  options: consoleOptions,
  create({ stream }, context): Exporter<AnyEvent> {
    return new NdjsonExporter<AnyEvent>({ destination: stream, name: context.name });
  },
};

const fileOptions = z.strictObject({
  /** File the lines are appended to (created if missing; relative to the working directory). Required. */
  path: z.string().min(1),
});

/** `type: file` — NDJSON lines appended to `path`. */
export const fileExporterFactory: ExporterFactory<z.output<typeof fileOptions>> = {
  type: 'file',
  options: fileOptions,
  create({ path }, context): Exporter<AnyEvent> {
    return new NdjsonExporter<AnyEvent>({ destination: { path }, name: context.name });
  },
};

/** `type: function` — a FunctionExporter around `functions[ref]`. */
export function functionExporterFactory(functions: ExportFunctions) {
  const known = Object.keys(functions).filter((k) => typeof functions[k] === 'function');
  const options = z.strictObject({
    /** Name of the function in the `functions` map given to createCollector. Required. */
    ref: z
      .string()
      .min(1)
      .refine((ref) => known.includes(ref), {
        error: `no such function (known: ${known.length > 0 ? known.join(', ') : 'none; pass { functions } to createCollector'})`,
      }),
  });
  const factory: ExporterFactory<z.output<typeof options>> = {
    type: 'function',
    options,
    create({ ref }, context: ExporterContext): Exporter<AnyEvent> {
      return new FunctionExporter<AnyEvent>(functions[ref]!, { name: context.name });
    },
  };
  return factory;
}
