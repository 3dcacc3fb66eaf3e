import { createHash } from 'node:crypto';
import { TrackpipeError } from '@trackpipe/core';

/** What an accepted request with an idempotency key was answered, as remembered for its repeats. */
export interface RememberedAnswer {
  /** SHA-256 of the request body (after gzip), base64url: a repeat must carry the same body. */
  readonly fingerprint: string;
  /** The ids of the events it queued, in request order: the answer was `202 {"accepted": n, "ids": [...]}`. */
  readonly ids: readonly string[];
}

/**
 * Where recent idempotency keys are remembered. Keys arrive already scoped and hashed (see
 * {@link scopedKey}): a store never sees a client's key or credentials. Small on purpose, so
 * that another store (one kept in the spool, surviving restarts) can take the in-memory one's place.
 */
export interface IdempotencyStore {
  /** The answer remembered under `key`, or undefined when unknown or forgotten. */
  get(key: string): RememberedAnswer | undefined;
  /** Remembers `answer` under `key`. */
  set(key: string, answer: RememberedAnswer): void;
  /** Keys remembered now. */
  readonly size: number;
}

/** Options of a {@link MemoryIdempotencyStore}. Every field is optional; defaults follow each. */
export interface MemoryIdempotencyStoreOptions {
  /** Most keys remembered; past it the oldest are forgotten. Default 10 000. */
  maxKeys?: number;
  /**
   * How long a key is remembered, in ms. Keep it above the senders' retry budget (the HTTP
   * exporter gives up after 5 minutes by default). Default 600 000 (10 minutes).
   */
  ttlMs?: number;
  /** Most bytes of remembered answers (about 40 per event id); past it the oldest are forgotten. Default 33 554 432 (32 MiB). */
  maxBytes?: number;
  /** The clock, in ms. Default `Date.now`. */
  now?: () => number;
}

interface Entry {
  readonly fingerprint: string;
  /** The ids as one JSON string: compact, and safe for any id. */
  readonly ids: string;
  readonly at: number;
  readonly bytes: number;
}

function positiveInteger(option: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', `idempotency.${option} must be an integer >= 1 (got ${String(value)})`, {
      details: { option: `idempotency.${option}` },
    });
  }
  return value;
}

/**
 * The default {@link IdempotencyStore}: recent keys in memory, bounded by count, age and bytes;
 * the oldest go first. A forgotten key only means a late repeat is queued again — downstream
 * dedup on the event id still catches it.
 */
export class MemoryIdempotencyStore implements IdempotencyStore {
  readonly #maxKeys: number;
  readonly #ttlMs: number;
  readonly #maxBytes: number;
  readonly #now: () => number;
  /** In insertion order, which is age order. */
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;

  constructor(options: MemoryIdempotencyStoreOptions = {}) {
    this.#maxKeys = positiveInteger('maxKeys', options.maxKeys ?? 10_000);
    this.#ttlMs = positiveInteger('ttlMs', options.ttlMs ?? 600_000);
    this.#maxBytes = positiveInteger('maxBytes', options.maxBytes ?? 32 * 1024 * 1024);
    this.#now = options.now ?? Date.now;
  }

  get size(): number {
    this.#expire(this.#now());
    return this.#entries.size;
  }

  /** Bytes of remembered answers now (keys, fingerprints and ids). */
  get bytes(): number {
    return this.#bytes;
  }

  get(key: string): RememberedAnswer | undefined {
    this.#expire(this.#now());
    const entry = this.#entries.get(key);
    return entry === undefined ? undefined : { fingerprint: entry.fingerprint, ids: JSON.parse(entry.ids) as string[] };
  }

  set(key: string, answer: RememberedAnswer): void {
    const now = this.#now();
    this.#expire(now);
    this.#delete(key);
    const ids = JSON.stringify(answer.ids);
    const entry: Entry = { fingerprint: answer.fingerprint, ids, at: now, bytes: key.length + answer.fingerprint.length + ids.length + 64 };
    this.#entries.set(key, entry);
    this.#bytes += entry.bytes;
    for (const oldest of this.#entries.keys()) {
      if (this.#entries.size <= this.#maxKeys && this.#bytes <= this.#maxBytes) break;
      this.#delete(oldest);
    }
  }

  #expire(now: number): void {
    for (const [key, entry] of this.#entries) {
      if (now - entry.at < this.#ttlMs) break;
      this.#delete(key);
    }
  }

  #delete(key: string): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
  }
}

/** A valid `Idempotency-Key`: 1 to 255 visible ASCII characters. */
export function isValidIdempotencyKey(key: string): boolean {
  return /^[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?$/.test(key);
}

/**
 * The store key of a client's idempotency key: a SHA-256 over the route, the credential the
 * request presented (so one client's keys never answer another's) and the key itself.
 */
export function scopedKey(route: string, credential: string | undefined, key: string): string {
  return createHash('sha256').update(`${route}\0${credential ?? ''}\0${key}`, 'utf8').digest('base64url');
}

/** The fingerprint of a request body. */
export function fingerprintOf(body: Uint8Array): string {
  return createHash('sha256').update(body).digest('base64url');
}
