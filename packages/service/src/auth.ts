import { createHash, timingSafeEqual } from 'node:crypto';
import { TrackpipeError } from '@trackpipe/core';

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** What an API key must be: what `Authorization: Bearer <key>` and gRPC metadata can carry. */
export const API_KEY_RULE =
  'must be visible ASCII characters without spaces or line breaks (no client could present any other key in "Authorization: Bearer <key>")';

/**
 * True when `key` can be presented by a client: one or more visible ASCII characters (no space, tab,
 * line break or non-ASCII character, e.g. a secret file's trailing newline). Any other key could never
 * match, and a service configured with it alone would refuse every request.
 */
export function isPresentableKey(key: string): boolean {
  return /^[\x21-\x7e]+$/.test(key);
}

/**
 * API-key authentication. Keys are kept only as SHA-256 digests; a presented key is hashed and
 * compared to every stored digest with `crypto.timingSafeEqual` (equal-length inputs, no early exit),
 * so neither the comparison time nor the key count leaks which bytes matched. Keys are never logged.
 */
export class ApiKeyAuth {
  readonly #digests: readonly Buffer[];

  /** @param keys accepted keys; none turns authentication off. Each must be a non-empty string a client can present ({@link isPresentableKey}). */
  constructor(keys: readonly string[] = []) {
    for (const [i, key] of keys.entries()) {
      const problem = typeof key !== 'string' || key === '' ? 'must be a non-empty string' : isPresentableKey(key) ? undefined : API_KEY_RULE;
      if (problem !== undefined) {
        // The key itself is never repeated.
        throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', `auth.apiKeys[${i}] ${problem}`, {
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
