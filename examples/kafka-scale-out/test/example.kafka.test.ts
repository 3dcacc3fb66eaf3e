// Runs the example as a user would (the built program, real `trackpipe serve` processes, the test broker).
import { execFileSync, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const kafka = inject('kafka');

interface Outcome {
  events: number;
  delivered: number;
  duplicates: number;
  keysOutOfOrder: number;
  byInstance: Record<string, number>;
  exitCodes: (number | null)[];
}

function runExample(args: string[], brokers: string): Promise<{ code: number | null; outcome: Outcome; stderr: string }> {
  const child = spawn(process.execPath, [join(root, 'dist/main.js'), ...args], { env: { ...process.env, KAFKA_BROKERS: brokers }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) =>
    child.on('exit', (code) => resolve({ code, stderr, outcome: JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Outcome })),
  );
}

describe.runIf(kafka.brokers !== null)('examples/kafka-scale-out', () => {
  beforeAll(() => {
    execFileSync(process.execPath, [join(root, '../../node_modules/typescript/bin/tsc'), '-b', root], { stdio: 'inherit' });
  });

  it('delivers every event the apps wrote through two collector instances sharing the topic, each a share, in order per user', { timeout: 240_000 }, async () => {
    const { code, outcome, stderr } = await runExample(['--instances', '2', '--events', '6000', '--partitions', '4', '--apps', '2'], kafka.brokers!);
    expect(code, stderr).toBe(0);
    expect(outcome).toMatchObject({ events: 6_000, delivered: 6_000, keysOutOfOrder: 0, exitCodes: [0, 0] });
    expect(Object.keys(outcome.byInstance).sort()).toEqual(['collector-0', 'collector-1']);
    for (const n of Object.values(outcome.byInstance)) expect(n).toBeGreaterThan(0);
    expect(stderr).toMatch(/group trackpipe-scale-out-\w+ settled: partitions per instance \[\d,\d\]/);
  });
});
