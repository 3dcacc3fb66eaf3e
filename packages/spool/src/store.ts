// The spool's LMDB environment: its layout (SPOOL_FORMAT) and the recovery scan. Opening it safely
// (directory checks, the crash-proof probe, moving unreadable files aside) is lmdb-env.ts's.
import type { Logger } from '@trackpipe/core';
import type { Database, RootDatabase } from 'lmdb';
import { readCount, utf8From } from './codec.js';
import { SPOOL_FORMAT } from './constants.js';
import { type Checked, Corrupt, type EnvKind, openChecked, openRoot } from './lmdb-env.js';
import { RangeSet } from './ranges.js';

/** What `meta.state` holds; written with every commit. */
export interface PersistedState {
  /** The sequence number the next event gets (keys only grow, across restarts). */
  readonly next: number;
  /** Released (or dropped) sequence numbers inside groups that are still stored, as `[from, to]` pairs. */
  readonly released: readonly (readonly [number, number])[];
  /** Who wrote it: a token of the spool instance (absent in states written before it was kept). */
  readonly writer?: string;
}

/**
 * What identifies the state a spool last read or wrote: its writer and `next`. A commit that finds
 * another in the store knows another process wrote to the spool since (see the spool's `#write`).
 */
export function stateMark(value: unknown): string {
  if (typeof value !== 'object' || value === null) return 'none';
  const { writer, next } = value as Record<string, unknown>;
  return `${typeof writer === 'string' ? writer : '-'}@${String(next)}`;
}

/** The spool's open environment and its databases. */
export interface StoreHandles {
  readonly root: RootDatabase;
  readonly events: Database<string | Uint8Array, number>;
  readonly meta: Database<unknown, string>;
}

/** An open spool store and what the recovery scan found in it. */
export interface OpenedStore extends StoreHandles {
  /** The sequence number the next event gets. */
  readonly next: number;
  /** Released sequence numbers inside stored groups. */
  readonly released: RangeSet;
  /** Events stored and not released (what the spool recovered). */
  readonly recovered: number;
  /** Bytes of the stored groups. */
  readonly bytes: number;
  /** Sequence number of the first recovered event (`next` when none). */
  readonly head: number;
  /** {@link stateMark} of the state record found. */
  readonly mark: string;
  /**
   * The state record was damaged: read as empty (`next` from the stored groups, nothing released), so
   * events released before come back (exported again: at least once) instead of the spool being lost.
   */
  readonly stateDamaged: boolean;
  /** Groups whose header is damaged, by first key: where each ends (see {@link damagedEnd}). */
  readonly damaged: ReadonlyMap<number, number>;
}

function isPair(p: unknown): p is [number, number] {
  return Array.isArray(p) && p.length === 2 && Number.isSafeInteger(p[0]) && Number.isSafeInteger(p[1]) && Number(p[0]) < Number(p[1]);
}

/** The state record, or undefined when it is malformed (a damaged value). */
function readState(value: unknown): PersistedState | undefined {
  if (value === undefined) return { next: 0, released: [] };
  if (typeof value !== 'object' || value === null) return undefined;
  const { next, released } = value as Record<string, unknown>;
  if (typeof next !== 'number' || !Number.isSafeInteger(next) || !Array.isArray(released) || !released.every(isPair)) return undefined;
  return { next, released };
}

/**
 * Where a stored group whose header is damaged (no count, or one that runs into the next group) ends:
 * after the events of its JSON array when that still parses and fits, else at `bound` (the next
 * group's key, or the state's `next` for the last group). Its events are then read back like any
 * group's, and dropped, counted, when they do not decode: one damaged value loses itself only.
 */
function damagedEnd(value: Uint8Array | undefined, key: number, bound: number): number {
  if (value !== undefined) {
    try {
      const events: unknown = JSON.parse(utf8From(value, value.indexOf(0x0a) + 1));
      if (Array.isArray(events) && events.length > 0 && key + events.length <= bound) return key + events.length;
    } catch {
      // not even its array: it ends where the next one starts
    }
  }
  return bound;
}

/** Reads and checks everything the spool needs from an open environment. Throws Corrupt when it does not add up. */
function recover(root: RootDatabase, meta: Database<unknown, string>): OpenedStore {
  const env = { root, meta, events: openEvents(root) };
  const stored = env.meta.get('state');
  const readable = readState(stored);
  const state = readable ?? { next: 0, released: [] };
  const released = RangeSet.from(state.released);
  let events = 0;
  let bytes = 0;
  let end = 0;
  let head: number | undefined;
  const damaged = new Map<number, number>();
  const keys = Array.from(env.events.getKeys({}));
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i]!;
    if (!Number.isSafeInteger(key) || key < end) throw new Corrupt('its keys are not increasing sequence numbers');
    const value = env.events.getBinaryFast(key);
    const count = value === undefined ? -1 : readCount(value);
    // The next group's key bounds this one. The last one is bounded by the state's next key, written
    // in the same transaction as every group, when the state was read and the group starts below it
    // (a count past it is damaged: recovered and dropped counts would take it as given).
    const after = keys[i + 1];
    const following = after !== undefined && Number.isSafeInteger(after) && after > key ? after : undefined;
    const bound = following ?? (readable !== undefined && state.next > key ? state.next : undefined);
    bytes += value?.length ?? 0;
    if (count <= 0 || (bound !== undefined && key + count > bound)) {
      end = damagedEnd(value, key, bound ?? Math.max(state.next, key + 1));
      damaged.set(key, end);
    } else {
      end = key + count;
    }
    const live = end - key - released.countIn(key, end);
    events += live;
    if (head === undefined && live > 0) head = released.nextAbsent(key);
  }
  const next = Math.max(state.next, end);
  return { ...env, next, released, recovered: events, bytes, head: head ?? next, mark: stateMark(stored), damaged, stateDamaged: readable === undefined };
}


function openEvents(root: RootDatabase): Database<string | Uint8Array, number> {
  return root.openDB<string | Uint8Array, number>({ name: 'events', encoding: 'string' });
}

const SPOOL: EnvKind<OpenedStore> = { what: 'spool', databases: ['events'], format: SPOOL_FORMAT, recover };

/**
 * Opens (or creates) the spool store in `path`. A store that cannot be read — not an LMDB file, a
 * truncated or garbled one, another format — is moved aside (logged as an error naming both paths)
 * and an empty one is created. A directory that cannot be created, read or written, or that another
 * live process has open, throws a TrackpipeError naming it. The caller releases the ownership after
 * closing the store.
 */
export function openStore(path: string, logger: Logger): Checked<OpenedStore> {
  return openChecked(path, SPOOL, logger);
}

/**
 * Opens the environment of a store this process opened (and checked) before and has closed since:
 * the databases only, no checks, no recovery scan.
 */
export function reopenStore(path: string): StoreHandles {
  const root = openRoot(path);
  try {
    return { root, events: openEvents(root), meta: root.openDB<unknown, string>({ name: 'meta', encoding: 'json' }) };
  } catch (error) {
    void root.close().catch(() => undefined);
    throw error;
  }
}
