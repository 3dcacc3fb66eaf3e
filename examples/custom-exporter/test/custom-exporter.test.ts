import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Logger } from '@trackpipe/core';
import { createCollector } from '@trackpipe/core/di';
import { parseExposition, valueOf } from '@trackpipe/core/testing';
import { AUDIT_COUNTER } from '../src/audit-exporter.js';
import { auditModule } from '../src/audit-module.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
let dir: string;

beforeAll(async () => {
  // Build the example (and core) so the test runs the program as a user does.
  execFileSync(process.execPath, [join(root, '../../node_modules/typescript/bin/tsc'), '-b', root], { stdio: 'inherit' });
  dir = await mkdtemp(join(tmpdir(), 'trackpipe-custom-exporter-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs `node dist/main.js <config> <events>` with `env` added. */
function run(config: string, events: number, env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [join(root, 'dist/main.js'), config, String(events)], {
    cwd: dir,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

const lines = async (file: string): Promise<string[]> => (await readFile(file, 'utf8')).split('\n').filter((line) => line !== '');

describe('custom-exporter with config/audit.yaml', () => {
  it('delivers every event to both the built-in file exporter and the audit exporter, and the audit counter shows on the injected registry', async () => {
    const eventsFile = join(dir, 'events.ndjson');
    const auditFile = join(dir, 'audit.log');
    const total = 2_500;
    const { code, stdout, stderr } = await run(join(root, 'config/audit.yaml'), total, { EVENTS_FILE: eventsFile, AUDIT_FILE: auditFile });
    expect(code, stderr).toBe(0);
    const [summary = '', ...exposition] = stdout.split('\n');
    expect(JSON.parse(summary)).toEqual({ exporters: ['file', 'audit'], recorded: total, complete: true, exported: 2 * total, dropped: 0 });

    const fileIds = (await lines(eventsFile)).map((line) => (JSON.parse(line) as { id: string; flagKey: string }).id);
    const audit = (await lines(auditFile)).map((line) => line.split('\t'));
    const auditIds = audit.map((fields) => fields[1]);
    expect(fileIds).toHaveLength(total);
    expect(new Set(fileIds).size).toBe(total);
    expect(auditIds).toHaveLength(total);
    expect(new Set(auditIds)).toEqual(new Set(fileIds));
    for (const fields of audit) {
      expect(fields).toHaveLength(4);
      expect(Number.isNaN(Date.parse(fields[0]!))).toBe(false);
      expect(fields.slice(2)).toEqual(['feature_flag.evaluation', 'new-checkout']);
    }

    const families = parseExposition(exposition.join('\n'));
    expect(valueOf(families, AUDIT_COUNTER, { exporter: 'audit' })).toBe(total);
    for (const exporter of ['file', 'audit']) {
      expect(valueOf(families, 'trackpipe_events_exported_total', { pipeline: 'flags', exporter })).toBe(total);
    }
  });

  it('fails at start, naming the path of a bad audit option, and opens no destination', async () => {
    const config = join(dir, 'bad.yaml');
    const eventsFile = join(dir, 'never.ndjson');
    await writeFile(
      config,
      ['pipelines:', '  - exporters:', '      - type: file', `        path: ${eventsFile}`, '      - type: audit', '        file: audit.log', ''].join('\n'),
    );
    const { code, stdout, stderr } = await run(config, 10, {});
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr).toContain('TRACKPIPE_ERR_CONFIG_INVALID');
    expect(stderr).toContain('pipelines[0].exporters[1].path: is required');
    expect(stderr).toContain('pipelines[0].exporters[1].file: unknown key');
    expect(existsSync(eventsFile)).toBe(false);
  });
});

describe('auditModule in a container', () => {
  it('builds the factory with the Logger and MetricsRegistry the container was given', async () => {
    const warnings: string[] = [];
    const logger: Logger = { warn: (message) => warnings.push(message), error: () => undefined };
    const registry = new Registry();
    const shared = join(dir, 'shared.log');
    const collector = await createCollector(
      {
        pipelines: [{ name: 'p', exporters: [{ type: 'audit', name: 'first', path: shared }, { type: 'audit', name: 'second', path: shared }] }],
        metrics: { enabled: false },
      },
      { modules: [auditModule], logger, registry },
    );
    expect(warnings).toEqual([
      'audit exporters "first" and "second" (pipelines[0].exporters[1]) append to the same file; their lines will interleave',
    ]);
    for (let i = 0; i < 3; i++) collector.record({ name: 'signup' });
    expect(await collector.close()).toMatchObject({ complete: true, exported: 6 });
    const families = parseExposition(await registry.metrics());
    expect(valueOf(families, AUDIT_COUNTER, { exporter: 'first' })).toBe(3);
    expect(valueOf(families, AUDIT_COUNTER, { exporter: 'second' })).toBe(3);
    expect(await lines(shared)).toHaveLength(6);
  });
});
