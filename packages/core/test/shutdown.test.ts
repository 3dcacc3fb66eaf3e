import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const here = dirname(fileURLToPath(import.meta.url));
const corePackage = join(here, '..');
let dir: string;

beforeAll(() => {
  // The child runs the built package; make sure dist is current.
  execFileSync(process.execPath, [join(corePackage, '../../node_modules/typescript/bin/tsc'), '-b', corePackage], { stdio: 'inherit' });
  dir = mkdtempSync(join(tmpdir(), 'trackpipe-sigterm-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('closeOnSignals in a real process', () => {
  it('writes every event recorded before SIGTERM to the file, then lets the process die of the signal', async () => {
    const file = join(dir, 'events.ndjson');
    const child = spawn(process.execPath, [join(here, 'fixtures/sigterm-child.mjs'), file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    // Wait until it is well into its stream, then interrupt it mid-burst.
    await new Promise<void>((resolve, reject) => {
      child.once('exit', () => reject(new Error(`child exited early: ${stderr}`)));
      child.stdout.on('data', (chunk: Buffer) => {
        const m = /recorded (\d+)/.exec(chunk.toString());
        if (m && Number(m[1]) >= 20_000) resolve();
      });
    });
    child.kill('SIGTERM');
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.once('exit', (c, s) => resolve([c, s])),
    );
    expect(signal).toBe('SIGTERM');
    expect(code).toBeNull();

    const summary = JSON.parse(stderr.split('\n').find((l) => l.startsWith('{'))!) as {
      accepted: number;
      report: { complete: boolean; droppedByReason: Record<string, number> };
      stats: { exported: number; dropped: number; droppedByReason: Record<string, number> };
    };
    expect(summary.report.complete).toBe(true);
    expect(summary.accepted).toBeGreaterThanOrEqual(20_000);
    expect(summary.stats.exported).toBe(summary.accepted);
    expect(summary.stats.dropped).toBe(summary.stats.droppedByReason.closed);

    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    const seen = lines.map((l) => (JSON.parse(l) as { attributes: { i: number } }).attributes.i);
    expect(seen).toHaveLength(summary.accepted);
    expect(new Set(seen).size).toBe(summary.accepted);
    expect(Math.max(...seen)).toBe(summary.accepted - 1); // 0 … accepted-1, nothing missing
  });
});
