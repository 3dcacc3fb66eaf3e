// Opening the spool's LMDB environment: the directory checks, the crash-proof probe of existing files,
// the format marker, moving unreadable files aside, and the recovery scan.
import { spawnSync } from 'node:child_process';
import { constants, accessSync, existsSync, mkdirSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { type Logger, TrackpipeError, describeError } from '@trackpipe/core';
import { type Database, type RootDatabase, open } from 'lmdb';
import { readCount } from './codec.js';
import { SPOOL_FORMAT, SPOOL_UNAVAILABLE } from './constants.js';
import { RangeSet } from './ranges.js';

/** What `meta.state` holds; written with every commit. */
export interface PersistedState {
  /** The sequence number the next event gets (keys only grow, across restarts). */
  readonly next: number;
  /** Released (or dropped) sequence numbers inside groups that are still stored, as `[from, to]` pairs. */
  readonly released: readonly (readonly [number, number])[];
}

/** An open spool store and what the recovery scan found in it. */
export interface OpenedStore {
  readonly root: RootDatabase;
  readonly events: Database<string, number>;
  readonly meta: Database<unknown, string>;
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
}

class Corrupt extends Error {}

function unavailable(dir: string, what: string, cause?: unknown): TrackpipeError {
  const code = (cause as { code?: unknown } | undefined)?.code;
  return new TrackpipeError(SPOOL_UNAVAILABLE, `spool.path: the spool directory ${dir} ${what}${typeof code === 'string' ? ` (${code})` : ''}`, {
    cause,
    details: { field: 'spool.path', path: dir },
  });
}

const UNAVAILABLE_CODES = new Set(['EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EDQUOT', 'ENOTDIR', 'EISDIR', 'ENAMETOOLONG', 'ELOOP', 'EMFILE', 'ENFILE']);

function isUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && UNAVAILABLE_CODES.has(code)) return true;
  return /permission denied|read-only file system|no space left/i.test(describeError(error));
}

/** Creates the directory and checks the process can write in it; throws a TrackpipeError naming it. */
function ensureWritable(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw unavailable(dir, 'cannot be created', error);
  }
  try {
    accessSync(dir, constants.R_OK | constants.W_OK | constants.X_OK);
    // access() says yes to root on a read-only mount; a real write does not.
    const probe = join(dir, `.trackpipe-write-test-${process.pid}`);
    writeFileSync(probe, '');
    unlinkSync(probe);
  } catch (error) {
    throw unavailable(dir, 'is not writable', error);
  }
  for (const file of ['data.mdb', 'lock.mdb']) {
    const p = join(dir, file);
    if (!existsSync(p)) continue;
    try {
      accessSync(p, constants.R_OK | constants.W_OK);
    } catch (error) {
      throw unavailable(dir, `holds ${file}, which cannot be read and written`, error);
    }
  }
}

// LMDB trusts its file: a truncated or garbled data.mdb makes it crash the process (SIGSEGV, SIGBUS)
// instead of failing. So an existing file is first opened and walked by a child process; if that child
// dies, the file is moved aside and this process never maps it.
const PROBE = `
const [lmdbPath, dir, format] = process.argv.slice(1);
const { statSync } = require('node:fs');
const answer = (o) => process.stdout.write(JSON.stringify(o));
let env;
try {
  const { open } = require(lmdbPath);
  env = open({ path: dir, maxDbs: 4, readOnly: true });
  const stats = env.getStats();
  const size = statSync(dir + '/data.mdb').size;
  if ((stats.lastPageNumber + 1) * stats.pageSize > size) { answer({ ok: false, reason: 'the data file is truncated' }); process.exit(0); }
  for (const name of env.getKeys({})) if (name !== 'events' && name !== 'meta') { answer({ ok: false, reason: 'it holds a database that is not a spool\\'s' }); process.exit(0); }
  const meta = env.openDB({ name: 'meta', encoding: 'json' });
  const events = env.openDB({ name: 'events', encoding: 'string' });
  if (meta) { const f = meta.get('format'); if (f !== undefined && f !== Number(format)) { answer({ ok: false, reason: 'format ' + JSON.stringify(f) + ', expected ' + format }); process.exit(0); } meta.get('state'); }
  let groups = 0;
  if (events) for (const key of events.getKeys({})) { const b = events.getBinaryFast(key); if (b && b.length > 0) b[b.length - 1]; groups++; }
  answer({ ok: true, groups });
} catch (error) {
  answer({ ok: false, reason: String(error && error.message || error), code: error && error.code });
}
`;

type ProbeAnswer = { ok: true } | { ok: false; reason: string; code?: unknown };

/** Runs the probe on an existing data file: undefined when sound, else why not. Throws when the files are not accessible. */
function probe(dir: string, logger: Logger): string | undefined {
  const lmdbEntry = createRequire(import.meta.url).resolve('lmdb');
  const result = spawnSync(process.execPath, ['-e', PROBE, lmdbEntry, dir, String(SPOOL_FORMAT)], {
    encoding: 'utf8',
    timeout: 120_000,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (result.error !== undefined) {
    // Could not run the probe (or it ran too long): open in-process, with LMDB's own checks only.
    logger.warn(`spool ${dir}: could not check the files before opening them (${describeError(result.error)})`, { path: dir });
    return undefined;
  }
  if (result.signal !== null) return `reading it crashed LMDB (${result.signal})`;
  let answer: ProbeAnswer;
  try {
    answer = JSON.parse(result.stdout) as ProbeAnswer;
  } catch {
    return `reading it failed (exit code ${result.status})`;
  }
  if (answer.ok) return undefined;
  if (isUnavailable(answer)) throw unavailable(dir, 'cannot be read', answer);
  return answer.reason;
}

/** Moves the spool's files aside (the whole directory, or into a subdirectory when that fails); returns where. */
function moveAside(dir: string): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const sibling = `${dir}.corrupt-${stamp}`;
  try {
    renameSync(dir, sibling);
    mkdirSync(dir, { recursive: true });
    return sibling;
  } catch {
    const inside = join(dir, `corrupt-${stamp}`);
    try {
      mkdirSync(inside, { recursive: true });
      for (const file of ['data.mdb', 'lock.mdb']) {
        if (existsSync(join(dir, file))) renameSync(join(dir, file), join(inside, file));
      }
      return inside;
    } catch (error) {
      throw unavailable(dir, 'holds unreadable files that cannot be moved aside', error);
    }
  }
}

function openEnv(dir: string): { root: RootDatabase; events: Database<string, number>; meta: Database<unknown, string> } {
  const root = open({ path: dir, maxDbs: 4 });
  try {
    const events = root.openDB<string, number>({ name: 'events', encoding: 'string' });
    const meta = root.openDB<unknown, string>({ name: 'meta', encoding: 'json' });
    return { root, events, meta };
  } catch (error) {
    void root.close().catch(() => undefined);
    throw error;
  }
}

function isPair(p: unknown): p is [number, number] {
  return Array.isArray(p) && p.length === 2 && Number.isSafeInteger(p[0]) && Number.isSafeInteger(p[1]) && Number(p[0]) < Number(p[1]);
}

function readState(value: unknown): PersistedState {
  if (value === undefined) return { next: 0, released: [] };
  if (typeof value !== 'object' || value === null) throw new Corrupt('its state record is malformed');
  const { next, released } = value as Record<string, unknown>;
  if (typeof next !== 'number' || !Number.isSafeInteger(next) || !Array.isArray(released) || !released.every(isPair)) {
    throw new Corrupt('its state record is malformed');
  }
  return { next, released };
}

/** Reads and checks everything the spool needs from an open environment. Throws Corrupt when it does not add up. */
function recover(env: ReturnType<typeof openEnv>): OpenedStore {
  for (const name of env.root.getKeys({})) {
    if (name !== 'events' && name !== 'meta') throw new Corrupt("it holds a database that is not a spool's");
  }
  const format = env.meta.get('format');
  const hasEvents = env.events.getKeysCount({ limit: 1 }) > 0;
  if (format === undefined) {
    if (hasEvents || env.meta.get('state') !== undefined) throw new Corrupt('it has no format marker');
    env.meta.putSync('format', SPOOL_FORMAT);
  } else if (format !== SPOOL_FORMAT) {
    throw new Corrupt(`its format is ${JSON.stringify(format)}, this version reads ${SPOOL_FORMAT}`);
  }
  const state = readState(env.meta.get('state'));
  const released = RangeSet.from(state.released);
  let events = 0;
  let bytes = 0;
  let end = 0;
  let head: number | undefined;
  for (const key of env.events.getKeys({})) {
    if (!Number.isSafeInteger(key) || key < end) throw new Corrupt('its keys are not increasing sequence numbers');
    const value = env.events.getBinaryFast(key);
    const count = value === undefined ? -1 : readCount(value);
    if (count <= 0) throw new Corrupt(`the group at ${key} has no valid header`);
    bytes += value!.length;
    end = key + count;
    const live = count - released.countIn(key, end);
    events += live;
    if (head === undefined && live > 0) head = released.nextAbsent(key);
  }
  const next = Math.max(state.next, end);
  return { ...env, next, released, recovered: events, bytes, head: head ?? next };
}

/**
 * Opens (or creates) the spool store in `path`. A store that cannot be read — not an LMDB file, a
 * truncated or garbled one, another format — is moved aside (logged as an error naming both paths)
 * and an empty one is created. A directory that cannot be created, read or written throws a
 * TrackpipeError naming it.
 */
export function openStore(path: string, logger: Logger): OpenedStore {
  const dir = resolve(path);
  ensureWritable(dir);
  let problem: string | undefined;
  const data = join(dir, 'data.mdb');
  if (existsSync(data) && statSync(data).size > 0) problem = probe(dir, logger);
  if (problem === undefined) {
    let env: ReturnType<typeof openEnv> | undefined;
    try {
      env = openEnv(dir);
      return recover(env);
    } catch (error) {
      if (env !== undefined) void env.root.close().catch(() => undefined);
      if (!(error instanceof Corrupt) && isUnavailable(error)) throw unavailable(dir, 'cannot be opened', error);
      problem = error instanceof Corrupt ? error.message : `LMDB could not open it: ${describeError(error)}`;
    }
  }
  const movedTo = moveAside(dir);
  logger.error(`spool ${dir} could not be read (${problem}); its files were moved to ${movedTo} and the spool starts empty`, {
    path: dir,
    movedTo,
    reason: problem,
  });
  const env = openEnv(dir);
  try {
    return recover(env);
  } catch (error) {
    void env.root.close().catch(() => undefined);
    throw unavailable(dir, 'cannot hold a new spool', error);
  }
}
