// One process per spool directory: the process that opens a directory takes ownership of it first,
// through an owner file, and a second process is refused at open with an error naming the directory
// and the owner's pid. (The writer token each commit checks stays as the second line of defence, for
// a directory where these files do not hold: a network filesystem shared by hosts that cannot check
// each other's processes, a user deleting them.)
//
// The protocol, and why it is safe when several processes open or take over at the same moment:
//
// - Owner files are `owner.<n>.lock`, n = 0, 1, 2, … (a generation). **The owner is the holder of the
//   highest generation.** A file is created with its whole content: written to a temporary file of
//   our own (O_EXCL | O_NOFOLLOW, flushed), then hard-linked under its generation's name. link(2) is
//   atomic and exclusive — it fails with EEXIST when the name exists, and never follows a link there —
//   so of the processes that want generation n + 1, exactly one gets it, and no reader ever sees a
//   half-written owner file.
// - To open: read the highest generation n. No file: take 0. Its owner alive: refused. Stale (its
//   process is gone, or it was released, or it is not an owner file at all): take n + 1. Then list
//   the generations again: a process that finds one above its own backs off (removes its file and
//   starts over). A higher generation can only be taken by a process that judged the one below stale,
//   and a live owner is never judged stale, so the highest holder is the one owner; a process that
//   read an older listing and took a generation that was free again lands below the highest and backs
//   off.
// - That needs the highest generation never to disappear: an owner releases by adding a `released`
//   file one generation up (then removes its own), and removes only generations below its own
//   (never the highest). Removing a stale owner file is never needed to take over, so there is no
//   window in which two processes both think they removed "the" stale file.
// - Liveness: `process.kill(pid, 0)` (EPERM: alive, another user's), on the same host only (the host
//   name is in the file). A pid can be reused: on Linux the file also holds the owner's start time
//   (`/proc/<pid>/stat`, field 22) and the boot id, so a process with the same pid that started at
//   another time, a zombie, or a file from before a reboot is stale. A pid equal to ours is stale
//   unless this process holds the file (a container restarts as pid 1). Files of another host cannot
//   be checked so: their owner refreshes its file's modification time every OWNER_REFRESH_MS, and one
//   not refreshed for OWNER_STALE_MS is stale.
// - A file that is not an owner file (garbage, empty, a symbolic link, a directory, a FIFO) is stale:
//   taken over with a warning; it is never followed, opened for writing or read beyond 4 KiB. A file
//   that cannot be read (permissions) may be another user's live owner: refused, naming it.
import { randomUUID } from 'node:crypto';
import { closeSync, constants, fstatSync, fsyncSync, futimesSync, linkSync, lstatSync, openSync, readFileSync, readSync, readdirSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { type Logger, TrackpipeError, describeError } from '@trackpipe/core';
import { SPOOL_UNAVAILABLE } from './constants.js';

/** How often an owner refreshes its file's modification time (for processes of other hosts). */
const OWNER_REFRESH_MS = 10_000;
/** An owner file of another host not refreshed for this long is stale. */
const OWNER_STALE_MS = 60_000;

const OWNER_FILE = /^owner\.(0|[1-9][0-9]{0,14})\.lock$/;
const ownerName = (generation: number): string => `owner.${generation}.lock`;
/** Owner files in a directory: what moving unreadable files aside leaves in place. */
export const isOwnerFile = (name: string): boolean => OWNER_FILE.test(name) || name.startsWith('.owner-');

/** What an owner file holds (JSON). */
interface OwnerRecord {
  readonly pid: number;
  readonly host: string;
  /** Linux boot id, '' elsewhere. */
  readonly boot: string;
  /** Start time of the process (clock ticks since boot, /proc/<pid>/stat), '' when unknown. */
  readonly start: string;
  readonly since: string;
  readonly token: string;
  /** The owner closed the directory: the file only keeps the generation. */
  readonly released?: boolean;
}

/**
 * Owner files this process holds, as `<device>:<inode>` (the file, not the name a path gives it: a
 * link to the directory finds the same): a pid equal to ours is ours only if listed here.
 */
const held = new Set<string>();
const fileId = (stats: { dev: number; ino: number }): string => `${stats.dev}:${stats.ino}`;

function readSmall(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

const BOOT = readSmall('/proc/sys/kernel/random/boot_id')?.trim() ?? '';

/** The start time and state of process `pid` from /proc (Linux), or undefined. */
function procStat(pid: number | 'self'): { start: string; state: string } | undefined {
  const text = readSmall(`/proc/${pid}/stat`);
  if (text === undefined) return undefined;
  // "pid (comm) state ppid …": comm may hold spaces and parentheses; the fields after its last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const start = fields[19];
  return start === undefined || fields[0] === undefined ? undefined : { start, state: fields[0] };
}

/** What a directory's highest owner file says. */
type Verdict =
  | { readonly alive: true; readonly who: string; readonly pid?: number; readonly self?: true }
  | { readonly alive: false; readonly why?: string }
  | { readonly gone: true };

function describeOwner(record: OwnerRecord, local: boolean): string {
  return `pid ${record.pid}${local ? '' : ` on host ${JSON.stringify(record.host)}`}, owner since ${record.since}`;
}

function parse(text: string): OwnerRecord | undefined {
  try {
    const r = JSON.parse(text) as Partial<OwnerRecord> | null;
    if (r === null || typeof r !== 'object' || !Number.isSafeInteger(r.pid) || (r.pid as number) <= 0 || typeof r.host !== 'string') return undefined;
    return {
      pid: r.pid as number,
      host: r.host.slice(0, 255),
      boot: typeof r.boot === 'string' ? r.boot : '',
      start: typeof r.start === 'string' ? r.start : '',
      // Both go into messages: a time as we write it, a host name of at most 255 characters (quoted, escaped, in messages).
      since: typeof r.since === 'string' && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$/.test(r.since) ? r.since : 'an unknown time',
      token: typeof r.token === 'string' ? r.token : '',
      ...(r.released === true ? { released: true } : {}),
    };
  } catch {
    return undefined;
  }
}

/** Whether the owner recorded in `file` (the highest generation) may still be running. */
function judge(file: string, what: string, dir: string): Verdict {
  let stats;
  try {
    stats = lstatSync(file);
  } catch {
    return { gone: true };
  }
  if (stats.isSymbolicLink()) return { alive: false, why: 'it is a symbolic link, not an owner file (not followed)' };
  if (!stats.isFile()) return { alive: false, why: 'it is not a regular file' };
  let text: string;
  let fd: number;
  try {
    // O_NOFOLLOW: replaced by a link since the lstat, it is not followed; O_NONBLOCK: nor a FIFO waited on.
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 'ENOENT') return { gone: true };
    if (code === 'ELOOP') return { alive: false, why: 'it is a symbolic link, not an owner file (not followed)' };
    throw new TrackpipeError(
      SPOOL_UNAVAILABLE,
      `spool.path: the ${what} directory ${dir} has an owner file ${file} that cannot be read (${typeof code === 'string' ? code : describeError(error)}): another user's process may have it open; remove the file once no process uses the directory`,
      { cause: error, details: { field: 'spool.path', path: dir, ownerFile: file } },
    );
  }
  try {
    if (!fstatSync(fd).isFile()) return { alive: false, why: 'it is not a regular file' };
    const buffer = Buffer.alloc(4096);
    const n = readSync(fd, buffer, 0, buffer.length, 0);
    text = buffer.toString('utf8', 0, n);
  } finally {
    closeSync(fd);
  }
  const record = parse(text);
  if (record === undefined) return { alive: false, why: text.length === 0 ? 'it is empty' : 'its content is not an owner record' };
  if (record.released === true) return { alive: false };
  if (record.host !== hostname()) {
    const age = Date.now() - stats.mtimeMs;
    if (age > OWNER_STALE_MS) return { alive: false, why: `its owner, ${describeOwner(record, false)}, has not refreshed it for ${Math.round(age / 1000)} s` };
    return { alive: true, pid: record.pid, who: `${describeOwner(record, false)}, refreshed ${Math.max(0, Math.round(age / 1000))} s ago; taken over once not refreshed for ${OWNER_STALE_MS / 1000} s` };
  }
  const who = describeOwner(record, true);
  if (record.boot !== '' && BOOT !== '' && record.boot !== BOOT) return { alive: false, why: `its owner, ${who}, ran before the last reboot` };
  if (record.pid === process.pid) {
    if (held.has(fileId(stats))) return { alive: true, pid: record.pid, who, self: true };
    return { alive: false, why: `its owner, ${who}, had the pid of this process: a process before it (a container restarted)` };
  }
  try {
    process.kill(record.pid, 0);
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'EPERM') return { alive: false, why: `its owner, ${who}, is no longer running` };
  }
  const now = procStat(record.pid);
  if (now !== undefined) {
    if (now.state === 'Z' || now.state === 'X') return { alive: false, why: `its owner, ${who}, has ended (a zombie)` };
    if (record.start !== '' && now.start !== record.start) return { alive: false, why: `its owner, ${who}, is no longer running (pid ${record.pid} is another process now)` };
  }
  return { alive: true, pid: record.pid, who };
}

/** The generations present, ascending. */
function generations(dir: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync(dir)) {
    const m = OWNER_FILE.exec(name);
    if (m !== null) out.push(Number(m[1]));
  }
  return out.sort((a, b) => a - b);
}

/** Writes `record` to a new temporary file of ours in `dir` (created exclusively, never through a link), flushed; returns its path. */
function writeTemp(dir: string, record: OwnerRecord): string {
  const path = join(dir, `.owner-${process.pid}-${randomUUID()}.tmp`);
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  try {
    writeSync(fd, `${JSON.stringify(record)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return path;
}

function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // gone already, or not ours to remove
  }
}

const TEMP_FILE = /^\.owner-([1-9][0-9]{0,9})-[0-9a-f-]{36}\.tmp$/;

/** Removes the temporary files of processes that ended while writing one (killed during their open). */
function removeDeadTemps(dir: string): void {
  for (const name of readdirSync(dir)) {
    const pid = Number(TEMP_FILE.exec(name)?.[1] ?? 0);
    if (pid === 0 || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (error) {
      if ((error as { code?: unknown }).code === 'ESRCH') unlinkQuietly(join(dir, name));
    }
  }
}

/** Removes `path` only when it is still the file `ino` (a generation number may be taken again by another process). */
function unlinkIfSame(path: string, ino: number): void {
  try {
    if (lstatSync(path).ino === ino) unlinkSync(path);
  } catch {
    // gone already
  }
}

/** A directory this process owns. `release()` gives it up (idempotent). */
export class Ownership {
  /** The owner file (`<dir>/owner.<n>.lock`). */
  readonly file: string;
  readonly #dir: string;
  readonly #generation: number;
  readonly #record: OwnerRecord;
  readonly #ino: number;
  /** Its key in `held`. */
  readonly #id: string;
  readonly #fd: number;
  readonly #timer: NodeJS.Timeout;
  #released = false;

  constructor(dir: string, generation: number, record: OwnerRecord, fd: number) {
    this.#dir = dir;
    this.#generation = generation;
    this.#record = record;
    this.file = join(dir, ownerName(generation));
    this.#fd = fd;
    const stats = fstatSync(fd);
    this.#ino = stats.ino;
    this.#id = fileId(stats);
    held.add(this.#id);
    // Processes of other hosts cannot check our pid: they read the file's modification time.
    this.#timer = setInterval(() => {
      try {
        futimesSync(this.#fd, new Date(), new Date());
      } catch {
        // the file is gone: the commit-time check still stops a second writer
      }
    }, OWNER_REFRESH_MS);
    this.#timer.unref();
  }

  /** Gives the directory up: a `released` file one generation up, then our own removed. Never throws. */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    clearInterval(this.#timer);
    held.delete(this.#id);
    try {
      const temp = writeTemp(this.#dir, { ...this.#record, released: true });
      try {
        linkSync(temp, join(this.#dir, ownerName(this.#generation + 1)));
      } catch {
        // EEXIST: another process took the directory over already (it judged us stale); else nothing to keep
      } finally {
        unlinkQuietly(temp);
      }
      unlinkIfSame(this.file, this.#ino);
    } catch {
      // the directory is gone or read-only now: the next process finds our file stale
    }
    try {
      closeSync(this.#fd);
    } catch {
      // closed
    }
  }
}

function inUse(dir: string, what: string, file: string, verdict: { who: string; pid?: number; self?: true }): TrackpipeError {
  return new TrackpipeError(
    SPOOL_UNAVAILABLE,
    verdict.self === true
      ? `spool.path: the ${what} directory ${dir} is already open in this process (owner file ${file}): close it first`
      : `spool.path: the ${what} directory ${dir} is in use by another process (${verdict.who}; owner file ${file}): one process per directory — stop that process or give this one another path`,
    { details: { field: 'spool.path', path: dir, ownerFile: file, ...(verdict.pid === undefined ? {} : { ownerPid: verdict.pid }) } },
  );
}

/** For tests of the protocol only. */
export interface OwnershipHooks {
  /** Called (synchronously) on the first attempt to take over a stale owner file, after judging it and before taking the next generation. */
  readonly beforeTakeOver?: () => void;
}

/** Attempts before giving up on a directory whose owner files keep changing under us. */
const MAX_ATTEMPTS = 50;

/**
 * Takes ownership of `dir` (which exists and is writable) for this process, or throws a
 * TrackpipeError (TRACKPIPE_ERR_SPOOL_UNAVAILABLE) naming the directory and its owner when another
 * live process has it. A stale owner (ended, killed, from before a reboot; or a file that is no owner
 * file) is taken over, with a warning naming why.
 */
export function takeOwnership(dir: string, what: string, logger: Logger, hooks: OwnershipHooks = {}): Ownership {
  const self = procStat('self');
  const record: OwnerRecord = { pid: process.pid, host: hostname(), boot: BOOT, start: self?.start ?? '', since: new Date().toISOString(), token: randomUUID() };
  const temp = writeTemp(dir, record);
  try {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const top = generations(dir).at(-1);
      let next = 0;
      let staleWhy: string | undefined;
      if (top !== undefined) {
        const file = join(dir, ownerName(top));
        const verdict = judge(file, what, dir);
        if ('gone' in verdict) continue; // a new owner cleaned it up: look again
        if (verdict.alive) throw inUse(dir, what, file, verdict);
        next = top + 1;
        if (!OWNER_FILE.test(ownerName(next))) {
          // Only a forged name gets here (each open takes one generation): one above it would be no owner
          // file to any process, and the next would take generation 0 beside us.
          throw new TrackpipeError(
            SPOOL_UNAVAILABLE,
            `spool.path: the ${what} directory ${dir} has an owner file ${file} of the highest generation an owner file can have: remove it once no process uses the directory`,
            { details: { field: 'spool.path', path: dir, ownerFile: file } },
          );
        }
        staleWhy = verdict.why === undefined ? undefined : `${file}: ${verdict.why}`;
      }
      const mine = join(dir, ownerName(next));
      if (top !== undefined && attempt === 0) hooks.beforeTakeOver?.();
      try {
        linkSync(temp, mine);
      } catch (error) {
        if ((error as { code?: unknown }).code === 'EEXIST') continue; // another process took it first: judge it
        throw error;
      }
      const ino = lstatSync(temp).ino;
      const after = generations(dir);
      if (after.at(-1)! > next) {
        // We read an older listing: a process took a higher generation meanwhile. It is the owner, or
        // it backs off too; judge it on the next round.
        unlinkIfSame(mine, ino);
        continue;
      }
      for (const g of after) if (g < next) unlinkQuietly(join(dir, ownerName(g)));
      removeDeadTemps(dir);
      if (staleWhy !== undefined) logger.warn(`${what} ${dir}: took over the directory from a stale owner (${staleWhy})`, { path: dir, ownerFile: mine });
      const fd = openSync(temp, constants.O_RDONLY | constants.O_NOFOLLOW);
      return new Ownership(dir, next, record, fd);
    }
    throw new TrackpipeError(SPOOL_UNAVAILABLE, `spool.path: the ${what} directory ${dir}: its owner files kept changing while this process tried to take it over (${MAX_ATTEMPTS} attempts)`, {
      details: { field: 'spool.path', path: dir },
    });
  } finally {
    unlinkQuietly(temp);
  }
}
