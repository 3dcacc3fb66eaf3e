import type { Logger } from '@trackpipe/core';
import type { Database, RootDatabase } from 'lmdb';
import { type EnvKind, closeEnv, commitFailure, openChecked } from './lmdb-env.js';
import type { Ownership } from './owner.js';

/**
 * The version of a {@link KeyStore}'s layout: a named database `records` (key: a string; value, JSON:
 * `{ at, value }`) beside `meta` (`format`).
 */
export const KEY_STORE_FORMAT = 1;

/** A record of a {@link KeyStore}: a JSON value and when it was written (ms since the epoch). */
export interface KeptRecord<V> {
  readonly at: number;
  readonly value: V;
}

type Records = Database<KeptRecord<unknown>, string>;

const KIND: EnvKind<{ root: RootDatabase; records: Records }> = {
  what: 'idempotency key store',
  databases: ['records'],
  format: KEY_STORE_FORMAT,
  recover: (root) => ({ root, records: root.openDB<KeptRecord<unknown>, string>({ name: 'records', encoding: 'json' }) }),
};

function isRecord(value: unknown): value is KeptRecord<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { at?: unknown }).at === 'number' && 'value' in value;
}

/**
 * A small map on disk, kept beside a spool for state that must survive a restart with the events:
 * the service keeps its recent idempotency keys here. It is written through (the caller keeps the
 * map in memory and bounds it); `put`s share LMDB's asynchronous commits. Opening it is as safe as
 * opening a spool: unreadable files are moved aside and it starts empty.
 */
export class KeyStore<V> {
  readonly #root: RootDatabase;
  readonly #records: Records;
  readonly #owner: Ownership;

  private constructor(opened: { root: RootDatabase; records: Records }, owner: Ownership) {
    this.#root = opened.root;
    this.#records = opened.records;
    this.#owner = owner;
  }

  /**
   * Opens (or creates) the store in the directory `path`, which it owns until `close()` (one process
   * per directory, as a spool). Throws TRACKPIPE_ERR_SPOOL_UNAVAILABLE when the directory cannot be
   * used or another live process has it open.
   */
  static open<V>(path: string, logger: Logger): KeyStore<V> {
    const { opened, owner } = openChecked(path, KIND, logger);
    return new KeyStore<V>(opened, owner);
  }

  /** Every record, oldest first; records that are not `{ at, value }` are skipped. */
  load(): [string, KeptRecord<V>][] {
    const out: [string, KeptRecord<V>][] = [];
    for (const { key, value } of this.#records.getRange({})) {
      if (typeof key === 'string' && isRecord(value)) out.push([key, value as KeptRecord<V>]);
    }
    return out.sort((a, b) => a[1].at - b[1].at);
  }

  /** Writes a record; resolves once it is committed (rejects when the commit failed). */
  async put(key: string, record: KeptRecord<V>): Promise<void> {
    await this.#records.put(key, record).catch((error: unknown) => {
      throw commitFailure(error);
    });
  }

  /**
   * Removes a record (committed with the next writes; nothing waits for it). Never throws: a key
   * LMDB refuses at once (longer than its largest key) was never stored, so there is nothing to remove.
   */
  remove(key: string): void {
    try {
      this.#records.remove(key).catch(commitFailure);
    } catch {
      // refused before any write: nothing stored under it
    }
  }

  /** Commits what is pending, closes the files and gives the directory up. */
  async close(): Promise<void> {
    try {
      await closeEnv(this.#root);
    } finally {
      this.#owner.release();
    }
  }
}
