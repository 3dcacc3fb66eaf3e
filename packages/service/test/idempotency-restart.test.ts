// A durable service (a spool on every pipeline) keeps its idempotency keys on disk beside the spool:
// a client that never saw the 202 of a request (the service was killed after answering) sends it
// again to the restarted service and gets the original answer — its events are not queued twice.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, countingSink, exitOf, serve, writeSpooledConfig } from './cli-support.js';

/** A destination that refuses everything until `open()`, then counts every event it stores by id. */
async function destination() {
  let accepting = false;
  const sink = await countingSink(() => !accepting);
  return { ...sink, open: () => (accepting = true) };
}

let dir: string;
beforeAll(() => {
  buildCli();
  dir = mkdtempSync(join(tmpdir(), 'trackpipe-service-keys-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('a durable service and Idempotency-Key across kill -9', () => {
  it('answers a repeat sent after the restart with the original ids, and delivers the batch once', { timeout: 120_000 }, async () => {
    const sink = await destination();
    const config = writeSpooledConfig(dir, sink.url, { flushIntervalMs: 50 });
    // No ids in the body: the service assigns them, so equal ids in the second answer can only come from the key store.
    const body = JSON.stringify({ batch: [{ name: 'checkout' }, { name: 'search' }, { name: 'cart' }] });
    const send = async (url: string, key: string) => {
      const res = await fetch(`${url}/v1/batch`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body });
      return { status: res.status, replayed: res.headers.get('idempotent-replayed'), ids: ((await res.json()) as { ids: string[] }).ids };
    };
    try {
      const { service: first, url: firstUrl } = await serve(config, dir);
      const original = await send(firstUrl, 'batch-0001');
      expect(original.status).toBe(202);
      expect(original.ids).toHaveLength(3);
      first.child.kill('SIGKILL');
      expect((await first.exited)[1]).toBe('SIGKILL');
      expect(existsSync(join(dir, 'spool', '.idempotency', 'data.mdb'))).toBe(true);

      sink.open();
      const { service: second, url: secondUrl } = await serve(config, dir);
      const repeat = await send(secondUrl, 'batch-0001');
      expect(repeat).toEqual({ status: 202, replayed: 'true', ids: original.ids });
      const fresh = await send(secondUrl, 'batch-0002'); // another key: a new batch, queued
      expect(fresh.replayed).toBeNull();

      const deadline = Date.now() + 60_000;
      while (sink.received.size < 6 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      second.child.kill('SIGTERM');
      expect(await exitOf(second, 30_000)).toBe(0);
      expect(Object.fromEntries(sink.received)).toEqual(Object.fromEntries([...original.ids, ...fresh.ids].map((id) => [id, 1])));
    } finally {
      await sink.close();
    }
  });
});
