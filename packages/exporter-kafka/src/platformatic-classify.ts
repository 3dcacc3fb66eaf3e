import { isRetriable } from '@trackpipe/core';
import type { KafkaFailureKind } from './seam.js';

// @platformatic/kafka's errors carry a stable `code` (PLT_KFK_*); broker errors (ProtocolError) also
// the broker error id (`apiId`) and `canRetry`; aggregates (MultipleErrors, ResponseError) their parts
// in `errors`; wrappers their reason in `cause`. The classifier reads those fields, so it needs no
// import of the library (which the client loads only when it is used).

/** Authentication and authorization refusals, as broker error ids. */
const AUTH_IDS = new Set([
  'SASL_AUTHENTICATION_FAILED',
  'UNSUPPORTED_SASL_MECHANISM',
  'ILLEGAL_SASL_STATE',
  'TOPIC_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
]);
const TOO_LARGE_IDS = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE']);
/** Idempotent-producer state errors: fixed by the new producer the exporter opens after any failure. */
const PRODUCER_STATE_IDS = new Set(['OUT_OF_ORDER_SEQUENCE_NUMBER', 'DUPLICATE_SEQUENCE_NUMBER', 'INVALID_PRODUCER_EPOCH', 'UNKNOWN_PRODUCER_ID']);
/**
 * Library error codes that mean a lost or confused connection, or a timeout (TimeoutError reports
 * PLT_KFK_NETWORK too): a new session (a new connection) is the fix. OUT_OF_BOUNDS is thrown by the
 * library's buffer reader on a truncated response, seen when a broker shuts down mid-answer.
 */
const TRANSIENT_CODES = new Set(['PLT_KFK_NETWORK', 'PLT_KFK_TIMEOUT', 'PLT_KFK_UNEXPECTED_CORRELATION_ID', 'PLT_KFK_OUT_OF_BOUNDS', 'OUT_OF_BOUNDS']);
const AGGREGATE_CODES = new Set(['PLT_KFK_MULTIPLE', 'PLT_KFK_RESPONSE']);
const MAX_DEPTH = 8;

interface Fields {
  readonly code?: unknown;
  readonly apiId?: unknown;
  readonly canRetry?: unknown;
  readonly errors?: unknown;
  readonly cause?: unknown;
}

function fields(error: unknown): Fields | undefined {
  return typeof error === 'object' && error !== null ? error : undefined;
}

/** The errors an error stands for: its aggregated parts and its cause. */
function children(error: Fields): unknown[] {
  const out: unknown[] = Array.isArray(error.errors) ? Array.from<unknown>(error.errors) : [];
  if (error.cause !== undefined && error.cause !== error) out.push(error.cause);
  return out;
}

/** True when `error` or any error inside it (parts, causes) satisfies `test`. */
function some(error: unknown, test: (error: Fields) => boolean, depth = 0): boolean {
  const e = fields(error);
  if (e === undefined || depth > MAX_DEPTH) return false;
  return test(e) || children(e).some((child) => some(child, test, depth + 1));
}

/** True when `error` or any error inside it (parts, causes) is the broker error `id` (e.g. `UNKNOWN_TOPIC_OR_PARTITION`). Internal. */
export function hasBrokerError(error: unknown, id: string): boolean {
  return some(error, (e) => e.apiId === id);
}

/**
 * The library's answer to UNKNOWN_TOPIC_OR_PARTITION in a metadata response: a UserError whose only
 * trace of the broker's code is its message. Kafka counts that code as retriable — a topic the broker
 * is creating on first use answers it until its leader is elected — so it is retried (an absent topic
 * without auto-creation ends as `retries_exhausted`, as with kafkajs). The one decision on a message.
 */
function isUnknownTopic(error: Fields): boolean {
  const message = (error as { message?: unknown }).message;
  return typeof message === 'string' && message.startsWith('Unknown topic ');
}

function transientOrPermanent(error: unknown, depth: number): 'retry' | 'reject' {
  const e = fields(error);
  if (e === undefined) return 'reject';
  const code = typeof e.code === 'string' ? e.code : undefined;
  if (code !== undefined && AGGREGATE_CODES.has(code) && Array.isArray(e.errors) && e.errors.length > 0 && depth < MAX_DEPTH) {
    // The attempts of a retried operation, or the brokers of one request: nothing is dropped while a
    // part is transient (a permanent part comes back alone on the next attempt, and is rejected then).
    return (e.errors as unknown[]).some((part) => transientOrPermanent(part, depth + 1) === 'retry') ? 'retry' : 'reject';
  }
  if (code === 'PLT_KFK_PROTOCOL') {
    if (typeof e.apiId === 'string' && PRODUCER_STATE_IDS.has(e.apiId)) return 'retry';
    return e.canRetry === true ? 'retry' : 'reject';
  }
  if (code !== undefined && TRANSIENT_CODES.has(code)) return 'retry';
  if (code === 'PLT_KFK_USER' && isUnknownTopic(e)) return 'retry';
  if (code !== undefined && code.startsWith('PLT_KFK_')) return 'reject'; // user errors, unsupported features, ...
  return isRetriable(error) ? 'retry' : 'reject';
}

/**
 * Classifies an error thrown by an @platformatic/kafka producer (`initIdempotentProducer`, `send`):
 * - `auth`: SASL authentication failed (PLT_KFK_AUTHENTICATION, or SASL_AUTHENTICATION_FAILED,
 *   UNSUPPORTED_SASL_MECHANISM, ILLEGAL_SASL_STATE), or TOPIC/CLUSTER/TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
 *   anywhere in the error (connection errors wrap it as their cause);
 * - `too_large`: MESSAGE_TOO_LARGE or RECORD_LIST_TOO_LARGE anywhere in the error;
 * - `retry`: connection loss, timeouts, truncated responses, broker errors the library marks retriable,
 *   an unknown topic (being created on first use),
 *   producer-state errors; an aggregate (attempts, brokers) when any part is transient;
 * - `reject`: every other library error (user errors, unsupported features) and unknown errors
 *   (unless they carry `retriable: true`).
 * Decides on `code`, `apiId` and `canRetry`, never on `name`, and on a message only for the unknown
 * topic (see `isUnknownTopic`).
 */
export function classifyPlatformaticError(error: unknown): KafkaFailureKind {
  if (some(error, (e) => e.code === 'PLT_KFK_AUTHENTICATION' || (typeof e.apiId === 'string' && AUTH_IDS.has(e.apiId)))) return 'auth';
  if (some(error, (e) => typeof e.apiId === 'string' && TOO_LARGE_IDS.has(e.apiId))) return 'too_large';
  return transientOrPermanent(error, 0);
}
