// One process per spool directory, with real processes and real signals: a second process opening a
// directory another live process has open is refused at open, naming the directory and the owner's
// pid, and the first goes on undisturbed; the owner file of a process killed with SIGKILL is taken
// over and its events recovered; owner files that are garbage, empty, a symbolic link, unreadable, of
// a reused pid, of our own pid or of another host; and many processes taking over one stale owner
// file at the same moment: exactly one wins.
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, readFileSync, readdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { KeyStore, SPOOL_UNAVAILABLE } from '../src/index.js';
import { type Child, runFixture } from './child.js';
import { RecordingLogger, openRefusal, openSpool, pushN, take, tempDir } from './helpers.js';

let root: string;
let cleanup: () => void;
let dir: string;
const children: Child[] = [];

beforeEach(() => {
  ({ dir: root, cleanup } = tempDir('trackpipe-spool-owner-'));
  dir = join(root, 'spool');
  mkdirSync(dir);
});
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL');
    await child.exited;
  }
  cleanup();
});

function start(args: string[], options: Parameters<typeof runFixture>[2] = {}): Child {
  const child = runFixture('owner-child.ts', args, options);
  children.push(child);
  return child;
}

/** What the child's spool logged (its stderr lines `warn …` and `error …`; Node may print warnings of its own there). */
const logged = (child: Child): string[] => child.stderr().split('\n').filter((l) => /^(warn|error) /.test(l));

const ownerFiles = (): string[] => readdirSync(dir).filter((f) => f.startsWith('owner.') || f.startsWith('.owner-')).sort();

/** The line a child printed about its open: `open …` or `refused …`. */
async function opened(child: Child): Promise<string> {
  await Promise.race([child.waitFor('open '), child.waitFor('refused ')]).catch(() => undefined);
  const found = child.lines.find((l) => l.startsWith('open ') || l.startsWith('refused '));
  if (found === undefined) throw new Error(`no open line: ${child.lines.join(' | ')} ${child.stderr()}`);
  return found;
}

/** A pid no process has: one that just ended (and was reaped). */
function endedPid(): number {
  return spawnSync(process.execPath, ['-e', '']).pid;
}

/** The start time of process `pid` (field 22 of /proc/<pid>/stat). */
function startTime(pid: number): string {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ')[19]!;
}

function record(fields: Record<string, unknown>): string {
  return JSON.stringify({ host: hostname(), boot: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(), start: '', since: '2026-01-01T00:00:00.000Z', token: 't', ...fields });
}

describe('a second process on a spool directory another process has open', () => {
  it('is refused at open, naming the directory and the owner\'s pid, while the first goes on committing and delivering undisturbed', async () => {
    const first = start([dir, 'serve']);
    const owner = Number((await first.waitFor('open ')).split(' ')[2]);
    expect(owner).toBe(first.process.pid);
    await first.waitFor('delivered ');

    const second = start([dir, 'hold']);
    const line = await opened(second);
    expect(line.startsWith('refused '), `${line} ${second.stderr()}`).toBe(true);
    const [, code, message] = /^refused (\S+) (.*)$/.exec(line)!;
    expect(code).toBe(SPOOL_UNAVAILABLE);
    expect(JSON.parse(message!)).toMatch(new RegExp(`spool directory ${dir} is in use by another process \\(pid ${owner},`));
    expect((await second.exited).code).toBe(0);
    // And in this process too, with the pid in the details.
    const error = openRefusal(dir);
    expect(error.code).toBe(SPOOL_UNAVAILABLE);
    expect(error.details).toMatchObject({ path: dir, ownerPid: owner });

    // The first commits and delivers on: persisted() true after the refusals, nothing logged.
    const persistedBefore = first.lines.filter((l) => l.startsWith('persisted ')).length;
    const deliveredBefore = Number(first.lines.filter((l) => l.startsWith('delivered ')).at(-1)!.split(' ')[1]);
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const persisted = first.lines.filter((l) => l.startsWith('persisted '));
      const delivered = Number(first.lines.filter((l) => l.startsWith('delivered ')).at(-1)!.split(' ')[1]);
      if (persisted.length >= persistedBefore + 10 && delivered >= deliveredBefore + 10) break;
    }
    expect(first.lines.filter((l) => l.startsWith('persisted ') && !l.startsWith('persisted true'))).toEqual([]);
    first.process.kill('SIGTERM');
    expect((await first.exited).code, first.stderr()).toBe(0);
    expect(first.lines.at(-1)).toBe('closed');
    expect(logged(first)).toEqual([]);

    // Closed: the directory is free, with no warning about a stale owner.
    const logger = new RecordingLogger();
    const again = openSpool({ path: dir, logger });
    expect(logger.lines).toEqual([]);
    await again.spool.close();
  }, 60_000);
});

describe('the owner killed with SIGKILL', () => {
  it('leaves an owner file the next process takes over (saying so, with the pid), recovering every acknowledged event', async () => {
    const first = start([dir, 'push', '25']);
    const pid = Number((await first.waitFor('open ')).split(' ')[2]);
    expect(await first.waitFor('persisted ')).toBe('persisted true 25');
    first.process.kill('SIGKILL');
    expect((await first.exited).signal).toBe('SIGKILL');
    expect(ownerFiles()).toEqual(['owner.0.lock']);

    const next = start([dir, 'hold']);
    expect(await opened(next)).toBe(`open 25 ${next.process.pid}`);
    expect(logged(next)).toEqual([expect.stringMatching(new RegExp(`^warn spool ${dir}: took over the directory from a stale owner \\(${dir}/owner\\.0\\.lock: its owner, pid ${pid}, owner since .*, is no longer running\\)$`))]);
    expect(ownerFiles()).toEqual(['owner.1.lock']); // the stale file is gone
    next.process.stdin.end();
    expect((await next.exited).code).toBe(0);

    const { spool, recovered } = openSpool({ path: dir });
    expect(recovered).toBe(25);
    expect(take(spool).map((t) => t.event.k)).toEqual(Array.from({ length: 25 }, (_, k) => k));
    await spool.close();
  }, 60_000);
});

describe('an owner file of the highest generation a name can hold', () => {
  it('is refused, naming it, instead of taken over under a name no other process recognises as an owner file', () => {
    writeFileSync(join(dir, 'owner.999999999999999.lock'), 'forged');
    const refusal = openRefusal(dir);
    expect(refusal.code).toBe(SPOOL_UNAVAILABLE);
    expect(refusal.message).toContain(`${dir}/owner.999999999999999.lock`);
    expect(readdirSync(dir).sort()).toEqual(['owner.999999999999999.lock']);
  });
});

describe('owner files that are not what an owner writes', () => {
  it.each([
    ['garbage', () => writeFileSync(join(dir, 'owner.0.lock'), '\u0000\u0001not json at all'), /its content is not an owner record/],
    ['empty (a power loss before its flush)', () => writeFileSync(join(dir, 'owner.0.lock'), ''), /it is empty/],
    ['JSON without a pid', () => writeFileSync(join(dir, 'owner.0.lock'), '{"host":"x"}'), /its content is not an owner record/],
    [
      'an ended pid with a line break in its time',
      () => writeFileSync(join(dir, 'owner.0.lock'), record({ pid: endedPid(), since: '2026\nerror forged log line' })),
      /^[^\n]*its owner, pid \d+, owner since an unknown time, is no longer running\)$/,
    ],
    ['a directory', () => mkdirSync(join(dir, 'owner.0.lock')), /it is not a regular file/],
  ])('takes over an owner file that is %s, with a warning naming it', async (_what, make, why) => {
    make();
    const logger = new RecordingLogger();
    const { spool } = openSpool({ path: dir, logger });
    try {
      expect(logger.lines).toEqual([{ level: 'warn', message: expect.stringContaining(`took over the directory from a stale owner (${dir}/owner.0.lock: `), fields: expect.anything() }]);
      expect(logger.lines[0]!.message).toMatch(why);
      pushN(spool, 1);
      expect(await spool.persisted()).toBe(true);
      expect(openRefusal(dir).message).toContain('is already open in this process');
    } finally {
      await spool.close();
    }
  });

  it('never follows an owner file that is a symbolic link: the file it leads to is left as it was, and the link is taken over', async () => {
    const notes = join(root, 'notes.txt');
    writeFileSync(notes, 'somebody else\'s file\n');
    symlinkSync(notes, join(dir, 'owner.0.lock'));
    symlinkSync(join(root, 'nowhere'), join(dir, 'owner.1.lock'));
    const logger = new RecordingLogger();
    const { spool } = openSpool({ path: dir, logger });
    try {
      expect(logger.lines.map((l) => l.message)).toEqual([expect.stringContaining(`${dir}/owner.1.lock: it is a symbolic link, not an owner file (not followed)`)]);
      expect(ownerFiles()).toEqual(['owner.2.lock']);
      pushN(spool, 1);
      expect(await spool.persisted()).toBe(true);
    } finally {
      await spool.close();
    }
    expect(readFileSync(notes, 'utf8')).toBe('somebody else\'s file\n');
    expect(lstatSync(notes).isFile()).toBe(true);
    // Released: a `released` file one generation up, nothing else; the next open is silent.
    expect(ownerFiles()).toEqual(['owner.3.lock']);
    expect(JSON.parse(readFileSync(join(dir, 'owner.3.lock'), 'utf8'))).toMatchObject({ released: true, pid: process.pid });
    const again = openSpool({ path: dir });
    expect(again.logger.lines).toEqual([]);
    await again.spool.close();
  });

  it('refuses an owner file it cannot read (another user\'s process may own the directory), naming it', async () => {
    // This test process runs as root, which reads every file: the opening process runs as nobody.
    expect(process.getuid?.()).toBe(0);
    chmodSync(root, 0o777);
    chmodSync(dir, 0o777);
    writeFileSync(join(dir, 'owner.0.lock'), record({ pid: endedPid() }), { mode: 0o600 });
    const child = start([dir, 'hold'], { uid: 65534, gid: 65534 });
    const line = await opened(child);
    expect(line).toMatch(/^refused TRACKPIPE_ERR_SPOOL_UNAVAILABLE /);
    expect(JSON.parse(line.slice(line.indexOf('"')))).toBe(
      `${SPOOL_UNAVAILABLE}: spool.path: the spool directory ${dir} has an owner file ${dir}/owner.0.lock that cannot be read (EACCES): another user's process may have it open; remove the file once no process uses the directory`,
    );
    expect(readdirSync(dir)).toEqual(['owner.0.lock']); // nothing else touched
  }, 30_000);
});

describe('whose pid an owner file names', () => {
  it('refuses a live process with the start time recorded, and takes over when that pid is another process now (pid reuse) or has ended', async () => {
    const other = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      const pid = other.pid!;
      writeFileSync(join(dir, 'owner.0.lock'), record({ pid, start: startTime(pid) }));
      const error = openRefusal(dir);
      expect(error.message).toContain(`is in use by another process (pid ${pid}, owner since 2026-01-01T00:00:00.000Z; owner file ${dir}/owner.0.lock)`);
      expect(error.details).toMatchObject({ ownerPid: pid, ownerFile: `${dir}/owner.0.lock` });

      writeFileSync(join(dir, 'owner.0.lock'), record({ pid, start: String(Number(startTime(pid)) - 1) }));
      const logger = new RecordingLogger();
      const { spool } = openSpool({ path: dir, logger });
      expect(logger.lines.map((l) => l.message)).toEqual([expect.stringContaining(`is no longer running (pid ${pid} is another process now)`)]);
      await spool.close();
    } finally {
      other.kill('SIGKILL');
    }
    const gone = endedPid();
    writeFileSync(join(dir, 'owner.9.lock'), record({ pid: gone }));
    const logger = new RecordingLogger();
    const { spool } = openSpool({ path: dir, logger });
    expect(logger.lines.map((l) => l.message)).toEqual([expect.stringContaining(`owner.9.lock: its owner, pid ${gone}, owner since 2026-01-01T00:00:00.000Z, is no longer running)`)]);
    expect(ownerFiles()).toEqual(['owner.10.lock']);
    await spool.close();
  });

  it('takes over a file with the pid of this process that this process does not hold (a container restarted as pid 1), and one from before a reboot', async () => {
    writeFileSync(join(dir, 'owner.0.lock'), record({ pid: process.pid }));
    let logger = new RecordingLogger();
    let opened = openSpool({ path: dir, logger });
    expect(logger.lines.map((l) => l.message)).toEqual([expect.stringContaining('had the pid of this process: a process before it (a container restarted)')]);
    await opened.spool.close();
    writeFileSync(join(dir, 'owner.5.lock'), record({ pid: process.ppid, boot: 'another-boot' }));
    logger = new RecordingLogger();
    opened = openSpool({ path: dir, logger });
    expect(logger.lines.map((l) => l.message)).toEqual([expect.stringContaining(`its owner, pid ${process.ppid}, owner since 2026-01-01T00:00:00.000Z, ran before the last reboot`)]);
    await opened.spool.close();
  });

  it('refreshes its own file every 10 s, for processes of other hosts', async () => {
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const { spool } = openSpool({ path: dir });
      const file = join(dir, 'owner.0.lock');
      const old = new Date(Date.now() - 3_600_000);
      utimesSync(file, old, old);
      vi.advanceTimersByTime(9_999);
      const age = (path: string): number => Date.now() - lstatSync(path).mtimeMs;
      expect(age(file)).toBeGreaterThan(3_000_000);
      vi.advanceTimersByTime(1);
      expect(age(file)).toBeLessThan(60_000);
      await spool.close();
      utimesSync(join(dir, 'owner.1.lock'), old, old);
      vi.advanceTimersByTime(20_000); // released: no longer refreshed
      expect(age(join(dir, 'owner.1.lock'))).toBeGreaterThan(3_000_000);
    } finally {
      vi.useRealTimers();
    }
  });

  it('refuses a file of another host while its owner refreshes it, and takes it over once it has not for a minute', async () => {
    writeFileSync(join(dir, 'owner.0.lock'), record({ pid: 4242, host: 'elsewhere' }));
    expect(openRefusal(dir).message).toContain(`in use by another process (pid 4242 on host "elsewhere", owner since 2026-01-01T00:00:00.000Z, refreshed 0 s ago; taken over once not refreshed for 60 s; owner file ${dir}/owner.0.lock)`);
    const old = new Date(Date.now() - 61_000);
    utimesSync(join(dir, 'owner.0.lock'), old, old);
    const logger = new RecordingLogger();
    const { spool } = openSpool({ path: dir, logger });
    expect(logger.lines.map((l) => l.message)).toEqual([expect.stringMatching(/its owner, pid 4242 on host "elsewhere", owner since .*, has not refreshed it for 6\d s\)$/)]);
    await spool.close();
  });
});

describe('many processes taking over one stale owner file at the same moment', () => {
  it('lets exactly one of them open the spool, and refuses the others naming the winner, round after round', async () => {
    const first = start([dir, 'push', '10']);
    expect(await first.waitFor('persisted ')).toBe('persisted true 10');
    let victim = first;
    for (let round = 0; round < 3; round++) {
      victim.process.kill('SIGKILL');
      await victim.exited;
      const racers = Array.from({ length: 6 }, () => start([dir, 'wait']));
      await Promise.all(racers.map((r) => r.waitFor('ready')));
      for (const r of racers) r.process.stdin.write('go\n');
      const lines = await Promise.all(racers.map(opened));
      const winners = racers.filter((_, i) => lines[i]!.startsWith('open '));
      expect(winners, lines.join('\n')).toHaveLength(1);
      const winner = winners[0]!;
      expect(lines.find((l) => l.startsWith('open '))).toBe(`open 10 ${winner.process.pid}`);
      for (const l of lines.filter((l) => l.startsWith('refused '))) {
        expect(JSON.parse(l.slice(l.indexOf('"')))).toContain(`is in use by another process (pid ${winner.process.pid},`);
      }
      await Promise.all(racers.filter((r) => r !== winner).map((r) => r.exited));
      expect(ownerFiles().filter((f) => !f.startsWith('.'))).toHaveLength(1);
      victim = winner;
    }
    victim.process.stdin.end();
    expect((await victim.exited).code).toBe(0);
    const { spool, recovered } = openSpool({ path: dir });
    expect(recovered).toBe(10);
    await spool.close();
  }, 120_000);
});

describe('processes that all judged one owner file stale before any of them acts', () => {
  it('let exactly one of them take the directory over; the others refuse, naming it (6 processes let go together, 4 rounds)', async () => {
    for (let round = 0; round < 4; round++) {
      const top = Math.max(-1, ...readdirSync(dir).map((f) => /^owner\.(\d+)\.lock$/.exec(f)?.[1]).filter((g) => g !== undefined).map(Number));
      writeFileSync(join(dir, `owner.${top + 1}.lock`), record({ pid: endedPid() }));
      const barrier = join(root, `go-${round}`);
      const racers = Array.from({ length: 6 }, () => {
        const child = runFixture('takeover-child.ts', [dir, barrier]);
        children.push(child);
        return child;
      });
      await Promise.all(racers.map((r) => r.waitFor('judged')));
      writeFileSync(barrier, '');
      const lines = await Promise.all(racers.map(async (r) => Promise.race([r.waitFor('won '), r.waitFor('refused ')]).catch(() => r.lines.at(-1) ?? r.stderr())));
      const winners = lines.filter((l) => l.startsWith('won '));
      expect(winners, lines.join('\n')).toHaveLength(1);
      const pid = winners[0]!.split(' ')[1];
      for (const l of lines.filter((l) => l.startsWith('refused '))) expect(JSON.parse(l.slice(8))).toContain(`is in use by another process (pid ${pid},`);
      expect(readdirSync(dir).filter((f) => f.startsWith('owner.'))).toEqual([`owner.${top + 2}.lock`]);
      const winner = racers[lines.indexOf(winners[0]!)]!;
      winner.process.stdin.end();
      expect((await winner.exited).code).toBe(0);
    }
  }, 120_000);
});

describe('a process that judged an owner file stale from a listing that is old by the time it acts', () => {
  it('backs off when the number it takes is below the highest (taken and released meanwhile), and is refused by the owner of the highest', async () => {
    writeFileSync(join(dir, 'owner.3.lock'), record({ pid: endedPid() }));
    const slow = runFixture('takeover-child.ts', [dir, join(root, 'go')]);
    children.push(slow);
    await slow.waitFor('judged'); // it will take owner.4.lock
    const first = openSpool({ path: dir }); // takes 4 over from 3
    await first.spool.close(); // a released 5, 4 removed: 4 is free again
    const owner = openSpool({ path: dir }); // takes 6
    try {
      expect(ownerFiles().filter((f) => f.startsWith('owner.'))).toEqual(['owner.6.lock']); // (and the slow one's temporary file)
      writeFileSync(join(root, 'go'), '');
      const line = await Promise.race([slow.waitFor('won '), slow.waitFor('refused ')]);
      expect(line).toMatch(/^refused /);
      expect(JSON.parse(line.slice(8))).toContain(`is in use by another process (pid ${process.pid},`);
      await slow.exited;
      expect(ownerFiles()).toEqual(['owner.6.lock']);
    } finally {
      await owner.spool.close();
    }
  }, 30_000);

  it('removes the temporary files of processes killed while they opened, and none of a live one', async () => {
    const dead = join(dir, `.owner-${endedPid()}-${'0'.repeat(8)}-0000-0000-0000-${'0'.repeat(12)}.tmp`);
    const live = join(dir, `.owner-${process.ppid}-${'0'.repeat(8)}-0000-0000-0000-${'0'.repeat(12)}.tmp`);
    writeFileSync(dead, record({ pid: 1 }));
    writeFileSync(live, record({ pid: 1 }));
    const { spool } = openSpool({ path: dir });
    expect(ownerFiles()).toEqual([basename(live), 'owner.0.lock']);
    await spool.close();
  });
});

describe('a key store', () => {
  it('is one process\'s too: a second open in this process (also through a link to its directory) is refused until the first is closed', async () => {
    const keys = join(root, '.idempotency');
    const store = KeyStore.open(keys, new RecordingLogger());
    expect(() => KeyStore.open(keys, new RecordingLogger())).toThrow(`the idempotency key store directory ${keys} is already open in this process (owner file ${keys}/owner.0.lock): close it first`);
    symlinkSync(keys, join(root, 'keys-link'));
    expect(() => KeyStore.open(join(root, 'keys-link'), new RecordingLogger())).toThrow(/is already open in this process/);
    await store.close();
    const again = KeyStore.open(keys, new RecordingLogger());
    await again.close();
  });
});
