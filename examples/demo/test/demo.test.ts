import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const demoPackage = join(here, '..');
let out: string;
let summariesOut: string;

beforeAll(() => {
  // The demo runs built; make sure dist is current (this builds the packages it uses too).
  execFileSync(process.execPath, [join(demoPackage, '../../node_modules/typescript/bin/tsc'), '-b', demoPackage], { stdio: 'inherit' });
  out = mkdtempSync(join(tmpdir(), 'trackpipe-demo-test-'));
  summariesOut = mkdtempSync(join(tmpdir(), 'trackpipe-demo-test-summaries-'));
});
afterAll(() => {
  rmSync(out, { recursive: true, force: true });
  rmSync(summariesOut, { recursive: true, force: true });
});

/** Runs the demo with `args` in the file mode; resolves with its exit code and output. */
async function runDemo(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.KAFKA_BROKERS; // the file mode: no external service
  const child = spawn(process.execPath, [join(demoPackage, 'dist/main.js'), ...args], { env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  return { code, stdout, stderr };
}

describe('pnpm demo', () => {
  it('runs for --seconds 3 on embedded defaults, shows progress and the metrics address, and exits 0 with nothing lost', async () => {
    const { code, stdout, stderr } = await runDemo(['--seconds', '3', '--rate', '1000', '--out', out]);
    expect(stderr).not.toMatch(/error/i);
    expect(code).toBe(0);

    expect(stdout).toMatch(/metrics {3}http:\/\/127\.0\.0\.1:\d+\/metrics/);
    // Not a TTY: one progress line per second, then the final one.
    expect(stdout.split('\n').filter((l) => l.startsWith('[')).length).toBeGreaterThanOrEqual(3);
    const app = /app {6}evaluations (\d+), recorded (\d+), exported (\d+), dropped 0,/.exec(stdout);
    const service = /service {2}accepted (\d+), exported (\d+), dropped 0\n/.exec(stdout);
    const files = /files {4}1 written: .* \((\d+) lines\)/.exec(stdout);
    expect(app, stdout).not.toBeNull();
    expect(service, stdout).not.toBeNull();
    expect(files, stdout).not.toBeNull();
    const exported = Number(service![2]);
    expect(exported).toBeGreaterThan(0);
    expect(Number(app![3])).toBe(exported);
    expect(Number(service![1])).toBe(exported);
    expect(Number(files![1])).toBe(exported);
    expect(stdout).toContain('result   OK: nothing lost');
    expect(readdirSync(out).filter((f) => f.endsWith('.ndjson'))).toHaveLength(1);
  });

  it('--mode summaries sends summaries whose counts, read back from the written file, add up to every evaluation', async () => {
    const { code, stdout, stderr } = await runDemo(['--seconds', '3', '--rate', '1000', '--mode', 'summaries', '--out', summariesOut]);
    expect(stderr).not.toMatch(/error/i);
    expect(code, stdout).toBe(0);
    expect(stdout).toContain('mode summaries');
    const app = /app {6}evaluations (\d+), recorded (\d+), exported (\d+), dropped 0,/.exec(stdout);
    expect(app, stdout).not.toBeNull();
    const evaluations = Number(app![1]);
    const summaries = Number(app![3]);
    expect(evaluations).toBeGreaterThan(0);
    // Three flags (and a retired one), a few variants each, one window a second: far fewer events than evaluations.
    expect(summaries).toBeGreaterThan(0);
    expect(summaries * 20).toBeLessThan(evaluations);
    expect(stdout).toContain(`summary  ${evaluations} evaluations counted in ${summaries} summaries`);
    expect(stdout).toContain('result   OK: nothing lost');

    const files = readdirSync(summariesOut).filter((f) => f.endsWith('.ndjson'));
    expect(files).toHaveLength(1);
    const lines = readFileSync(join(summariesOut, files[0]!), 'utf8').split('\n').filter((line) => line !== '');
    const events = lines.map((line) => JSON.parse(line) as { name: string; attributes: Record<string, unknown> });
    expect(events).toHaveLength(summaries);
    expect(events.every((e) => e.name === 'feature_flag.evaluation_summary')).toBe(true);
    expect(events.reduce((sum, e) => sum + Number(e.attributes['trackpipe.summary.count']), 0)).toBe(evaluations);
    expect(events.some((e) => e.attributes['error.type'] === 'flag_not_found')).toBe(true);
    expect(lines.join('\n')).not.toContain('@example.com');
  });

  it('answers an unknown --mode with usage and exit code 2', async () => {
    const { code, stderr } = await runDemo(['--mode', 'everything']);
    expect(code).toBe(2);
    expect(stderr).toContain('--mode must be events, summaries or sampled');
  });
});
