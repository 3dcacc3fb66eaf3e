import { describe, expect, it } from 'vitest';
import { ApiKeyAuth, bearerToken } from '../src/index.js';

describe('ApiKeyAuth', () => {
  it('is off without keys and lets every request through', () => {
    const auth = new ApiKeyAuth();
    expect(auth.enabled).toBe(false);
    expect(auth.verifyAuthorization(undefined)).toBe(true);
    expect(auth.verifyKey('anything')).toBe(false);
  });

  it('accepts any configured key as a Bearer token and nothing else', () => {
    const auth = new ApiKeyAuth(['key-one', 'key-two']);
    expect(auth.enabled).toBe(true);
    expect(auth.verifyAuthorization('Bearer key-one')).toBe(true);
    expect(auth.verifyAuthorization('bearer   key-two ')).toBe(true);
    expect(auth.verifyAuthorization('Bearer key-on')).toBe(false);
    expect(auth.verifyAuthorization('Bearer key-one-and-more')).toBe(false);
    expect(auth.verifyAuthorization('Basic key-one')).toBe(false);
    expect(auth.verifyAuthorization('key-one')).toBe(false);
    expect(auth.verifyAuthorization(undefined)).toBe(false);
  });

  it('refuses an empty key in its configuration', () => {
    expect(() => new ApiKeyAuth(['ok', ''])).toThrow(/auth\.apiKeys\[1\] must be a non-empty string/);
  });

  it('refuses a key no client could present (a trailing newline, a space, a non-ASCII character), without repeating it', () => {
    for (const key of ['sk-live-1\n', 'sk live 1', 'sk-live-\u00e9']) {
      expect(() => new ApiKeyAuth(['ok', key])).toThrow(/auth\.apiKeys\[1\] must be visible ASCII characters without spaces or line breaks/);
      expect(() => new ApiKeyAuth(['ok', key])).not.toThrow(/sk.live/);
    }
  });

  it('reads the token of a Bearer header', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('Bearer')).toBeUndefined();
    expect(bearerToken('Bearer a b')).toBeUndefined();
  });
});
