import { afterEach, describe, expect, it } from 'vitest';
import { BatchProcessor, silentLogger, type TelemetryEvent } from '@trackpipe/core';
import { HttpExporter, idempotencyKey } from '@trackpipe/exporter-http';
import { BATCH_PATHS, batchFor, events, neverAborts } from './helpers/batch.js';
import { type ReceivedRequest, TestServer } from './helpers/test-server.js';

let server: TestServer | undefined;
let processor: BatchProcessor | undefined;
const exporters: HttpExporter[] = [];
afterEach(async () => {
  await processor?.close({ timeoutMs: 1_000 });
  processor = undefined;
  await Promise.all(exporters.splice(0).map((e) => e.shutdown()));
  await server?.stop();
  server = undefined;
});

const idsOf = (request: ReceivedRequest): string[] => (request.json() as { id: string }[]).map((e) => e.id);
const keyOf = (request: ReceivedRequest): string => String(request.headers['idempotency-key']);

/** Requests grouped by their idempotency key. */
function byKey(requests: readonly ReceivedRequest[]): Map<string, ReceivedRequest[]> {
  const groups = new Map<string, ReceivedRequest[]>();
  for (const request of requests) groups.set(keyOf(request), [...(groups.get(keyOf(request)) ?? []), request]);
  return groups;
}

describe('Idempotency-Key', () => {
  it('is the same on every retry of a batch and differs between batches', async () => {
    // Each batch fails twice (503, then a reset) before it is accepted.
    const attempts = new Map<string, number>();
    server = await TestServer.start({
      handler: (request) => {
        const first = idsOf(request)[0]!;
        const n = (attempts.get(first) ?? 0) + 1;
        attempts.set(first, n);
        if (n === 1) return { status: 503 };
        if (n === 2) return { destroy: true };
        return { status: 200 };
      },
    });
    processor = new BatchProcessor(new HttpExporter({ url: server.url() }), {
      maxBatchSize: 5,
      retry: { initialBackoffMs: 5, maxBackoffMs: 20, maxElapsedMs: 60_000 },
      logger: silentLogger,
    });
    for (let i = 0; i < 20; i++) processor.record({ name: 'keyed', attributes: { i } });
    expect((await processor.flush({ timeoutMs: 20_000 })).complete).toBe(true);

    const groups = byKey(server.requests);
    expect(server.requests).toHaveLength(12);
    expect(groups.size).toBe(4);
    for (const [key, requests] of groups) {
      expect(key).toMatch(/^[0-9a-f]{32}$/);
      expect(requests).toHaveLength(3);
      // One key, one batch: every attempt carried the same events.
      for (const request of requests) expect(idsOf(request)).toEqual(idsOf(requests[0]!));
    }
  });

  it('gives each half of a split batch its own key', async () => {
    server = await TestServer.start({ handler: (request) => (idsOf(request).length > 2 ? { status: 413 } : { status: 200 }) });
    processor = new BatchProcessor(new HttpExporter({ url: server.url() }), { maxBatchSize: 8, logger: silentLogger });
    for (let i = 0; i < 8; i++) processor.record({ name: 'split', attributes: { i } });
    expect((await processor.flush({ timeoutMs: 20_000 })).complete).toBe(true);
    // 8 → 4 + 4 → 2 + 2 + 2 + 2: seven requests, seven different batches, seven keys.
    expect(server.requests).toHaveLength(7);
    expect(byKey(server.requests).size).toBe(7);
  });

  it.each(BATCH_PATHS)('does not depend on how the batch was encoded (%s)', async (_path, batchOf) => {
    server = await TestServer.start();
    const e = new HttpExporter({ url: server.url() });
    exporters.push(e);
    const list = events(4);
    await e.export(batchOf(e, list), neverAborts());
    expect(keyOf(server.requests[0]!)).toBe(idempotencyKey(list, new Uint8Array()));
  });

  it('reads the ids of a batch whose events are JSON only (a spool’s backlog) from its first and last texts, never parsing its events', async () => {
    server = await TestServer.start();
    const e = new HttpExporter({ url: server.url() });
    exporters.push(e);
    const list = events(4);
    const encoded = list.map((event) => JSON.stringify(event));
    const batch = {
      size: list.length,
      get events(): never {
        throw new Error('the events were parsed');
      },
      encoded,
      bytes: encoded.reduce((n, text) => n + Buffer.byteLength(text), 0),
    };
    expect((await e.export(batch, neverAborts())).code).toBe('ok');
    expect(keyOf(server.requests[0]!)).toBe(idempotencyKey(list, new Uint8Array()));
    expect(idsOf(server.requests[0]!)).toEqual(list.map((event) => event.id));
  });

  it('keys a batch whose first or last text is not JSON (a stored value forged with a matching checksum) on its body: export() resolves, and says nothing of the text', async () => {
    server = await TestServer.start({ handler: () => ({ status: 400 }) });
    const e = new HttpExporter({ url: server.url(), compression: 'none' });
    exporters.push(e);
    const list = events(3);
    for (const at of [0, 2]) {
      const encoded = list.map((event) => JSON.stringify(event));
      encoded[at] = 'SECRET-PAYLOAD {"id":"x"}';
      const batch = { size: list.length, events: list, encoded, bytes: encoded.reduce((n, text) => n + Buffer.byteLength(text), 0) };
      const result = await e.export(batch, neverAborts());
      expect(result.code).toBe('reject');
      expect(JSON.stringify(result, (_k, v: unknown) => (v instanceof Error ? v.message : v))).not.toContain('SECRET');
      expect(server.requests).toHaveLength(at === 0 ? 1 : 2); // sent: the destination judges the body
      const request = server.requests.at(-1)!;
      expect(keyOf(request)).toBe(idempotencyKey([], request.body));
    }
  });

  it('reads the ids from the events when the exporter has its own encoder (its texts need not be JSON)', async () => {
    server = await TestServer.start();
    const e = new HttpExporter({ url: server.url(), format: { contentType: 'text/plain', encoder: (event) => `event ${String(event.name)}`, body: (encoded) => encoded.join('\n') } });
    exporters.push(e);
    const list = events(3);
    await e.export(batchFor(e, list), neverAborts());
    expect(keyOf(server.requests[0]!)).toBe(idempotencyKey(list, new Uint8Array()));
  });

  it('differs for batches that share their first and last events but not their size', () => {
    const [a, b, c] = events(3);
    expect(idempotencyKey([a!, c!], new Uint8Array())).not.toBe(idempotencyKey([a!, b!, c!], new Uint8Array()));
  });

  it('keys events without ids on the body, the same for the same body', () => {
    const anonymous: TelemetryEvent[] = [{ name: 'no.id' }];
    const body = Buffer.from('[{"name":"no.id"}]');
    expect(idempotencyKey(anonymous, body)).toBe(idempotencyKey(anonymous, Buffer.from(body)));
    expect(idempotencyKey(anonymous, body)).not.toBe(idempotencyKey(anonymous, Buffer.from('[{"name":"other"}]')));
  });

  it('goes under another header name with idempotencyKeyHeader, and is left out with false', async () => {
    server = await TestServer.start();
    const renamed = new HttpExporter({ url: server.url(), idempotencyKeyHeader: 'X-Request-Key' });
    const off = new HttpExporter({ url: server.url(), idempotencyKeyHeader: false });
    exporters.push(renamed, off);
    await renamed.export(batchFor(renamed, events(2)), neverAborts());
    await off.export(batchFor(off, events(2)), neverAborts());
    expect(server.requests[0]!.headers['x-request-key']).toMatch(/^[0-9a-f]{32}$/);
    expect(server.requests[0]!.headers['idempotency-key']).toBeUndefined();
    expect(server.requests[1]!.headers['idempotency-key']).toBeUndefined();
    expect(server.requests[1]!.headers['x-request-key']).toBeUndefined();
  });
});
