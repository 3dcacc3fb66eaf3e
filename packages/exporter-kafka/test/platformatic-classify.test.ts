import {
  AuthenticationError,
  MultipleErrors,
  NetworkError,
  ProtocolError,
  ResponseError,
  TimeoutError,
  UnexpectedCorrelationIdError,
  UnsupportedCompressionError,
  UserError,
} from '@platformatic/kafka';
import { describe, expect, it } from 'vitest';
import { type KafkaFailureKind, classifyPlatformaticError } from '@trackpipe/exporter-kafka';

// The errors below are @platformatic/kafka's own classes, built the way the library builds them.
const PRODUCE = 0; // API key of Produce
const SASL_AUTHENTICATE = 36;

/** A Produce response with a broker error on one partition (what `send` rejects with, wrapped by its retrier). */
const produce = (code: number): Error => new ResponseError(PRODUCE, 9, { '/responses/0/partitionResponses/0': [code, null] }, {});
/** What the retrier throws once it gave up: every attempt's error. */
const attempts = (...errors: Error[]): Error => new MultipleErrors(`produce failed ${errors.length} times.`, errors);
/** What a request to several brokers throws when some fail. */
const destinations = (...errors: Error[]): Error => new MultipleErrors('Producing messages failed.', errors);
/** What @platformatic/dynamic-buffer throws when a response is shorter than announced (its OutOfBoundsError). */
const outOfBounds = (): Error => Object.assign(new Error('Out of bounds.'), { code: 'OUT_OF_BOUNDS' });
/** How a connection reports a failed SASL exchange: NetworkError → AuthenticationError → the broker's answer. */
const saslFailure = (): Error =>
  new NetworkError('Connection to 127.0.0.1:9092 failed.', {
    cause: new AuthenticationError('SASL authentication failed.', {
      cause: new ResponseError(SASL_AUTHENTICATE, 2, { '': [58, 'Authentication failed: Invalid username or password'] }, {}),
    }),
  });

describe('classifyPlatformaticError', () => {
  it.each<[string, unknown, KafkaFailureKind]>([
    // authentication and authorization, wherever they sit
    ['a SASL exchange refused (NetworkError around AuthenticationError)', saslFailure(), 'auth'],
    ['an AuthenticationError alone', new AuthenticationError('Invalid server signature.'), 'auth'],
    ['TOPIC_AUTHORIZATION_FAILED in a Produce response', produce(29), 'auth'],
    ['CLUSTER_AUTHORIZATION_FAILED after retries', attempts(new NetworkError('Connection closed'), produce(31)), 'auth'],
    ['UNSUPPORTED_SASL_MECHANISM', new ProtocolError('UNSUPPORTED_SASL_MECHANISM'), 'auth'],
    // size limits
    ['MESSAGE_TOO_LARGE', produce(10), 'too_large'],
    ['RECORD_LIST_TOO_LARGE on one of two brokers', destinations(new NetworkError('Connection closed'), produce(18)), 'too_large'],
    // transient
    ['a lost connection', new NetworkError('Connection closed'), 'retry'],
    ['a connection refused (NetworkError around a system error)', new NetworkError('Connection to 127.0.0.1:1 failed.', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) }), 'retry'],
    ['a request timeout', new TimeoutError('Request timed out'), 'retry'],
    ['an unexpected correlation id', new UnexpectedCorrelationIdError('Received unexpected response'), 'retry'],
    ['NOT_LEADER_OR_FOLLOWER (retriable)', produce(6), 'retry'],
    ['NOT_ENOUGH_REPLICAS (retriable)', produce(19), 'retry'],
    ['UNKNOWN_TOPIC_OR_PARTITION (retriable)', produce(3), 'retry'],
    ['an unknown topic in metadata (a topic created on first use; the library reports a UserError)', new UserError('Unknown topic flag-evaluations-2.'), 'retry'],
    ['OUT_OF_ORDER_SEQUENCE_NUMBER (fixed by a new producer)', produce(45), 'retry'],
    ['INVALID_PRODUCER_EPOCH (fixed by a new producer)', produce(47), 'retry'],
    ['retries exhausted over transient errors', attempts(new NetworkError('Connection closed'), new TimeoutError('Request timed out'), produce(6)), 'retry'],
    // seen when the broker was stopped (SIGTERM) in the middle of an answer
    ['a truncated response, then the connection lost', destinations(attempts(outOfBounds(), new NetworkError('Connection closed'))), 'retry'],
    ['a permanent part next to a transient one (sent again; the permanent part decides then)', destinations(produce(87), new NetworkError('Connection closed')), 'retry'],
    // permanent
    ['INVALID_RECORD', produce(87), 'reject'],
    ['INVALID_RECORD on every broker', destinations(produce(87), produce(87)), 'reject'],
    ['a UserError (a message that cannot be serialized)', new UserError('Failed to serialize a message.'), 'reject'],
    ['an unsupported compression', new UnsupportedCompressionError('zstd is not supported'), 'reject'],
    ['an aggregate with no parts', new MultipleErrors('nothing', []), 'reject'],
    // unknown errors: retried only when they say so
    ['a plain Error', new Error('boom'), 'reject'],
    ['an Error with retriable: true', Object.assign(new Error('flaky'), { retriable: true }), 'retry'],
    ['a string', 'ECONNRESET', 'reject'],
    ['undefined', undefined, 'reject'],
    ['an Error merely named NetworkError', Object.assign(new Error('x'), { name: 'NetworkError' }), 'reject'],
  ])('%s → %s', (_label, error, expected) => {
    expect(classifyPlatformaticError(error)).toBe(expected);
  });

  it('terminates on an error that is its own cause, or nested very deep', () => {
    const loop = new NetworkError('loop');
    Object.defineProperty(loop, 'cause', { value: loop });
    expect(classifyPlatformaticError(loop)).toBe('retry');
    let deep: Error = new UserError('bottom');
    for (let i = 0; i < 100; i++) deep = new MultipleErrors(`level ${i}`, [deep]);
    expect(classifyPlatformaticError(deep)).toBe('reject');
  });
});
