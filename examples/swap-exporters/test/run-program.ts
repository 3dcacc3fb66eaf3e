import { execFileSync, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Builds the example (and what it depends on) so the test runs the program as users do. */
export function buildProgram(): void {
  execFileSync(process.execPath, [join(root, '../../node_modules/typescript/bin/tsc'), '-b', root], { stdio: 'inherit' });
}

/** What the program printed on its last line. */
export interface Outcome {
  readonly exporters: string[];
  readonly recorded: number;
  readonly complete: boolean;
  readonly exported: number;
  readonly dropped: number;
}

/** Runs `node dist/main.js config/<name>.yaml <events>` with `env` added; resolves with its exit code and outcome. */
export function runProgram(config: string, events: number, env: Record<string, string>): Promise<{ code: number | null; outcome: Outcome; stderr: string }> {
  const child = spawn(process.execPath, [join(root, 'dist/main.js'), join(root, 'config', config), String(events)], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) =>
    child.on('exit', (code) => resolve({ code, stderr, outcome: JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Outcome })),
  );
}
