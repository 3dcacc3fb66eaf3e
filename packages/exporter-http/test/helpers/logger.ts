import type { Logger } from '@trackpipe/core';

/** One line a {@link CapturingLogger} received. */
export interface LogLine {
  readonly level: 'warn' | 'error';
  readonly message: string;
  readonly fields: Record<string, unknown> | undefined;
}

/** A Logger that keeps every line, for tests that check what is logged (and what never is). */
export interface CapturingLogger extends Logger {
  readonly lines: LogLine[];
  /** Every line, fields included, as one text to search. */
  text(): string;
}

export function capturingLogger(): CapturingLogger {
  const lines: LogLine[] = [];
  return {
    lines,
    warn: (message, fields) => lines.push({ level: 'warn', message, fields }),
    error: (message, fields) => lines.push({ level: 'error', message, fields }),
    text: () => lines.map((l) => `${l.level} ${l.message} ${JSON.stringify(l.fields ?? {})}`).join('\n'),
  };
}
