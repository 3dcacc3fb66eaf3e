import type { IncomingHttpHeaders } from 'node:http';
import { type ExportResult, ExportResults, TrackpipeError, excerpt } from '@trackpipe/core';
import { classifyStatus, isRetryableNetworkError, parseRetryAfter } from './classify.js';

/**
 * Pure mapping of what the transport saw (an HTTP answer, a network error) to the ExportResult the
 * processor acts on, with an error that names the endpoint by its origin only and carries a redacted
 * excerpt of the answer. No I/O, no state: tested as a table.
 */

/** What mapping an outcome needs to know. */
export interface ResultContext {
  /** What the errors say was called, e.g. `POST https://collector:4318`: never a path, credentials or query. */
  readonly where: string;
  /** Strings to hide in excerpts (configured header values, URL credentials and path parts; see core's `secretsOf`). */
  readonly secrets: readonly string[];
  /** The body was OTLP: a 2xx may carry a partial success. */
  readonly otlp: boolean;
  /** 401 and 403 answer `retry` (true) or `reject` (false), marked `auth` either way. */
  readonly retryAuthFailures: boolean;
  /** Now, epoch ms, to read a Retry-After date. */
  readonly now: number;
  /** Events in the batch sent: an OTLP partial success counts at most these as rejected. */
  readonly events: number;
}

/** Maps an HTTP answer (status, headers, the first bytes of its body as text) to an ExportResult. */
export function responseResult(status: number, headers: IncomingHttpHeaders, body: string, context: ResultContext): ExportResult {
  const kind = classifyStatus(status);
  if (kind === 'ok') return context.otlp ? partialSuccess(body, context) : ExportResults.ok();
  const text = excerpt(body, context.secrets);
  const message = `${context.where} answered HTTP ${status}${text === '' ? '' : `: ${text}`}`;
  switch (kind) {
    case 'retry': {
      const error = new TrackpipeError('TRACKPIPE_ERR_EXPORT_RETRYABLE', message, { retriable: true, details: { status } });
      const retryAfterMs = retryHint(headers, context.now);
      return ExportResults.retry(retryAfterMs === undefined ? { error } : { retryAfterMs, error });
    }
    case 'auth': {
      const refused = `${message} (the credentials were refused)`;
      if (context.retryAuthFailures) {
        const error = new TrackpipeError('TRACKPIPE_ERR_EXPORT_RETRYABLE', refused, { retriable: true, details: { status, auth: true } });
        const retryAfterMs = retryHint(headers, context.now);
        return ExportResults.retry(retryAfterMs === undefined ? { auth: true, error } : { retryAfterMs, auth: true, error });
      }
      return ExportResults.reject({ auth: true, error: new TrackpipeError('TRACKPIPE_ERR_EXPORT_REJECTED', refused, { details: { status, auth: true } }) });
    }
    case 'too_large':
      return ExportResults.tooLarge({ error: new TrackpipeError('TRACKPIPE_ERR_EXPORT_TOO_LARGE', message, { details: { status } }) });
    default:
      return ExportResults.reject({ error: new TrackpipeError('TRACKPIPE_ERR_EXPORT_REJECTED', message, { details: { status } }) });
  }
}

/**
 * How long `Retry-After` asks to wait, when it asks to wait at all: `0` or a date already past is no
 * hint, so the processor's backoff applies (a destination answering "now" to every retry would
 * otherwise be called in a tight loop).
 */
function retryHint(headers: IncomingHttpHeaders, now: number): number | undefined {
  const ms = parseRetryAfter(headers['retry-after'], now);
  return ms !== undefined && ms > 0 ? ms : undefined;
}

/** `rejectedLogRecords`, an int64 in proto3's JSON form: a number, or a string of decimal digits. Anything else counts as 0. */
function recordCount(value: unknown): number {
  if (typeof value === 'number') return value;
  return typeof value === 'string' && /^\s*\d+\s*$/.test(value) ? Number(value) : 0;
}

/**
 * An OTLP success may carry `partialSuccess.rejectedLogRecords`: those were dropped by the receiver.
 * A count that is not whole is rounded up, and one larger than the batch is the whole batch.
 */
function partialSuccess(body: string, context: ResultContext): ExportResult {
  const partial = readPartialSuccess(body);
  if (partial === undefined) return ExportResults.ok();
  const claimed = recordCount(partial.rejectedLogRecords);
  if (!(claimed > 0)) return ExportResults.ok();
  const rejected = Math.min(context.events, Math.ceil(claimed));
  const reason = typeof partial.errorMessage === 'string' ? excerpt(partial.errorMessage, context.secrets) : '';
  const sent = claimed > context.events ? ` (of ${context.events} sent)` : '';
  return ExportResults.reject({
    count: rejected,
    error: new TrackpipeError('TRACKPIPE_ERR_EXPORT_REJECTED', `${context.where}: the receiver rejected ${claimed} log records${sent}${reason === '' ? '' : `: ${reason}`}`, {
      details: { rejected },
    }),
  });
}

/**
 * The head of a partial success cut short at the bytes kept of an answer (an `errorMessage` past
 * 64 KiB): its count is still there when it comes first, as the OpenTelemetry Collector writes it.
 */
const CUT_PARTIAL_SUCCESS = /^\s*\{\s*"partialSuccess"\s*:\s*\{\s*"rejectedLogRecords"\s*:\s*(\d+|"\d+")\s*(?:,\s*"errorMessage"\s*:\s*"(.*))?$/s;

/** The `partialSuccess` of an OTLP answer, or undefined when it has none (or is no JSON object). */
function readPartialSuccess(body: string): { rejectedLogRecords?: unknown; errorMessage?: unknown } | undefined {
  if (!body.trimStart().startsWith('{')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    const cut = CUT_PARTIAL_SUCCESS.exec(body);
    return cut === null ? undefined : { rejectedLogRecords: JSON.parse(cut[1]!) as unknown, errorMessage: cut[2] };
  }
  const partial = (parsed as { partialSuccess?: unknown } | null)?.partialSuccess;
  return partial !== null && typeof partial === 'object' ? partial : undefined;
}

/**
 * Maps a network failure: the codes in `RETRYABLE_NETWORK_CODES` (refused, reset, timed out, DNS, …)
 * answer `retry`; anything else (TLS certificate problems, unknown errors) `reject`. The message has
 * the error's code and its redacted text, the error keeps the original as its cause.
 */
export function networkErrorResult(error: Error, context: ResultContext): ExportResult {
  const code = (error as { code?: unknown }).code;
  const label = typeof code === 'string' ? code : 'error';
  const message = `${context.where} failed: ${label} (${excerpt(String(error.message), context.secrets)})`;
  if (isRetryableNetworkError(error)) {
    return ExportResults.retry({
      error: new TrackpipeError('TRACKPIPE_ERR_EXPORT_RETRYABLE', message, { retriable: true, cause: error, details: { code: label } }),
    });
  }
  return ExportResults.reject({ error: new TrackpipeError('TRACKPIPE_ERR_EXPORT_REJECTED', message, { cause: error, details: { code: label } }) });
}
