import { isRetriable } from '@trackpipe/core';
import kafkajs from 'kafkajs';
import type { KafkaFailureKind } from './seam.js';

const {
  KafkaJSConnectionError,
  KafkaJSError,
  KafkaJSNonRetriableError,
  KafkaJSProtocolError,
  KafkaJSRequestTimeoutError,
  KafkaJSSASLAuthenticationError,
  KafkaJSTimeout,
} = kafkajs;

/** Broker error types (and their codes) saying a record or a record batch exceeds a size limit. */
const TOO_LARGE_TYPES = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE']);
const TOO_LARGE_CODES = new Set([10, 18]);

/**
 * The cluster refused the credentials or the permission to write. kafkajs marks them non-retriable, but
 * credentials get fixed (a rotation, an ACL): the exporter retries them within the processor's budget
 * unless `retryAuthFailures` is off.
 */
const AUTH_TYPES = new Set([
  'TOPIC_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  'SASL_AUTHENTICATION_FAILED',
  'UNSUPPORTED_SASL_MECHANISM',
  'ILLEGAL_SASL_STATE',
]);

/**
 * Idempotent-producer state errors. kafkajs calls them non-retriable, but they concern the producer
 * session, not the records: the exporter opens a new session (a new producer id) after every failure,
 * and the batch then goes through.
 */
const PRODUCER_STATE_TYPES = new Set([
  'OUT_OF_ORDER_SEQUENCE_NUMBER',
  'DUPLICATE_SEQUENCE_NUMBER',
  'INVALID_PRODUCER_EPOCH',
  'UNKNOWN_PRODUCER_ID',
]);

/**
 * Classifies an error thrown by a kafkajs producer (`connect`, `send`, `sendBatch`):
 * - `too_large`: the broker refused a record or batch as too large (MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE);
 * - `auth`: SASL authentication failures (KafkaJSSASLAuthenticationError, SASL_AUTHENTICATION_FAILED,
 *   UNSUPPORTED_SASL_MECHANISM, ILLEGAL_SASL_STATE) and TOPIC/CLUSTER/TRANSACTIONAL_ID_AUTHORIZATION_FAILED;
 * - `retry`: connection loss, request timeouts, retriable broker errors, kafkajs retries exhausted over
 *   a retriable error, producer-state errors;
 * - `reject`: every other permanent or unknown error (unknown errors are retried only when they carry
 *   `retriable: true`).
 * Decides on classes (`instanceof`), broker error `type` and `code`; never on `name` or message.
 */
export function classifyKafkaJsError(error: unknown): KafkaFailureKind {
  return classify(error, 0);
}

function classify(error: unknown, depth: number): KafkaFailureKind {
  if (error instanceof KafkaJSProtocolError) {
    if (TOO_LARGE_TYPES.has(error.type) || TOO_LARGE_CODES.has(error.code)) return 'too_large';
    if (AUTH_TYPES.has(error.type)) return 'auth';
    if (PRODUCER_STATE_TYPES.has(error.type)) return 'retry';
    return error.retriable === true ? 'retry' : 'reject';
  }
  if (error instanceof KafkaJSSASLAuthenticationError) return 'auth';
  if (error instanceof KafkaJSConnectionError || error instanceof KafkaJSRequestTimeoutError || error instanceof KafkaJSTimeout) {
    return 'retry';
  }
  if (error instanceof KafkaJSNonRetriableError) {
    // kafkajs's retrier ends with KafkaJSNumberOfRetriesExceeded (a subclass) around the last retriable
    // error, or KafkaJSNonRetriableError around a non-retriable one: the wrapped error decides.
    const cause: unknown = error.cause;
    return cause instanceof Error && cause !== error && depth < 5 ? classify(cause, depth + 1) : 'reject';
  }
  if (error instanceof KafkaJSError) return error.retriable === true ? 'retry' : 'reject';
  return isRetriable(error) ? 'retry' : 'reject';
}
