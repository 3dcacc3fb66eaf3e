import { createHash } from 'node:crypto';
import { durationOption, integerOption } from './options.js';

/** What an accepted request with an idempotency key was answered, as remembered for its repeats. */
export interface RememberedAnswer {
  /** SHA-256 of the request body (after gzip), base64url: a repeat must carry the same body. */
  readonly fingerprint: string;
  /** The ids of the events it queued, in request order: the answer was `202 {"accepted": n, "ids": [...]}`. */
  readonly ids: readonly string[];
}

/**
 * Where recent idempotency keys are remembered. Keys arrive already scoped and hashed (see
 * {@link scopedKey}): a store never sees a client's key or credentials.
 */
export interface IdempotencyStore {
  /** The answer remembered under `key`, or undefined when unknown or forgotten. */
  get(key: string): RememberedAnswer | undefined;
  /** Remembers `answer` under `key`. */
  set(key: string, answer: RememberedAnswer): void;
  /**
   * For a store that keeps keys on disk: resolves once every key set so far is committed (`false`
   * when a write failed). A request's acknowledgement waits for it as for its events'.
   */
  persisted?(): Promise<boolean>;
  /** Keys remembered now. */
  readonly size: number;
  /** Releases the store's files, if it has any; the service calls it last when it stops. */
  close?(): Promise<void>;
}

/** What a remembered answer is on disk: the fingerprint, and the ids as one JSON string. */
export interface PersistedAnswer {
  readonly fingerprint: string;
  readonly ids: string;
}

/**
 * Where a {@link MemoryIdempotencyStore} writes its keys through, so that a restarted service still
 * knows the answers it gave: a `KeyStore` of @trackpipe/spool, kept beside the spool.
 */
export interface IdempotencyPersistence {
  /** Every record, oldest first. */
  load(): Iterable<readonly [string, { readonly at: number; readonly value: unknown }]>;
  put(key: string, record: { at: number; value: PersistedAnswer }): Promise<void>;
  remove(key: string): void;
  close(): Promise<void>;
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
  /** Writes every key through to disk and loads the ones still fresh at start. Default: memory only. */
  persistence?: IdempotencyPersistence;
}

interface Entry {
  readonly fingerprint: string;
  /** The ids as one JSON string: compact, and safe for any id. */
  readonly ids: string;
  readonly at: number;
  readonly bytes: number;
}

function isPersistedAnswer(value: unknown): value is PersistedAnswer {
  return typeof value === 'object' && value !== null && typeof (value as PersistedAnswer).fingerprint === 'string' && typeof (value as PersistedAnswer).ids === 'string';
}

/**
 * The default {@link IdempotencyStore}: recent keys in memory, bounded by count, age and bytes;
 * the oldest go first. A forgotten key only means a late repeat is queued again — downstream
 * dedup on the event id still catches it. With `persistence` every key is also written to disk
 * (and forgotten there with the same bounds), and the keys still fresh are loaded at start.
 */
export class MemoryIdempotencyStore implements IdempotencyStore {
  readonly #maxKeys: number;
  readonly #ttlMs: number;
  readonly #maxBytes: number;
  readonly #now: () => number;
  readonly #persistence: IdempotencyPersistence | undefined;
  /** The last write to disk: true once committed, false when it failed (writes commit in order). */
  #written: Promise<boolean> = Promise.resolve(true);
  /** In insertion order, which is age order. */
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;

  constructor(options: MemoryIdempotencyStoreOptions = {}) {
    this.#maxKeys = integerOption('idempotency.maxKeys', options.maxKeys, 10_000, 1);
    this.#ttlMs = durationOption('idempotency.ttlMs', options.ttlMs, 600_000);
    this.#maxBytes = integerOption('idempotency.maxBytes', options.maxBytes, 32 * 1024 * 1024, 1);
    this.#now = options.now ?? Date.now;
    this.#persistence = options.persistence;
    if (this.#persistence !== undefined) this.#load(this.#persistence);
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
    if (entry === undefined) return undefined;
    let ids: unknown;
    try {
      ids = JSON.parse(entry.ids);
    } catch {
      return undefined; // a record read from disk that is not ours: as if forgotten
    }
    return Array.isArray(ids) && ids.every((id) => typeof id === 'string') ? { fingerprint: entry.fingerprint, ids } : undefined;
  }

  set(key: string, answer: RememberedAnswer): void {
    const now = this.#now();
    this.#expire(now);
    const ids = JSON.stringify(answer.ids);
    this.#add(key, answer.fingerprint, ids, now);
    const persistence = this.#persistence;
    if (persistence === undefined) return;
    this.#written = (async () => {
      try {
        await persistence.put(key, { at: now, value: { fingerprint: answer.fingerprint, ids } });
        return true;
      } catch {
        return false;
      }
    })();
  }

  /** Resolves once every key set so far is on disk (at once without persistence); false when a write failed. */
  persisted(): Promise<boolean> {
    return this.#written;
  }

  /** Releases the persistence's files (commits what is pending first). */
  async close(): Promise<void> {
    await this.#persistence?.close();
  }

  #load(persistence: IdempotencyPersistence): void {
    const now = this.#now();
    for (const [key, { at, value }] of persistence.load()) {
      if (isPersistedAnswer(value) && now - at < this.#ttlMs) this.#add(key, value.fingerprint, value.ids, at);
      else persistence.remove(key);
    }
  }

  #add(key: string, fingerprint: string, ids: string, at: number): void {
    this.#delete(key, false);
    const entry: Entry = { fingerprint, ids, at, bytes: key.length + fingerprint.length + ids.length + 64 };
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

  /** Forgets `key`; on disk too unless it is about to be written again. */
  #delete(key: string, onDisk = true): void {
    const entry = this.#entries.get(key);
    if (entry === undefined) return;
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
    if (onDisk) this.#persistence?.remove(key);
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
