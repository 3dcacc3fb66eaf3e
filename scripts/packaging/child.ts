// Runs a command to its end and collects what it printed, with a deadline.
import { spawn } from 'node:child_process';

/** How a command ended. */
export interface Outcome {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Whether it was killed (SIGKILL) because it ran past its deadline. */
  readonly timedOut: boolean;
}

/** Options of {@link runCommand}. */
export interface RunOptions {
  readonly cwd: string;
  /** The whole environment of the command (nothing of this process's is added). */
  readonly env: NodeJS.ProcessEnv;
  /** Deadline; past it the command is killed with SIGKILL. */
  readonly timeoutMs: number;
}

/** Runs `command args` in `cwd`; resolves once it exited (never rejects for a non-zero exit). */
export function runCommand(command: string, args: readonly string[], options: RunOptions): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** What a command printed, for an assertion message. */
export function describeOutcome(what: string, outcome: Outcome): string {
  const ended = outcome.timedOut ? 'ran past its deadline' : outcome.signal !== null ? `died of ${outcome.signal}` : `exited with ${outcome.code}`;
  return `${what} ${ended}\n--- stdout ---\n${outcome.stdout.slice(-8_000)}\n--- stderr ---\n${outcome.stderr.slice(-8_000)}`;
}
