import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, countingSink, serve, writeSpooledConfig } from './cli-support.js';

// `trackpipe serve` with a spool whose disk fills up (a file size limit: the spool's commits fail
// with EIO, as on a full disk) while its destination is down: it answers 503 storage_unavailable
// instead of 202, keeps running and answering, and delivers every event it acknowledged once the
// destination is back. (Not checked here: its exit after SIGTERM, which lmdb-js can hold on a full
// disk — see the spool README.)

let dir: string;
beforeAll(() => {
  buildCli();
  dir = mkdtempSync(join(tmpdir(), 'trackpipe-service-full-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('trackpipe serve with a spool on a full disk', () => {
  it('answers 503 storage_unavailable once commits fail, promptly and without crashing, and delivers what it acknowledged', async () => {
    // The destination is down at first, so that the backlog stays on disk and fills it.
    let down = true;
    const sink = await countingSink(() => down);
    const config = writeSpooledConfig(dir, sink.url, { maxBatchSize: 200, flushIntervalMs: 50 });
    const { service, url } = await serve(config, dir, undefined, 2048);
    const acknowledged: string[] = [];
    const pad = 'x'.repeat(2_000);
    let unavailable: { status: number; code: unknown; ms: number } | undefined;
    try {
      for (let n = 0; n < 2_000 && unavailable === undefined; n++) {
        const batch = Array.from({ length: 20 }, (_, i) => ({ id: `full-${n}-${i}`, name: 'disk.full', attributes: { pad } }));
        const started = Date.now();
        const res = await fetch(`${url}/v1/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ batch }) });
        const body = (await res.json()) as { ids?: string[]; error?: { code?: unknown } };
        if (res.status === 202) acknowledged.push(...(body.ids ?? []));
        else unavailable = { status: res.status, code: body.error?.code, ms: Date.now() - started };
      }
      expect(unavailable, "the disk never filled up").toBeDefined();
      expect(unavailable).toMatchObject({ status: 503, code: 'storage_unavailable' });
      expect(acknowledged.length).toBeGreaterThan(0);
      // Later requests are answered too, each within the spool's retry interval, by a service still running.
      for (let n = 0; n < 3; n++) {
        const started = Date.now();
        const res = await fetch(`${url}/v1/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ batch: [{ id: `later-${n}`, name: 'disk.full' }] }) });
        expect(res.status).toBe(503);
        expect(Date.now() - started).toBeLessThan(10_000);
      }
      expect(service.child.exitCode).toBeNull();
      // Everything acknowledged reaches the destination once it is back.
      down = false;
      const deadline = Date.now() + 30_000;
      while (acknowledged.some((id) => !sink.received.has(id)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(acknowledged.filter((id) => !sink.received.has(id))).toEqual([]);
      expect(service.stderr()).not.toMatch(/Unhandled|unhandled/);
    } finally {
      if (service.child.exitCode === null) service.child.kill('SIGKILL');
      await sink.close();
    }
  }, 120_000);
});
