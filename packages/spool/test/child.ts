// Runs a TypeScript fixture in a child process (see fixtures/ts-hooks.mjs) and collects its output lines.
import { type ChildProcessWithoutNullStreams, type SpawnOptionsWithoutStdio, spawn } from 'node:child_process';
import { dirname, isAbsolute, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');

export interface Child {
  readonly process: ChildProcessWithoutNullStreams;
  /** Complete stdout lines so far. */
  readonly lines: string[];
  stderr(): string;
  /** Resolves with the exit code and signal. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Resolves with the first line starting with `prefix` (rejects if the child exits first or after `timeoutMs`). */
  waitFor(prefix: string, timeoutMs?: number): Promise<string>;
}

/**
 * Starts `node fixtures/<script> ...args` (or an absolute path) with TypeScript sources resolved like
 * vitest does. `fileSizeLimitKiB` runs it under `ulimit -f`: files it writes cannot grow past that.
 */
export function runFixture(script: string, args: readonly string[], options: SpawnOptionsWithoutStdio & { fileSizeLimitKiB?: number } = {}): Child {
  const { fileSizeLimitKiB, ...spawnOptions } = options;
  const node = [process.execPath, '--conditions=@trackpipe/source', '--import', join(fixtures, 'register-ts.mjs'), isAbsolute(script) ? script : join(fixtures, script), ...args];
  const child =
    fileSizeLimitKiB === undefined
      ? spawn(node[0]!, node.slice(1), { ...spawnOptions, stdio: 'pipe' })
      : spawn('sh', ['-c', `ulimit -f ${fileSizeLimitKiB} && exec "$0" "$@"`, ...node], { ...spawnOptions, stdio: 'pipe' });
  const lines: string[] = [];
  let partial = '';
  let stderr = '';
  const waiters: (() => void)[] = [];
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    partial += chunk;
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      lines.push(partial.slice(0, nl));
      partial = partial.slice(nl + 1);
    }
    for (const w of waiters.splice(0)) w();
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => {
      for (const w of waiters.splice(0)) w();
      resolve({ code, signal });
    }),
  );
  const waitFor = async (prefix: string, timeoutMs = 30_000): Promise<string> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = lines.find((l) => l.startsWith(prefix));
      if (found !== undefined) return found;
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`the child exited before printing "${prefix}": ${lines.join(' | ')} ${stderr}`);
      }
      if (Date.now() > deadline) throw new Error(`no "${prefix}" line within ${timeoutMs} ms: ${stderr}`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  };
  return { process: child, lines, stderr: () => stderr, exited, waitFor };
}
