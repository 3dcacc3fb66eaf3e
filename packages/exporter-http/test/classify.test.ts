import { describe, expect, it } from 'vitest';
import { type TrackpipeError } from '@trackpipe/core';
import { type ResultContext, classifyStatus, isRetryableNetworkError, networkErrorResult, parseRetryAfter, responseResult } from '@trackpipe/exporter-http';

describe('classifyStatus', () => {
  it.each([
    [200, 'ok'],
    [201, 'ok'],
    [202, 'ok'],
    [204, 'ok'],
    [299, 'ok'],
    [408, 'retry'],
    [429, 'retry'],
    [500, 'retry'],
    [502, 'retry'],
    [503, 'retry'],
    [504, 'retry'],
    [599, 'retry'],
    [413, 'too_large'],
    [400, 'reject'],
    [401, 'auth'],
    [403, 'auth'],
    [407, 'reject'],
    [404, 'reject'],
    [409, 'reject'],
    [422, 'reject'],
    [301, 'reject'],
    [302, 'reject'],
    [100, 'reject'],
    [0, 'reject'],
  ] as const)('classifies HTTP %i as %s', (status, expected) => {
    expect(classifyStatus(status)).toBe(expected);
  });
});

describe('isRetryableNetworkError', () => {
  const withCode = (code: string): Error => Object.assign(new Error(code), { code });
  it.each(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EAI_AGAIN', 'ENOTFOUND', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH'])(
    'retries %s',
    (code) => {
      expect(isRetryableNetworkError(withCode(code))).toBe(true);
    },
  );
  it.each(['DEPTH_ZERO_SELF_SIGNED_CERT', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_INVALID_CHAR', 'EACCES'])(
    'does not retry %s',
    (code) => {
      expect(isRetryableNetworkError(withCode(code))).toBe(false);
    },
  );
  it('does not retry errors without a code, nor non-errors', () => {
    expect(isRetryableNetworkError(new Error('ECONNRESET in the message only'))).toBe(false);
    expect(isRetryableNetworkError(Object.assign(new Error('x'), { name: 'ECONNRESET' }))).toBe(false);
    expect(isRetryableNetworkError('ECONNRESET')).toBe(false);
    expect(isRetryableNetworkError(null)).toBe(false);
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-06-01T12:00:00Z');
  it.each([
    ['0', 0],
    ['1', 1000],
    ['120', 120_000],
    [' 7 ', 7000],
    ['Sun, 01 Jun 2025 12:00:30 GMT', 30_000],
    ['Sun, 01 Jun 2025 11:59:00 GMT', 0],
    ['Sunday, 01-Jun-25 12:01:00 GMT', 60_000],
    ['Sun Jun  1 12:00:30 2025', 30_000],
  ] as const)('reads %j as %i ms', (header, expected) => {
    expect(parseRetryAfter(header, now)).toBe(expected);
  });
  it.each([undefined, '', '  ', '-5', '1.5', 'soon', 'not a date at all', 'NaN', 'Infinity', '1e3', 'a 5', 'x 2030', 'May 5', 'tomorrow 1'])('ignores %j', (header) => {
    expect(parseRetryAfter(header, now)).toBeUndefined();
  });
  it('reads the first of repeated headers', () => {
    expect(parseRetryAfter(['3', '9'], now)).toBe(3000);
  });
});

describe('responseResult and networkErrorResult (pure result mapping)', () => {
  const context: ResultContext = { where: 'POST https://api.example.com', secrets: ['s3cr3t-value'], otlp: false, retryAuthFailures: true, now: 1_000_000, events: 5 };
  const error = (result: { error?: unknown }): TrackpipeError => result.error as TrackpipeError;

  it.each([
    [200, { code: 'ok' }],
    [503, { code: 'retry' }],
    [401, { code: 'retry', auth: true }],
    [403, { code: 'retry', auth: true }],
    [413, { code: 'too_large' }],
    [400, { code: 'reject' }],
  ] as const)('maps HTTP %i to %j', (status, expected) => {
    expect(responseResult(status, {}, '', context)).toMatchObject(expected);
  });

  it('rejects 401 as an auth failure when auth failures are not retried', () => {
    const result = responseResult(401, {}, '', { ...context, retryAuthFailures: false });
    expect(result).toMatchObject({ code: 'reject', auth: true });
    expect(error(result as { error?: unknown }).code).toBe('TRACKPIPE_ERR_EXPORT_REJECTED');
  });

  it('honours Retry-After on 429, 503 and auth retries', () => {
    expect(responseResult(429, { 'retry-after': '7' }, '', context)).toMatchObject({ code: 'retry', retryAfterMs: 7_000 });
    expect(responseResult(401, { 'retry-after': '2' }, '', context)).toMatchObject({ code: 'retry', retryAfterMs: 2_000, auth: true });
  });

  it.each([
    ['0', { 'retry-after': '0' }],
    ['a date already past', { 'retry-after': 'Thu, 01 Jan 1970 00:00:00 GMT' }],
  ])('gives no hint for a Retry-After of %s: a destination saying "now" to every retry would be called in a tight loop', (_, headers) => {
    for (const status of [429, 503, 401]) {
      const result = responseResult(status, headers, '', context);
      expect(result.code).toBe('retry');
      expect(result).not.toHaveProperty('retryAfterMs');
    }
  });

  it('names the endpoint as given and redacts the excerpt', () => {
    const result = responseResult(500, {}, 'db password s3cr3t-value leaked\nsecond line', context) as { error?: unknown };
    expect(error(result).message).toBe('TRACKPIPE_ERR_EXPORT_RETRYABLE: POST https://api.example.com answered HTTP 500: db password [REDACTED] leaked second line');
  });

  it('reads an OTLP partial success only for OTLP bodies', () => {
    const body = JSON.stringify({ partialSuccess: { rejectedLogRecords: '3', errorMessage: 'bad s3cr3t-value' } });
    expect(responseResult(200, {}, body, context)).toEqual({ code: 'ok' });
    const result = responseResult(200, {}, body, { ...context, otlp: true });
    expect(result).toMatchObject({ code: 'reject', count: 3 });
    expect(error(result as { error?: unknown }).message).toContain('bad [REDACTED]');
  });

  it.each([
    ['more records than were sent', 8, 5, 'the receiver rejected 8 log records (of 5 sent)'],
    ['a number too large to be exact', 1e30, 5, 'the receiver rejected 1e+30 log records (of 5 sent)'],
    ['a fraction', 1.5, 2, 'the receiver rejected 1.5 log records'],
    ['an int64 as a decimal string', '4', 4, 'the receiver rejected 4 log records'],
  ] as const)('reads an OTLP partial success of %s as at most the records sent, rounded up', (_, rejected, count, message) => {
    const body = JSON.stringify({ partialSuccess: { rejectedLogRecords: rejected } });
    const result = responseResult(200, {}, body, { ...context, otlp: true });
    expect(result).toMatchObject({ code: 'reject', count });
    expect(error(result as { error?: unknown }).message).toContain(message);
  });

  it.each([
    ['true', true],
    ['a list', [3]],
    ['an object', { n: 3 }],
    ['an empty string', ''],
    ['a word', 'abc'],
    ['a hexadecimal string', '0x3'],
    ['negative', -2],
    ['null', null],
  ])('reads a rejectedLogRecords that is %s as no partial success (an int64 is a number or a string of digits)', (_, rejected) => {
    const body = JSON.stringify({ partialSuccess: { rejectedLogRecords: rejected } });
    expect(responseResult(200, {}, body, { ...context, otlp: true })).toEqual({ code: 'ok' });
  });

  it('retries retryable network errors and rejects the rest, keeping the cause', () => {
    const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    const tls = Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    const retried = networkErrorResult(reset, context) as { code: string; error?: unknown };
    expect(retried.code).toBe('retry');
    expect(error(retried)).toMatchObject({ retriable: true, cause: reset, details: { code: 'ECONNRESET' } });
    const rejected = networkErrorResult(tls, context) as { code: string; error?: unknown };
    expect(rejected.code).toBe('reject');
    expect(error(rejected).message).toContain('POST https://api.example.com failed: DEPTH_ZERO_SELF_SIGNED_CERT (self-signed certificate)');
  });
});
