import { createRequire } from 'node:module';
import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { type KafkaFailureKind, classifyKafkaJsError } from '@trackpipe/exporter-kafka';

// kafkajs's own table of broker error codes, so the cases below are the errors kafkajs really throws.
const { createErrorFromCode } = createRequire(import.meta.url)('kafkajs/src/protocol/error.js') as {
  createErrorFromCode(code: number): Error;
};

const {
  KafkaJSBrokerNotFound,
  KafkaJSConnectionError,
  KafkaJSError,
  KafkaJSLockTimeout,
  KafkaJSMetadataNotLoaded,
  KafkaJSNonRetriableError,
  KafkaJSNumberOfRetriesExceeded,
  KafkaJSRequestTimeoutError,
  KafkaJSSASLAuthenticationError,
} = kafkajs;

// Thrown when a broker closes the connection; missing from kafkajs's type declarations.
const { KafkaJSConnectionClosedError } = kafkajs as unknown as {
  KafkaJSConnectionClosedError: new (message: string, where: { host: string; port: number }) => Error;
};

const broker = (code: number): Error => createErrorFromCode(code);
const exhausted = (cause: Error): Error => new KafkaJSNumberOfRetriesExceeded(cause, { retryCount: 1, retryTime: 100 });
/** kafkajs's type declarations omit the message parameter of some error constructors; the runtime needs it. */
const make = (ErrorClass: unknown, message: string): Error => new (ErrorClass as new (message: string) => Error)(message);
/** What kafkajs's retrier throws around a non-retriable error: `new KafkaJSNonRetriableError(e, { cause: e })`. */
const nonRetriable = (cause: Error): Error => Object.assign(new KafkaJSNonRetriableError(cause), { cause });

describe('classifyKafkaJsError', () => {
  it.each<[string, unknown, KafkaFailureKind]>([
    // broker errors (KafkaJSProtocolError, by type and code)
    ['MESSAGE_TOO_LARGE', broker(10), 'too_large'],
    ['RECORD_LIST_TOO_LARGE', broker(18), 'too_large'],
    ['TOPIC_AUTHORIZATION_FAILED', broker(29), 'auth'],
    ['CLUSTER_AUTHORIZATION_FAILED', broker(31), 'auth'],
    ['SASL_AUTHENTICATION_FAILED', broker(58), 'auth'],
    ['UNSUPPORTED_SASL_MECHANISM', broker(33), 'auth'],
    ['non-retriable around TOPIC_AUTHORIZATION_FAILED', nonRetriable(broker(29)), 'auth'],
    ['INVALID_TOPIC_EXCEPTION', broker(17), 'reject'],
    ['INVALID_RECORD', broker(87), 'reject'],
    ['NOT_LEADER_FOR_PARTITION (retriable)', broker(6), 'retry'],
    ['UNKNOWN_TOPIC_OR_PARTITION (retriable)', broker(3), 'retry'],
    ['NOT_ENOUGH_REPLICAS (retriable)', broker(19), 'retry'],
    ['REQUEST_TIMED_OUT (retriable)', broker(7), 'retry'],
    ['OUT_OF_ORDER_SEQUENCE_NUMBER (fixed by a new producer)', broker(45), 'retry'],
    ['UNKNOWN_PRODUCER_ID (fixed by a new producer)', broker(59), 'retry'],
    // connection loss and timeouts
    ['KafkaJSConnectionError', new KafkaJSConnectionError('Connection error: connect ECONNREFUSED'), 'retry'],
    ['KafkaJSConnectionClosedError', new KafkaJSConnectionClosedError('Closed connection', { host: '127.0.0.1', port: 9092 }), 'retry'],
    ['KafkaJSRequestTimeoutError', new KafkaJSRequestTimeoutError('Request Produce(key: 0, version: 7) timed out'), 'retry'],
    ['KafkaJSLockTimeout', make(KafkaJSLockTimeout, 'Timeout while acquiring lock'), 'retry'],
    ['KafkaJSMetadataNotLoaded', make(KafkaJSMetadataNotLoaded, 'Producing to topic without metadata'), 'retry'],
    ['KafkaJSBrokerNotFound', make(KafkaJSBrokerNotFound, 'Broker 1 not found in the cached metadata'), 'retry'],
    ['KafkaJSError "The producer is disconnected" (retriable)', new KafkaJSError('The producer is disconnected'), 'retry'],
    // kafkajs's retrier gave up: the wrapped error decides
    ['retries exhausted over a connection error', exhausted(new KafkaJSConnectionError('Connection error')), 'retry'],
    ['retries exhausted over NOT_LEADER_FOR_PARTITION', exhausted(broker(6)), 'retry'],
    ['retries exhausted over an unknown error', exhausted(new Error('boom')), 'reject'],
    ['non-retriable around MESSAGE_TOO_LARGE', nonRetriable(broker(10)), 'too_large'],
    ['non-retriable around a TypeError', nonRetriable(new TypeError('x')), 'reject'],
    ['KafkaJSNonRetriableError "Invalid topic"', new KafkaJSNonRetriableError('Invalid topic'), 'reject'],
    ['KafkaJSSASLAuthenticationError', make(KafkaJSSASLAuthenticationError, 'SASL PLAIN authentication failed'), 'auth'],
    // unknown errors: retried only when they say so
    ['a plain Error', new Error('boom'), 'reject'],
    ['a TypeError', new TypeError('x is undefined'), 'reject'],
    ['an object with retriable: true', Object.assign(new Error('flaky'), { retriable: true }), 'retry'],
    ['an object with retriable: "yes"', { retriable: 'yes' }, 'reject'],
    ['a string', 'ECONNRESET', 'reject'],
    ['undefined', undefined, 'reject'],
    ['an Error merely named KafkaJSConnectionError', Object.assign(new Error('x'), { name: 'KafkaJSConnectionError' }), 'reject'],
  ])('%s → %s', (_label, error, expected) => {
    expect(classifyKafkaJsError(error)).toBe(expected);
  });
});
