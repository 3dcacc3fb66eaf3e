import { describeError } from '../errors.js';

/** An exporter's answer, checked: what the processor acts on. */
export type Answer =
  | { readonly kind: 'ok' }
  | { readonly kind: 'retry'; readonly retryAfterMs: number | undefined; readonly auth: boolean; readonly error: unknown }
  /** `rejected` events of the batch were refused for good (all of them, or those at the given indexes, or a count). */
  | { readonly kind: 'reject'; readonly rejected: number; readonly auth: boolean; readonly error: unknown }
  | { readonly kind: 'too_large'; readonly error: unknown }
  /** The exporter threw, or answered something that is not an ExportResult: `why` says what. */
  | { readonly kind: 'malformed'; readonly why: string; readonly error: unknown };

/** An exporter that threw (or rejected its promise) instead of answering an ExportResult. */
export class Thrown {
  constructor(readonly error: unknown) {}
}

/**
 * Checks whatever an exporter's `export()` came to — an ExportResult, a {@link Thrown}, or anything
 * at all: `null`, an object whose getters throw, indexes that are not a list or out of range — and
 * says what the processor should do, for a batch of `n` events. Never throws.
 */
export function readAnswer(outcome: unknown, n: number): Answer {
  if (outcome instanceof Thrown) return { kind: 'malformed', why: `threw: ${describeError(outcome.error)}`, error: outcome.error };
  try {
    if (outcome === null || typeof outcome !== 'object') return malformed(`answered ${typeof outcome}, not an ExportResult`);
    const result = outcome as Record<string, unknown>;
    const code = result.code;
    switch (code) {
      case 'ok':
        return { kind: 'ok' };
      case 'retry': {
        const hint = result.retryAfterMs;
        return {
          kind: 'retry',
          retryAfterMs: typeof hint === 'number' && hint >= 0 ? hint : undefined,
          auth: result.auth === true,
          error: result.error,
        };
      }
      case 'reject': {
        const rejected = rejectedCount(result.indexes, result.count, n);
        if (typeof rejected === 'string') return malformed(rejected);
        return { kind: 'reject', rejected, auth: result.auth === true, error: result.error };
      }
      case 'too_large':
        return { kind: 'too_large', error: result.error };
      default:
        return malformed(`answered code ${typeof code === 'string' ? JSON.stringify(code.slice(0, 40)) : typeof code}, not ok, retry, reject or too_large`);
    }
  } catch (error) {
    return { kind: 'malformed', why: `answered an object that could not be read (${describeError(error)})`, error };
  }
}

function malformed(why: string): Answer {
  return { kind: 'malformed', why, error: undefined };
}

/** The longest list of indexes a `reject` may give (duplicates are allowed, so it may exceed the batch). */
const MAX_INDEXES = 1_000_000;

/** How many events a `reject` refused, or what is wrong with its `indexes` / `count`. */
function rejectedCount(indexes: unknown, count: unknown, n: number): number | string {
  if (indexes !== undefined) {
    if (!Array.isArray(indexes)) return `answered reject with indexes that are not a list`;
    // Read by position up to a bound, never through the list's iterator: a proxy or a subclass may
    // make that endless, or claim a length of billions.
    const length: unknown = (indexes as unknown[]).length;
    if (typeof length !== 'number' || !Number.isSafeInteger(length) || length < 0 || length > MAX_INDEXES) {
      return `answered reject with more than ${MAX_INDEXES} indexes`;
    }
    const seen = new Set<number>();
    for (let k = 0; k < length; k++) {
      const i: unknown = (indexes as unknown[])[k];
      if (typeof i !== 'number' || !Number.isInteger(i) || i < 0 || i >= n) {
        return `answered reject with an index that is not an integer from 0 to ${n - 1}`;
      }
      seen.add(i);
    }
    return seen.size;
  }
  if (count !== undefined) {
    if (typeof count !== 'number' || !Number.isInteger(count) || count < 0 || count > n) {
      return `answered reject with a count that is not an integer from 0 to ${n}`;
    }
    return count;
  }
  return n;
}
