import { describe, expect, it } from 'vitest';
import { excerpt, isSecretName, redactUrl, secretsOf } from '../src/redact.js';

describe('excerpt', () => {
  it('hides configured values and each of their parts, but keeps the auth scheme word', () => {
    const secrets = secretsOf(['Bearer tok-123456', 'static-key-77']);
    expect(secrets).not.toContain('Bearer');
    const text = excerpt('got "Bearer tok-123456", token tok-123456 alone, key static-key-77', secrets);
    expect(text).not.toContain('tok-123456');
    expect(text).not.toContain('static-key-77');
    expect(text).toContain('Bearer [REDACTED]');
  });

  it.each([
    ['Authorization: Bearer abc.DEF-ghi_123~+/=', 'abc.DEF'],
    ['authorization: basic dXNlcjpwYXNzd29yZA==', 'dXNlcjpw'],
    ['jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.sig-nature_x', 'eyJhbGciOiJIUzI1NiJ9'],
    ['apikey=live_998877', 'live_998877'],
  ])('hides credential-looking text in %j', (body, secret) => {
    const text = excerpt(body, []);
    expect(text).not.toContain(secret);
    expect(text).toContain('[REDACTED]');
  });

  it('keeps short configured values searchable only from four characters on', () => {
    expect(secretsOf(['ab', 'abcd'])).toEqual(['abcd']);
  });

  it('redacts before cutting, so a secret across the cut cannot leak its start', () => {
    const secret = 'S3CRET-VALUE-0123456789';
    const body = `${'a'.repeat(190)}${secret}`;
    const text = excerpt(body, secretsOf([secret]), 200);
    expect(text).not.toContain('S3CRET');
  });

  it('hides a JWT after a quote, a colon, an equals sign or a space, and finds them in a hostile megabyte at once', () => {
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl';
    for (const before of ['"', ':', '=', ' ', '(']) expect(excerpt(`token${before}${jwt}`, [], 500)).not.toContain('c2lnbmF0dXJl');
    // Every `eyJ` of one long base64url run: with a match starting at any of them this took minutes
    // (quadratic: 2.5 s for 64 KiB); it must end well within the test's timeout.
    const hostile = `${'-eyJaaaa'.repeat(1 << 17)}.${'a'.repeat(8)}`;
    expect(excerpt(hostile, [], 20)).toBe(`${hostile.slice(0, 20)}…`);
  });

  it('turns control characters into spaces, so that an answer cannot send escape sequences to a terminal', () => {
    expect(excerpt('red \u001b[31mALERT\u001b[0m bell\u0007 del\u007f c1\u009b end', [])).toBe('red [31mALERT [0m bell del c1 end');
  });

  it('makes one short line', () => {
    const text = excerpt(`line one\n\tline two   ${'x'.repeat(1000)}`, [], 50);
    expect(text).not.toMatch(/[\n\t]/);
    expect(text.startsWith('line one line two')).toBe(true);
    expect(text.length).toBeLessThanOrEqual(51);
  });
});

describe('redactUrl', () => {
  it.each([
    ['https://hooks.example.com/services/T000/B000/XXXXSECRET?token=abc', 'https://hooks.example.com'],
    ['http://user:pa55word@127.0.0.1:8080/v1/events', 'http://127.0.0.1:8080'],
    ['not a url with secret-token', '[REDACTED]'],
  ])('shows only the origin of %j', (url, shown) => {
    expect(redactUrl(url)).toBe(shown);
  });
});

describe('isSecretName', () => {
  it.each(['authorization', 'x-api-key', 'apiKey', 'password', 'saslPassword', 'cookie', 'accessToken'])('treats %j as secret', (name) => {
    expect(isSecretName(name)).toBe(true);
  });
  it.each(['pipeline', 'exporter', 'url', 'events'])('leaves %j alone', (name) => {
    expect(isSecretName(name)).toBe(false);
  });
});
