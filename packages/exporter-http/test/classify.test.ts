import { describe, expect, it } from 'vitest';
import { classifyStatus, isRetryableNetworkError, parseRetryAfter } from '@trackpipe/exporter-http';

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
    [401, 'reject'],
    [403, 'reject'],
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
  ] as const)('reads %j as %i ms', (header, expected) => {
    expect(parseRetryAfter(header, now)).toBe(expected);
  });
  it.each([undefined, '', '  ', '-5', '1.5', 'soon', 'not a date at all'])('ignores %j', (header) => {
    expect(parseRetryAfter(header, now)).toBeUndefined();
  });
  it('reads the first of repeated headers', () => {
    expect(parseRetryAfter(['3', '9'], now)).toBe(3000);
  });
});
