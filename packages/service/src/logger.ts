import { type Logger, isSecretName } from '@trackpipe/core';

/** Log levels, least to most severe. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** The service's logger: core's `Logger` (warn, error) plus `info` and `debug`. */
export interface ServiceLogger extends Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
}

/** Options of {@link jsonLogger}. */
export interface JsonLoggerOptions {
  /** Least severe level written. Default `"info"`. */
  level?: LogLevel;
  /**
   * Where each line goes (without its newline added). Default: `process.stdout`, newline-terminated;
   * once stdout fails (its reader went away: EPIPE), lines are dropped, never thrown.
   */
  write?: (line: string) => void;
  /** Fields added to every line, e.g. `{ service: "trackpipe" }`. Default none. */
  base?: Record<string, unknown>;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** All log levels, least severe first. */
export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

function fieldValue(key: string, value: unknown): unknown {
  if (isSecretName(key)) return '[redacted]';
  if (value instanceof Error) return value.message;
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/** Set once stdout failed: its later lines are dropped. */
let stdoutBroken = false;
let stdoutWatched = false;

/**
 * Writes a line to stdout. A write that fails (the reader of a pipe went away: EPIPE) is reported
 * as an 'error' event on process.stdout, which, unheard, would be an uncaught exception that kills
 * the service and the events in its queues; it is heard here, and later lines are dropped.
 */
function writeStdout(line: string): void {
  if (!stdoutWatched) {
    stdoutWatched = true;
    process.stdout.on('error', () => {
      stdoutBroken = true;
    });
  }
  if (!stdoutBroken) process.stdout.write(`${line}\n`);
}

/**
 * A structured logger: one JSON object per line, `{"time","level","msg",...fields}`. Field names that
 * look like secrets (authorization, apiKey, token, password, secret, cookie) are written as
 * `[redacted]`; the service itself never passes request bodies or keys.
 */
export function jsonLogger(options: JsonLoggerOptions = {}): ServiceLogger {
  const min = RANK[options.level ?? 'info'];
  const write = options.write ?? writeStdout;
  const base = options.base ?? {};
  const log = (level: LogLevel, message: string, fields?: Record<string, unknown>): void => {
    if (RANK[level] < min) return;
    const entry: Record<string, unknown> = { time: new Date().toISOString(), level, msg: message };
    for (const [key, value] of Object.entries(base)) entry[key] = fieldValue(key, value);
    if (fields) {
      for (const [key, value] of Object.entries(fields)) {
        if (key !== 'time' && key !== 'level' && key !== 'msg') entry[key] = fieldValue(key, value);
      }
    }
    let line: string;
    try {
      line = JSON.stringify(entry);
    } catch {
      line = JSON.stringify({ time: entry.time, level, msg: message, fieldsError: 'fields could not be serialized' });
    }
    try {
      write(line);
    } catch {
      // A broken log sink must not break the service.
    }
  };
  return {
    debug: (message, fields) => log('debug', message, fields),
    info: (message, fields) => log('info', message, fields),
    warn: (message, fields) => log('warn', message, fields),
    error: (message, fields) => log('error', message, fields),
  };
}

/** A logger that writes nothing. */
export const silentServiceLogger: ServiceLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
