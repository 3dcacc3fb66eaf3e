import type { Logger } from '@trackpipe/core';

/** One auth-failure line per this many milliseconds at most. */
export const AUTH_LOG_INTERVAL_MS = 30_000;

/**
 * Reports refused credentials (HTTP 401/403) at error level, loudly but rate-limited: the first
 * failure at once, then at most one line per {@link AUTH_LOG_INTERVAL_MS} with the number of failures
 * since the previous line. The line names the exporter, the endpoint's origin and the status — never
 * a header value.
 */
export class AuthFailureLog {
  readonly #logger: Logger;
  readonly #exporter: string;
  readonly #where: string;
  readonly #retrying: boolean;
  #lastAt = Number.NEGATIVE_INFINITY;
  #unreported = 0;

  constructor(logger: Logger, exporter: string, where: string, retrying: boolean) {
    this.#logger = logger;
    this.#exporter = exporter;
    this.#where = where;
    this.#retrying = retrying;
  }

  /** Counts one refused request; logs when the last line is old enough. */
  failed(status: number, now: number = Date.now()): void {
    this.#unreported++;
    if (now - this.#lastAt < AUTH_LOG_INTERVAL_MS) return;
    const count = this.#unreported;
    const since = Number.isFinite(this.#lastAt) ? `${count} refused requests since the last report` : 'first refused request';
    const then = this.#retrying
      ? 'the batches are retried within the retry budget: fix or rotate the credentials (headers) before it runs out'
      : 'the batches are dropped (retryAuthFailures: false)';
    this.#logger.error(`exporter ${this.#exporter}: ${this.#where} refused the credentials (HTTP ${status}; ${since}); ${then}`, {
      exporter: this.#exporter,
      status,
      failures: count,
    });
    this.#lastAt = now;
    this.#unreported = 0;
  }
}
