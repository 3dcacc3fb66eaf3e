import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseExposition, samples } from '@trackpipe/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, cli, exitOf, run, waitForLine } from './cli-support.js';

let dir: string;

beforeAll(() => {
  // The child runs the built CLI; make sure dist is current.
  buildCli();
  dir = mkdtempSync(join(tmpdir(), 'trackpipe-service-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the trackpipe CLI', () => {
  it('prints its help', () => {
    const out = execFileSync(process.execPath, [cli, '--help'], { encoding: 'utf8' });
    expect(out).toContain('trackpipe serve');
    expect(out).toContain('--config');
  });

  it('refuses an invalid configuration with exit status 2, naming the path', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'service:\n  http:\n    port: "eighty"\npipelines: []\n');
    const c = run(['serve', '--config', file], dir);
    const [code] = await c.exited;
    expect(code).toBe(2);
    const error = c.lines.find((l) => l.msg === 'invalid configuration');
    expect(String(error?.error)).toContain('service.http.port');
    expect(String(error?.error)).toContain('pipelines: must list at least one pipeline');
  });

  it('on SIGTERM under load, exits 0 with every event it accepted (202) written to the NDJSON file', async () => {
    const out = join(dir, 'data');
    const config = join(dir, 'service.json');
    writeFileSync(
      config,
      JSON.stringify({
        service: { http: { port: 0 }, grpc: { port: 0 }, auth: { apiKeys: ['${env:TEST_API_KEY}'] } },
        pipelines: [{ name: 'default', batch: { flushIntervalMs: 100 }, exporters: [{ type: 'file', path: join(out, 'events.ndjson') }] }],
      }),
    );
    const c = run(['serve', '--config', config], dir, { TEST_API_KEY: 'cli-test-key' });
    const listening = await waitForLine(c, 'listening');
    const url = String(listening.http);

    const accepted: string[] = [];
    let sent = 0;
    let stop = false;
    const sender = async (worker: number): Promise<void> => {
      for (let n = 0; !stop; n++) {
        const batch = Array.from({ length: 20 }, (_, i) => ({ id: `w${worker}-${n}-${i}`, name: 'load', attributes: { worker, n, i } }));
        sent += batch.length;
        try {
          const res = await fetch(`${url}/v1/batch`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: 'Bearer cli-test-key' },
            body: JSON.stringify({ batch }),
          });
          const body = (await res.json()) as { ids?: string[] };
          if (res.status === 202) accepted.push(...(body.ids ?? []));
          else if (res.status !== 503) throw new Error(`unexpected status ${res.status}`);
        } catch (error) {
          if (error instanceof Error && error.message.startsWith('unexpected')) throw error;
          // Refused or cut while shutting down: not accepted.
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      }
    };
    const senders = [0, 1, 2, 3].map((w) => sender(w));
    const loaded = Date.now() + 30_000;
    while (accepted.length < 4_000 && Date.now() < loaded) await new Promise((resolve) => setTimeout(resolve, 10));
    c.child.kill('SIGTERM');
    const [code, signal] = await c.exited;
    stop = true;
    await Promise.all(senders);

    expect(signal).toBeNull();
    expect(code).toBe(0);
    expect(accepted.length).toBeGreaterThanOrEqual(4_000);
    expect(sent).toBeGreaterThan(accepted.length);
    const files = readdirSync(out);
    expect(files).toEqual(['events.ndjson']);
    const written = readFileSync(join(out, 'events.ndjson'), 'utf8')
      .trimEnd()
      .split('\n')
      .map((line) => (JSON.parse(line) as { id: string }).id);
    const writtenSet = new Set(written);
    expect(writtenSet.size).toBe(written.length); // no duplicates
    const missing = accepted.filter((id) => !writtenSet.has(id));
    expect(missing).toEqual([]);

    const stopped = c.lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('stopped'));
    expect(stopped).toMatchObject({ level: 'info', complete: true, dropped: 0 });
    expect(stopped?.exported).toBe(written.length);
    expect(JSON.stringify(c.lines)).not.toContain('cli-test-key');
  });

  it('refuses to serve on 0.0.0.0 without an API key: exit status 2 naming the address and the option, and it never listens', async () => {
    const c = run(['serve', '--host', '0.0.0.0', '--port', '0', '--grpc-port', '0'], dir, { TRACKPIPE_CONFIG: undefined, TRACKPIPE_API_KEYS: undefined });
    expect(await exitOf(c)).toBe(2);
    expect(c.lines.some((l) => l.msg === 'listening' || l.msg === 'starting')).toBe(false);
    const error = String(c.lines.find((l) => l.msg === 'invalid configuration')?.error);
    expect(error).toContain('service.http.host: HTTP ingest would listen on 0.0.0.0, not a loopback address');
    expect(error).toContain('service.grpc.host: gRPC ingest would listen on 0.0.0.0');
    expect(error).toContain('--allow-unauthenticated');
    expect(error).toContain('TRACKPIPE_API_KEYS');
  });

  it('serves on a non-loopback host without keys when --allow-unauthenticated says so, warning about it', async () => {
    // "127.1" is 127.0.0.1, but not a literal loopback address: the service treats it as reachable.
    const c = run(['serve', '--host', '127.1', '--port', '0', '--grpc-port', '0', '--allow-unauthenticated'], dir, {
      TRACKPIPE_CONFIG: undefined,
      TRACKPIPE_API_KEYS: undefined,
      TRACKPIPE_DATA_DIR: join(dir, 'open'),
    });
    const listening = await waitForLine(c, 'listening');
    expect((await fetch(`${String(listening.http)}/healthz`)).status).toBe(200);
    expect(c.lines).toContainEqual(expect.objectContaining({ level: 'warn', listeners: ['HTTP 127.1', 'gRPC 127.1'] }));
    c.child.kill('SIGTERM');
    expect(await exitOf(c)).toBe(0);
  });

  it('exits 1 on SIGTERM when the exporter rejected events long before the drain, counting them by reason in the last line', async () => {
    // A destination that refuses every batch for good (400): the pipeline drops them as "rejected".
    let batches = 0;
    const sink = createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        batches++;
        res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"no"}');
      });
    });
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', resolve));
    try {
      const config = join(dir, 'rejecting.json');
      writeFileSync(
        config,
        JSON.stringify({
          service: { http: { port: 0 }, grpc: { enabled: false } },
          pipelines: [
            {
              name: 'default',
              batch: { flushIntervalMs: 50 },
              exporters: [{ type: 'http', url: `http://127.0.0.1:${(sink.address() as AddressInfo).port}/ingest` }],
            },
          ],
        }),
      );
      const c = run(['serve', '--config', config], dir);
      const url = String((await waitForLine(c, 'listening')).http);
      const res = await fetch(`${url}/v1/batch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ batch: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] }),
      });
      expect(res.status).toBe(202);
      // Wait until the pipeline has dropped them (well before any shutdown).
      const dropped = async (): Promise<number> => {
        const families = parseExposition(await (await fetch(`${url}/metrics`)).text());
        return samples(families, 'trackpipe_events_dropped_total', { reason: 'rejected' }).reduce((sum, s) => sum + s.value, 0);
      };
      await expect.poll(dropped, { timeout: 10_000 }).toBe(3);
      expect(batches).toBeGreaterThanOrEqual(1);

      c.child.kill('SIGTERM');
      expect(await exitOf(c)).toBe(1);
      const stopped = c.lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('stopped'));
      expect(stopped).toMatchObject({ level: 'warn', accepted: 3, exported: 0, dropped: 3, droppedByReason: { rejected: 3 }, complete: true });
      expect(String(stopped?.msg)).not.toContain('every accepted event was flushed');
    } finally {
      await new Promise((resolve) => sink.close(resolve));
    }
  });
});
