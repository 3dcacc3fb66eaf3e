// Opening an LMDB environment this package keeps (the spool, the service's idempotency keys): the
// directory checks, taking ownership of the directory (owner.ts), the crash-proof probe of existing
// files, the format marker, and moving unreadable files aside so that a process starts empty instead
// of crash-looping.
import { spawnSync } from 'node:child_process';
import { type Stats, constants, accessSync, existsSync, lstatSync, mkdirSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { type Logger, TrackpipeError, describeError } from '@trackpipe/core';
import { within } from '@trackpipe/core/internal';
import { type Database, type RootDatabase, open } from 'lmdb';
import { SPOOL_UNAVAILABLE } from './constants.js';
import { type Ownership, isOwnerFile, takeOwnership } from './owner.js';
import { guardLogger } from './safe-logger.js';

/** What a directory holds: its named databases and the version of their layout. */
export interface EnvKind<T> {
  /** What it is, in messages: `spool`, `idempotency key store`. */
  readonly what: string;
  /** Its named databases besides `meta` (JSON; holds the `format` marker and whatever the kind keeps there). */
  readonly databases: readonly string[];
  /** The layout version written to `meta.format`; files of another version are moved aside. */
  readonly format: number;
  /** Opens the databases and reads back what the kind needs. Throws {@link Corrupt} when the contents do not add up. */
  readonly recover: (root: RootDatabase, meta: Database<unknown, string>) => T;
}

/** "a spool", "an idempotency key store". */
const aWhat = (kind: EnvKind<unknown>): string => `${/^[aeiou]/.test(kind.what) ? 'an' : 'a'} ${kind.what}`;

/** Thrown by a recovery that found contents it cannot trust: the files are moved aside. */
export class Corrupt extends Error {}

function unavailable(dir: string, what: string, problem: string, cause?: unknown): TrackpipeError {
  const code = (cause as { code?: unknown } | undefined)?.code;
  return new TrackpipeError(SPOOL_UNAVAILABLE, `spool.path: the ${what} directory ${dir} ${problem}${typeof code === 'string' ? ` (${code})` : ''}`, {
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

/** Why `dir` could not be created: what is in its place, when that says more than the system error. */
function whyNotCreated(dir: string, error: unknown): string {
  try {
    const stats = lstatSync(dir);
    if (stats.isSymbolicLink()) return existsSync(dir) ? 'is a link to what is not a directory' : 'is a link that leads nowhere';
    if (!stats.isDirectory()) return 'is not a directory';
  } catch {
    // absent: the system error says why
  }
  return (error as { code?: unknown } | undefined)?.code === 'ENOTDIR' ? 'cannot be created: a part of its path is not a directory' : 'cannot be created';
}

/** Creates the directory and checks the process can write in it; throws a TrackpipeError naming it. */
function ensureWritable(dir: string, what: string): void {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw unavailable(dir, what, whyNotCreated(dir, error), error);
  }
  try {
    accessSync(dir, constants.R_OK | constants.W_OK | constants.X_OK);
    // access() says yes to root on a read-only mount; a real write does not.
    const probe = join(dir, `.trackpipe-write-test-${process.pid}`);
    writeFileSync(probe, '');
    unlinkSync(probe);
  } catch (error) {
    throw unavailable(dir, what, 'is not writable', error);
  }
  for (const file of ['data.mdb', 'lock.mdb']) {
    const p = join(dir, file);
    if (!existsSync(p)) continue;
    try {
      accessSync(p, constants.R_OK | constants.W_OK);
    } catch (error) {
      throw unavailable(dir, what, `holds ${file}, which cannot be read and written`, error);
    }
  }
}

/** Starts the probe's answer line: anything else the child writes to stdout (a preloaded module's banner) is not the answer. */
const ANSWER_MARK = '@trackpipe-probe-answer ';

// LMDB trusts its file: a truncated or garbled data.mdb makes it crash the process (SIGSEGV, SIGBUS)
// instead of failing. So an existing file is first opened and walked by a child process; if that child
// dies, the file is moved aside and this process never maps it.
const PROBE = `
const [lmdbPath, dir, format, names, what] = process.argv.slice(1);
const { statSync } = require('node:fs');
const answer = (o) => process.stdout.write('\\n${ANSWER_MARK}' + JSON.stringify(o) + '\\n');
const expected = JSON.parse(names);
let env;
try {
  const { open } = require(lmdbPath);
  env = open({ path: dir, maxDbs: 8, readOnly: true, noSubdir: false });
  const stats = env.getStats();
  const size = statSync(dir + '/data.mdb').size;
  if ((stats.lastPageNumber + 1) * stats.pageSize > size) { answer({ ok: false, reason: 'the data file is truncated' }); process.exit(0); }
  for (const name of env.getKeys({})) if (name !== 'meta' && !expected.includes(name)) { answer({ ok: false, reason: 'it holds a database that is not ' + what + "'s" }); process.exit(0); }
  const meta = env.openDB({ name: 'meta', encoding: 'json' });
  if (meta) { const f = meta.get('format'); if (f !== undefined && f !== Number(format)) { answer({ ok: false, reason: 'format ' + JSON.stringify(f) + ', expected ' + format }); process.exit(0); } for (const key of meta.getKeys({})) meta.get(key); }
  for (const name of expected) {
    const db = env.openDB({ name, encoding: 'binary' });
    if (db) for (const key of db.getKeys({})) { const b = db.getBinaryFast(key); if (b && b.length > 0) b[b.length - 1]; }
  }
  answer({ ok: true });
} catch (error) {
  answer({ ok: false, reason: String(error && error.message || error), code: error && error.code });
}
`;

type ProbeAnswer = { ok: true } | { ok: false; reason: string; code?: unknown };

/** Runs the probe on an existing data file: undefined when sound, else why not. Throws when the files are not accessible. */
function probe(dir: string, kind: EnvKind<unknown>, logger: Logger): string | undefined {
  const lmdbEntry = createRequire(import.meta.url).resolve('lmdb');
  // Without NODE_OPTIONS: the probe needs none of it, and a --require there could write to stdout,
  // fail, or load what the probe should not (its answer would be lost and sound files moved aside).
  const { NODE_OPTIONS: _options, ...env } = process.env;
  const result = spawnSync(process.execPath, ['-e', PROBE, lmdbEntry, dir, String(kind.format), JSON.stringify(kind.databases), aWhat(kind)], {
    encoding: 'utf8',
    timeout: 120_000,
    stdio: ['ignore', 'pipe', 'pipe'],
    env,
  });
  if (result.error !== undefined) {
    // Could not run the probe (or it ran too long): open in-process, with LMDB's own checks only.
    logger.warn(`${kind.what} ${dir}: could not check the files before opening them (${describeError(result.error)})`, { path: dir });
    return undefined;
  }
  if (result.signal !== null) return `reading it crashed LMDB (${result.signal})`;
  let answer: ProbeAnswer;
  try {
    const at = result.stdout.lastIndexOf(ANSWER_MARK);
    if (at < 0) throw new Error('no answer');
    const line = result.stdout.slice(at + ANSWER_MARK.length);
    answer = JSON.parse(line.slice(0, line.indexOf('\n'))) as ProbeAnswer;
  } catch {
    return `reading it failed (exit code ${result.status})`;
  }
  if (answer.ok) return undefined;
  if (isUnavailable(answer)) throw unavailable(dir, kind.what, 'cannot be read', answer);
  return answer.reason;
}

const KINDS: readonly [(s: Stats) => boolean, string][] = [
  [(s) => s.isDirectory(), 'a directory'],
  [(s) => s.isFIFO(), 'a FIFO'],
  [(s) => s.isCharacterDevice() || s.isBlockDevice(), 'a device'],
  [(s) => s.isSocket(), 'a socket'],
];

/**
 * Why `data.mdb` or `lock.mdb` in `dir` cannot be LMDB's files, or undefined: `data.mdb` must be
 * absent or (a link to) a regular file, `lock.mdb` absent or a regular file. LMDB would map a device
 * or a FIFO, or fail on a directory, crashing the process (a link to /dev/zero, a FIFO) instead of
 * failing; and it rewrites a lock file it does not recognise, wherever a link leads.
 */
function notRegularFile(dir: string): string | undefined {
  for (const file of ['data.mdb', 'lock.mdb']) {
    const p = join(dir, file);
    try {
      lstatSync(p);
    } catch {
      continue; // absent
    }
    let stats: Stats;
    try {
      stats = statSync(p);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      return `${file} is a link that leads nowhere${typeof code === 'string' ? ` (${code})` : ''}`;
    }
    // LMDB rewrites a lock file it does not recognise: through a link, that is a file elsewhere.
    if (file === 'lock.mdb' && stats.isFile() && lstatSync(p).isSymbolicLink()) return 'lock.mdb is a link to a file (LMDB would rewrite the file it leads to)';
    if (stats.isFile()) continue;
    const kind = KINDS.find(([is]) => is(stats))?.[1];
    return kind === undefined ? `${file} is not a regular file` : `${file} is ${kind}, not a regular file`;
  }
  return undefined;
}

/**
 * Moves the files aside, into a sibling `<dir>.corrupt-<stamp>` (or, when that fails, into a
 * subdirectory `<dir>/corrupt-<stamp>`); returns where. The owner files stay: the directory stays
 * this process's while it starts anew (moving the directory itself would let another process take
 * the path meanwhile).
 */
function moveAside(dir: string, what: string): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const sibling = `${dir}.corrupt-${stamp}`;
  try {
    mkdirSync(sibling);
    for (const name of readdirSync(dir)) if (!isOwnerFile(name)) renameSync(join(dir, name), join(sibling, name));
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
      throw unavailable(dir, what, 'holds unreadable files that cannot be moved aside', error);
    }
  }
}

/**
 * Opens the LMDB environment in `dir` as every kind here uses it; no checks (see {@link openChecked}).
 * Also how the spool opens its environment again after reading much of it (see its `#remap`).
 */
export function openRoot(dir: string): RootDatabase {
  // noSubdir: false, or lmdb-js opens a directory whose name has a dot ('spool.d') as a file (EISDIR).
  // eventTurnBatching: false, or lmdb-js starts each event turn's batch with a promise of its own that
  // nobody can handle, and a failed commit (a full disk) rejects it: an unhandled rejection that ends
  // the process. Commits here are transactions (the spool) or single writes (keys): nothing to batch.
  return open({ path: dir, maxDbs: 8, noSubdir: false, eventTurnBatching: false });
}

/** Opens the environment, checks its databases and format marker (writing it when new), then recovers. */
function openAndRecover<T>(dir: string, kind: EnvKind<T>): T {
  const root = openRoot(dir);
  try {
    for (const name of root.getKeys({})) {
      if (name !== 'meta' && !kind.databases.includes(String(name))) throw new Corrupt(`it holds a database that is not ${aWhat(kind)}'s`);
    }
    const meta = root.openDB<unknown, string>({ name: 'meta', encoding: 'json' });
    const format = meta.get('format');
    if (format === undefined) {
      const used = meta.getKeysCount({ limit: 1 }) > 0 || kind.databases.some((name) => root.openDB({ name }).getKeysCount({ limit: 1 }) > 0);
      if (used) throw new Corrupt('it has no format marker');
      meta.putSync('format', kind.format);
    } else if (format !== kind.format) {
      throw new Corrupt(`its format is ${JSON.stringify(format)}, this version reads ${kind.format}`);
    }
    return kind.recover(root, meta);
  } catch (error) {
    void root.close().catch(() => undefined);
    throw error;
  }
}

/** An environment opened by {@link openChecked}, with the ownership of its directory. */
export interface Checked<T> {
  readonly opened: T;
  /** This process's ownership of the directory: release it after closing the environment. */
  readonly owner: Ownership;
}

/**
 * Opens (or creates) the LMDB environment of `kind` in `path`, after taking ownership of the
 * directory (see owner.ts): a directory another live process has open throws a TrackpipeError
 * (TRACKPIPE_ERR_SPOOL_UNAVAILABLE) naming it and that process, before any file is read. Files that
 * cannot be read — not LMDB, truncated or garbled, another format or kind — are moved aside (logged as
 * an error naming both paths) and an empty environment is created. A directory that cannot be
 * created, read or written throws a TrackpipeError (TRACKPIPE_ERR_SPOOL_UNAVAILABLE) naming it.
 */
export function openChecked<T>(path: string, kind: EnvKind<T>, given: Logger): Checked<T> {
  const logger = guardLogger(given);
  const dir = resolve(path);
  ensureWritable(dir, kind.what);
  let owner: Ownership;
  try {
    owner = takeOwnership(dir, kind.what, logger);
  } catch (error) {
    if (error instanceof TrackpipeError) throw error;
    throw unavailable(dir, kind.what, 'cannot be taken for this process', error);
  }
  try {
    return { opened: openOwned(dir, kind, logger), owner };
  } catch (error) {
    owner.release();
    throw error;
  }
}

function openOwned<T>(dir: string, kind: EnvKind<T>, logger: Logger): T {
  let problem = notRegularFile(dir);
  const data = join(dir, 'data.mdb');
  if (problem === undefined && existsSync(data) && statSync(data).size > 0) problem = probe(dir, kind, logger);
  if (problem === undefined) {
    try {
      return openAndRecover(dir, kind);
    } catch (error) {
      if (!(error instanceof Corrupt) && isUnavailable(error)) throw unavailable(dir, kind.what, 'cannot be opened', error);
      problem = error instanceof Corrupt ? error.message : `LMDB could not open it: ${describeError(error)}`;
    }
  }
  const movedTo = moveAside(dir, kind.what);
  logger.error(`${kind.what} ${dir} could not be read (${problem}); its files were moved to ${movedTo} and the ${kind.what} starts empty`, {
    path: dir,
    movedTo,
    reason: problem,
  });
  try {
    return openAndRecover(dir, kind);
  } catch (error) {
    throw unavailable(dir, kind.what, `cannot hold a new ${kind.what}`, error);
  }
}

/**
 * lmdb-js rejects each write of a failed commit (the disk full, an I/O error, a file size limit) with
 * an error whose `commitError` is one more rejected promise, holding the cause. Unhandled, that promise
 * ends the process: every writer passes the errors of its writes through here, which handles it.
 * Returns `error`.
 */
export function commitFailure(error: unknown): unknown {
  const cause = (error as { commitError?: unknown } | null | undefined)?.commitError;
  if (cause instanceof Promise) cause.catch(() => undefined);
  return error;
}

/** How long {@link closeEnv} waits for lmdb-js to close an environment. */
const CLOSE_WAIT_MS = 2_000;

/**
 * Closes an environment. lmdb-js's `close()` first waits for the flush of the last commit, which
 * never comes when that commit failed (the disk full): the wait is bounded, then the files are left
 * to the process's exit, and what could not be committed was already reported by the caller.
 */
export async function closeEnv(root: RootDatabase): Promise<void> {
  const closing = root.close();
  closing.catch(() => undefined); // a rejection after the wait must not go unhandled
  await within(closing, CLOSE_WAIT_MS, undefined);
}
