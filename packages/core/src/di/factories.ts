import * as z from 'zod';
import { configError, parseExporterOptions } from '../config/issues.js';
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
export const consoleExporterFactory: ExporterFactory = {
  type: 'console',
  create(options, context): Exporter<AnyEvent> {
    const { stream } = parseExporterOptions(consoleOptions, options, context);
    return new NdjsonExporter<AnyEvent>({ destination: stream, name: context.name ?? 'console' });
  },
};

const fileOptions = z.strictObject({
  /** File the lines are appended to (created if missing; relative to the working directory). Required. */
  path: z.string().min(1),
});

/** `type: file` — NDJSON lines appended to `path`. */
export const fileExporterFactory: ExporterFactory = {
  type: 'file',
  create(options, context): Exporter<AnyEvent> {
    const { path } = parseExporterOptions(fileOptions, options, context);
    return new NdjsonExporter<AnyEvent>({ destination: { path }, name: context.name ?? 'file' });
  },
};

const functionOptions = z.strictObject({
  /** Name of the function in the `functions` map given to createCollector. Required. */
  ref: z.string().min(1),
});

/** `type: function` — a FunctionExporter around `functions[ref]`. */
export function functionExporterFactory(functions: ExportFunctions): ExporterFactory {
  return {
    type: 'function',
    create(options, context: ExporterContext): Exporter<AnyEvent> {
      const { ref } = parseExporterOptions(functionOptions, options, context);
      const fn = Object.hasOwn(functions, ref) ? functions[ref] : undefined;
      if (typeof fn !== 'function') {
        const known = Object.keys(functions).filter((k) => typeof functions[k] === 'function');
        throw configError([
          {
            path: `${context.path}.ref`,
            message: `no such function (known: ${known.length > 0 ? known.join(', ') : 'none; pass { functions } to createCollector'})`,
          },
        ]);
      }
      return new FunctionExporter<AnyEvent>(fn, { name: context.name ?? 'function' });
    },
  };
}
