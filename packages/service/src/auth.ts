import { createHash, timingSafeEqual } from 'node:crypto';
import { TrackpipeError } from '@trackpipe/core';

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * API-key authentication. Keys are kept only as SHA-256 digests; a presented key is hashed and
 * compared to every stored digest with `crypto.timingSafeEqual` (equal-length inputs, no early exit),
 * so neither the comparison time nor the key count leaks which bytes matched. Keys are never logged.
 */
export class ApiKeyAuth {
  readonly #digests: readonly Buffer[];

  /** @param keys accepted keys; none turns authentication off. Each must be a non-empty string. */
  constructor(keys: readonly string[] = []) {
    for (const [i, key] of keys.entries()) {
      if (typeof key !== 'string' || key === '') {
        throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', `auth.apiKeys[${i}] must be a non-empty string`, {
          details: { option: `auth.apiKeys[${i}]` },
        });
      }
    }
    this.#digests = keys.map(digest);
  }

  /** True when at least one key is configured, so requests must present one. */
  get enabled(): boolean {
    return this.#digests.length > 0;
  }

  /** True when `key` is one of the configured keys (always false when none are). */
  verifyKey(key: string): boolean {
    const presented = digest(key);
    let match = false;
    for (const stored of this.#digests) match = timingSafeEqual(presented, stored) || match;
    return match;
  }

  /**
   * Checks an `Authorization` header value (`Bearer <key>`, scheme case-insensitive). True when
   * authentication is off, or the header carries a configured key.
   */
  verifyAuthorization(header: string | undefined): boolean {
    if (!this.enabled) return true;
    const key = bearerToken(header);
    return key !== undefined && this.verifyKey(key);
  }
}

/** The token of a `Bearer <token>` header value, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^\s*bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}
