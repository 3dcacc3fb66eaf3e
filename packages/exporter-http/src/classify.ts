/**
 * Pure classification of HTTP outcomes, kept apart from the transport so that it can be tested as a
 * table (like OpenTelemetry's `is-export-retryable.ts`). The exporter only classifies; the
 * BatchProcessor decides what to do (retry with backoff, halve, drop).
 */

/** What an HTTP status means for the batch that got it. */
export type StatusClass = 'ok' | 'retry' | 'too_large' | 'auth' | 'reject';

/**
 * Classifies an HTTP status: 2xx → `ok`; 408, 429 and 5xx → `retry`; 413 → `too_large`; 401 and 403
 * → `auth` (the credentials were refused: retried or rejected as the exporter is configured);
 * everything else (1xx left over, 3xx — redirects are not followed — and the other 4xx) → `reject`.
 */
export function classifyStatus(status: number): StatusClass {
  if (status >= 200 && status < 300) return 'ok';
  if (status === 408 || status === 429 || (status >= 500 && status < 600)) return 'retry';
  if (status === 413) return 'too_large';
  if (status === 401 || status === 403) return 'auth';
  return 'reject';
}

/**
 * Network error codes worth another try: the peer or the path to it may come back. Anything else
 * (TLS certificate problems, invalid headers, unknown errors) is not retried.
 */
export const RETRYABLE_NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET', // also "socket hang up": the peer closed the connection before answering
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENETRESET',
  'UND_ERR_SOCKET',
]);

/** True when `error` is a network failure worth retrying (by its `code`, never its name or message). */
export function isRetryableNetworkError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && RETRYABLE_NETWORK_CODES.has(code);
}

const DELAY_SECONDS = /^\s*(\d+)\s*$/;
const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const MONTH = '(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const TIME = '\\d{2}:\\d{2}:\\d{2}';
/** `Sun, 06 Nov 1994 08:49:37 GMT` (IMF-fixdate), `Sunday, 06-Nov-94 08:49:37 GMT` (RFC 850), `Sun Nov  6 08:49:37 1994` (asctime). */
const ASCTIME = new RegExp(`^\\s*${DAY} ${MONTH} [ \\d]\\d ${TIME} \\d{4}\\s*$`);
const HTTP_DATE: readonly RegExp[] = [
  new RegExp(`^\\s*${DAY}, \\d{2} ${MONTH} \\d{4} ${TIME} GMT\\s*$`),
  new RegExp(`^\\s*(?:Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day, \\d{2}-${MONTH}-\\d{2} ${TIME} GMT\\s*$`),
  ASCTIME,
];

/**
 * Reads a `Retry-After` header: delay-seconds (`"120"`) or an HTTP date
 * (`"Wed, 21 Oct 2015 07:28:00 GMT"`). Answers milliseconds from `now` (0 for a date in the past),
 * or `undefined` when the header is absent or unreadable.
 */
export function parseRetryAfter(value: string | readonly string[] | undefined, now: number): number | undefined {
  const text = Array.isArray(value) ? (value as readonly string[])[0] : (value as string | undefined);
  if (text === undefined || text.trim() === '') return undefined;
  const seconds = DELAY_SECONDS.exec(text);
  if (seconds !== null) {
    const ms = Number(seconds[1]) * 1000;
    return Number.isFinite(ms) ? ms : undefined;
  }
  // Only the three forms of an HTTP date (RFC 9110 5.6.7): Date.parse alone reads almost anything
  // ("x 2030" is a date four years ahead, "a 5" one in 2001), and a bare number with a sign or decimals is no delay.
  const form = HTTP_DATE.find((pattern) => pattern.test(text));
  if (form === undefined) return undefined;
  const at = Date.parse(form === ASCTIME ? `${text.trim()} GMT` : text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}
