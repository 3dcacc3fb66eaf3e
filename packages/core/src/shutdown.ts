import type { Collector, Logger } from './contracts.js';
import { describeError } from './errors.js';
import { consoleLogger } from './logger.js';
import { callerTimeout } from './options.js';
import { within } from './within.js';

/**
 * With `timeoutMs`, how much longer than it a close() is waited for (a spool's close whose commits
 * fail takes about 2 s more) before the process is let go without it.
 */
const CLOSE_GRACE_MS = 10_000;
const HUNG = Symbol('hung');

/** Options of {@link closeOnSignals}. */
export interface CloseOnSignalsOptions {
  /** Signals to handle. Default `["SIGTERM", "SIGINT"]`. */
  signals?: readonly NodeJS.Signals[];
  /**
   * Deadline passed to each collector's `close()`, in ms. Default: each collector's own. When given,
   * a `close()` still pending 10 s after it is no longer waited for (logged), so that one that never
   * settles does not keep the process from exiting.
   */
  timeoutMs?: number;
  /** Where the outcome is logged. Default: the console. */
  logger?: Logger;
}

/** Anything with a Collector's `close()`: a collector, or an app that closes its collectors. */
export type Closeable = Pick<Collector<never>, 'close'>;

/**
 * Opt-in: on SIGTERM/SIGINT, closes the given collectors (or anything {@link Closeable}), then lets the process exit. When no other
 * listener for the signal remains, the signal is raised again so the process ends as it would have
 * (exit status 128 + signal number); otherwise exiting is left to the other listeners.
 * Returns a function that removes the handlers.
 */
export function closeOnSignals(collectors: readonly Closeable[], options: CloseOnSignalsOptions = {}): () => void {
  const signals = options.signals ?? ['SIGTERM', 'SIGINT'];
  const logger = options.logger ?? consoleLogger;
  let closing: Promise<void> | undefined;
  const remove = (): void => {
    for (const signal of signals) process.removeListener(signal, handler);
  };
  function handler(signal: NodeJS.Signals): void {
    closing ??= (async () => {
      const close = options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs };
      // Each close() in a promise of its own: one that throws synchronously, or answers no report,
      // must not keep the others from closing nor the process from exiting.
      const deadline = callerTimeout(options.timeoutMs); // NaN or no number: none given
      const limit = deadline === undefined ? Number.POSITIVE_INFINITY : deadline + CLOSE_GRACE_MS;
      const reports = await Promise.allSettled(collectors.map((c) => within(Promise.resolve().then(() => c.close(close)), limit, HUNG)));
      let lost = 0;
      for (const r of reports) {
        if (r.status === 'rejected') say(logger, 'error', `close() failed on ${signal}: ${describeError(r.reason)}`);
        else if (r.value === HUNG) {
          say(logger, 'error', `close() did not return on ${signal} within ${limit} ms (its deadline of ${deadline} ms and ${CLOSE_GRACE_MS} ms more); stopped waiting for it`);
        } else lost += droppedOf(r.value);
      }
      if (lost > 0) say(logger, 'warn', `closed ${collectors.length} collector(s) on ${signal}; ${lost} events dropped while closing`);
      remove();
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    })();
  }
  for (const signal of signals) process.on(signal, handler);
  return remove;
}

/** The events a close() report says were dropped; 0 when it answered something that is not a report. */
function droppedOf(report: unknown): number {
  try {
    const dropped = (report as { dropped?: unknown } | null | undefined)?.dropped;
    return typeof dropped === 'number' && Number.isFinite(dropped) ? dropped : 0;
  } catch {
    return 0;
  }
}

/** Logs without letting a logger that throws keep the process from exiting. */
function say(logger: Logger, level: 'warn' | 'error', message: string): void {
  try {
    logger[level](message);
  } catch {
    // A failing logger must not keep the process alive.
  }
}
