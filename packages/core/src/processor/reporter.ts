import type { ErrorHandler, ExportObservation, ExportObserver, Logger } from '../contracts.js';
import { type ErrorCode, TrackpipeError, describeError } from '../errors.js';
import { excerpt, redact } from '../redact.js';
import type { Ledger } from './ledger.js';

/**
 * Longest message said about an export, in characters. What an exporter threw or answered is quoted
 * in it, and may be anything: a response body, a stack, megabytes.
 */
const MAX_MESSAGE = 1_000;

/**
 * A message about an export as it is said: one line, at most {@link MAX_MESSAGE} characters, and
 * whatever looks like a credential (`Bearer …`, a JWT, `apikey=…`) in what the exporter said hidden.
 */
function said(message: string): string {
  return excerpt(message, [], MAX_MESSAGE);
}

/** How many causes deep the chain of a reported error's cause is kept. */
const MAX_CAUSE_DEPTH = 3;

/**
 * A cause as it is handed on (`TrackpipeError.cause`): a new Error that says what the original said —
 * its name, its message as {@link said}, its `code`, its stack frames and its own cause, as deep as
 * {@link MAX_CAUSE_DEPTH} — with whatever looks like a credential hidden. The original may be
 * anything an exporter threw (quoting a request's headers, a body, a URL with a password); it is
 * never passed on. Never throws (describeError and read() catch what a hostile value throws).
 */
function redactedCause(cause: unknown, depth = 0): Error | undefined {
  if (cause === undefined) return undefined;
  const original = cause instanceof Error ? cause : undefined;
  const inner = depth < MAX_CAUSE_DEPTH ? read(original, 'cause') : undefined;
  const message = said(describeError(cause));
  const copy = new Error(message, inner === undefined ? undefined : { cause: redactedCause(inner, depth + 1) });
  const name = read(original, 'name');
  if (typeof name === 'string' && name !== '') copy.name = said(name);
  const code = read(original, 'code');
  if (typeof code === 'string' || typeof code === 'number') Object.assign(copy, { code: typeof code === 'string' ? said(code) : code });
  const stack = read(original, 'stack');
  const frames = typeof stack === 'string' ? stack.split('\n').filter((line) => /^\s+at /.test(line)) : [];
  copy.stack = redact([`${copy.name}: ${message}`, ...frames].join('\n'));
  return copy;
}

/** A property of a thrown value, or undefined when reading it throws (a getter, a revoked proxy). */
function read(value: object | undefined, key: string): unknown {
  try {
    return value === undefined ? undefined : (value as Record<string, unknown>)[key];
  } catch {
    return undefined;
  }
}

/** How often, at most, auth failures are logged (the rest are counted into the next line). */
const AUTH_LOG_INTERVAL_MS = 30_000;

interface RateLimit {
  at: number;
  suppressed: number;
}

/**
 * What a processor says, and to whom: errors into the ledger (`stats().lastError`), the logger and
 * `onError`; per-export observations to observers (metrics). Nothing here can throw into delivery: a
 * failing logger, handler or observer is ignored. Noisy conditions (invalid events, refused
 * credentials) are logged at most once per interval, with a count of what was held back.
 */
export class Reporter {
  readonly #pipeline: string;
  readonly #exporter: string;
  readonly #ledger: Ledger;
  readonly #logger: Logger;
  readonly #onError: ErrorHandler | undefined;
  readonly #invalidIntervalMs: number;
  readonly #observers: ExportObserver[] = [];
  readonly #invalidLog: RateLimit = { at: Number.NEGATIVE_INFINITY, suppressed: 0 };
  readonly #authLog: RateLimit = { at: Number.NEGATIVE_INFINITY, suppressed: 0 };

  constructor(parts: {
    pipeline: string;
    exporter: string;
    ledger: Ledger;
    logger: Logger;
    onError: ErrorHandler | undefined;
    invalidWarningIntervalMs: number;
  }) {
    this.#pipeline = parts.pipeline;
    this.#exporter = parts.exporter;
    this.#ledger = parts.ledger;
    this.#logger = parts.logger;
    this.#onError = parts.onError;
    this.#invalidIntervalMs = parts.invalidWarningIntervalMs;
  }

  /** Adds an observer called after every export attempt. Returns a remover. */
  observe(observer: ExportObserver): () => void {
    this.#observers.push(observer);
    return () => {
      const i = this.#observers.indexOf(observer);
      if (i >= 0) this.#observers.splice(i, 1);
    };
  }

  /**
   * Tells the observers how an export attempt ended. Called once the attempt is booked (its events
   * exported, dropped or waiting for a retry): an observer may call back into the processor —
   * record, flush, close — and must find the books as they are.
   */
  exported(outcome: ExportObservation['outcome'], events: number, bytes: number, durationMs: number): void {
    if (this.#observers.length === 0) return;
    const observation: ExportObservation = { pipeline: this.#pipeline, exporter: this.#exporter, outcome, events, bytes, durationMs };
    for (const observer of this.#observers) {
      try {
        observer(observation);
      } catch {
        // Observers must not break delivery.
      }
    }
  }

  /** An event `record()` could not admit (already counted as dropped). */
  invalid(problem: string): void {
    const message = `TRACKPIPE_ERR_EVENT_INVALID: pipeline ${this.#pipeline}: dropped an invalid event: ${problem}`;
    this.#ledger.noteError('TRACKPIPE_ERR_EVENT_INVALID', message);
    this.#rateLimited(this.#invalidLog, this.#invalidIntervalMs, 'warn', message);
  }

  /** The destination refused the credentials; the batch is retried. */
  authFailure(error: unknown): void {
    const message = `TRACKPIPE_ERR_EXPORT_AUTH: pipeline ${this.#pipeline}: exporter ${this.#exporter}: the destination refused the credentials (${said(describeError(error ?? 'no reason given'))}); retrying within the retry budget`;
    this.#ledger.noteError('TRACKPIPE_ERR_EXPORT_AUTH', message);
    this.#rateLimited(this.#authLog, AUTH_LOG_INTERVAL_MS, 'error', message);
  }

  /** A transient failure: remembered for `stats().lastError`, not logged (the batch is retried). */
  transient(message: string): void {
    this.#ledger.noteError('TRACKPIPE_ERR_EXPORT_RETRYABLE', `exporter ${this.#exporter}: ${said(message)}`);
  }

  /** Something worth a warning that lost nothing. */
  warn(message: string): void {
    this.#log('warn', `pipeline ${this.#pipeline}: ${message}`);
  }

  /** An error that lost events or needs attention: into `lastError`, the logger and `onError`. */
  error(code: ErrorCode, message: string, cause?: unknown, details: Record<string, unknown> = {}): void {
    const error = new TrackpipeError(code, `pipeline ${this.#pipeline}: ${said(message)}`, {
      cause: redactedCause(cause),
      details: { pipeline: this.#pipeline, exporter: this.#exporter, ...details },
    });
    this.#ledger.noteError(code, error.message);
    this.#log('error', error.message);
    try {
      this.#onError?.(error);
    } catch {
      // A failing handler must not break delivery.
    }
  }

  #rateLimited(state: RateLimit, intervalMs: number, level: 'warn' | 'error', message: string): void {
    // The monotonic clock: a wall clock stepped back would silence these lines for as long.
    const now = performance.now();
    if (now - state.at < intervalMs) {
      state.suppressed++;
      return;
    }
    const more = state.suppressed > 0 ? ` (${state.suppressed} more since the last warning)` : '';
    state.suppressed = 0;
    state.at = now;
    this.#log(level, `${message}${more}`);
  }

  #log(level: 'warn' | 'error', message: string): void {
    try {
      this.#logger[level](message);
    } catch {
      // A failing logger must not break delivery.
    }
  }
}
