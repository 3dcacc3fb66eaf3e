import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const demoPackage = join(here, '..');
let out: string;

beforeAll(() => {
  // The demo runs built; make sure dist is current (this builds the packages it uses too).
  execFileSync(process.execPath, [join(demoPackage, '../../node_modules/typescript/bin/tsc'), '-b', demoPackage], { stdio: 'inherit' });
  out = mkdtempSync(join(tmpdir(), 'trackpipe-demo-test-'));
});
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('pnpm demo', () => {
  it('runs for --seconds 3 on embedded defaults, shows progress and the metrics address, and exits 0 with nothing lost', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.KAFKA_BROKERS; // the file mode: no external service
    const child = spawn(process.execPath, [join(demoPackage, 'dist/main.js'), '--seconds', '3', '--rate', '1000', '--out', out], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
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
});
