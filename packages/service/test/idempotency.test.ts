import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FunctionExporter, type Recorded } from '@trackpipe/core';
import { parseExposition, valueOf } from '@trackpipe/core/testing';
import { describe, expect, it } from 'vitest';
import { KeyStore } from '@trackpipe/spool';
import { type IngestEvent, MemoryIdempotencyStore, type PersistedAnswer } from '../src/index.js';
import { post, servicesPerTest, waitFor } from './support.js';

const { start } = servicesPerTest();

async function metric(url: string, name: string, labels: Record<string, string>): Promise<number> {
  return valueOf(parseExposition(await (await fetch(`${url}/metrics`)).text()), name, labels);
}

/** Sends a request whose body is held back until `release()`: it is in flight while others run. */
function heldRequest(url: string, headers: Record<string, string>, body: string): { release(): void; answer: Promise<{ status: number; text: string }> } {
  const req = request(url, { method: 'POST', headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers } });
  const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
  });
  // Headers and the first half of the body go now; the server is reading the body.
  req.write(body.slice(0, body.length >> 1));
  return { release: () => req.end(body.slice(body.length >> 1)), answer };
}

describe('idempotent ingest (Idempotency-Key)', () => {
  it('answers a repeat with the original acknowledgement, queueing the batch once', async () => {
    const { url, memory, processor } = await start();
    // No ids in the body: the service assigns them, so a replayed answer can only come from memory.
    const body = { batch: [{ name: 'a' }, { name: 'b' }] };
    const headers = { 'idempotency-key': 'batch-0001' };
    const first = await post(`${url}/v1/batch`, body, { headers });
    expect(first.status).toBe(202);
    expect(first.headers.get('idempotent-replayed')).toBeNull();
    for (let i = 0; i < 3; i++) {
      const again = await post(`${url}/v1/batch`, body, { headers });
      expect(again.status).toBe(202);
      expect(again.body).toEqual(first.body);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
    }
    await waitFor(() => memory.events.length === 2, 10_000, 'delivery');
    expect(processor.stats().recorded).toBe(2);
    expect(memory.events.map((e) => e.id).sort()).toEqual([...first.body.ids!].sort());

    expect(await metric(url, 'trackpipe_service_idempotent_requests_total', { transport: 'http', outcome: 'first' })).toBe(1);
    expect(await metric(url, 'trackpipe_service_idempotent_requests_total', { transport: 'http', outcome: 'replayed' })).toBe(3);
    expect(await metric(url, 'trackpipe_service_events_accepted_total', { transport: 'http' })).toBe(2);
    expect(await metric(url, 'trackpipe_service_idempotency_keys', {})).toBe(1);
  });

  it('queues a concurrent duplicate (same key, still being received) once, and answers both alike', async () => {
    const { url, processor } = await start();
    const body = JSON.stringify({ batch: Array.from({ length: 50 }, () => ({ name: 'concurrent', attributes: { pad: 'x'.repeat(200) } })) });
    const headers = { 'idempotency-key': 'same-batch' };
    const one = heldRequest(`${url}/v1/batch`, headers, body);
    const two = heldRequest(`${url}/v1/batch`, headers, body);
    await new Promise((resolve) => setTimeout(resolve, 100)); // both are in flight now
    expect(processor.stats().recorded).toBe(0);
    one.release();
    two.release();
    const [a, b] = await Promise.all([one.answer, two.answer]);
    expect([a.status, b.status]).toEqual([202, 202]);
    expect(JSON.parse(a.text)).toEqual(JSON.parse(b.text));
    expect(processor.stats().recorded).toBe(50);
  });

  it('refuses the key with another body (422), queueing nothing', async () => {
    const { url, processor } = await start();
    const headers = { 'idempotency-key': 'reused' };
    expect((await post(`${url}/v1/track`, { name: 'first' }, { headers })).status).toBe(202);
    const other = await post(`${url}/v1/track`, { name: 'second' }, { headers });
    expect(other.status).toBe(422);
    expect(other.body.error?.code).toBe('idempotency_key_reused');
    expect(processor.stats().recorded).toBe(1);
    expect(await metric(url, 'trackpipe_service_idempotent_requests_total', { transport: 'http', outcome: 'conflict' })).toBe(1);
  });

  it('does not remember a refusal: the retry of a 503 is queued', async () => {
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const exporter = new FunctionExporter<Recorded<IngestEvent>>(async () => {
      await gate;
    });
    const { url, processor } = await start({ exporter, processor: { maxQueueSize: 2, maxBatchSize: 2, maxConcurrentExports: 1, flushIntervalMs: 60_000 } });
    expect((await post(`${url}/v1/batch`, { batch: [{ name: 'fill' }, { name: 'fill' }] })).status).toBe(202);
    await waitFor(() => processor.stats().inFlight === 2, 10_000, 'the batch to leave');
    expect((await post(`${url}/v1/batch`, { batch: [{ name: 'fill' }, { name: 'fill' }] })).status).toBe(202);
    const headers = { 'idempotency-key': 'retry-me' };
    const body = { batch: [{ id: 'r-1', name: 'retried' }] };
    expect((await post(`${url}/v1/batch`, body, { headers })).status).toBe(503);
    open();
    await waitFor(() => processor.stats().queued === 0 && processor.stats().inFlight === 0, 10_000, 'the queue to drain');
    const retried = await post(`${url}/v1/batch`, body, { headers });
    expect(retried.status).toBe(202);
    expect(retried.headers.get('idempotent-replayed')).toBeNull();
    expect(processor.stats().recorded).toBe(5);
  });

  it('keeps keys apart per API key and per route', async () => {
    const { url, processor } = await start({ apiKeys: ['key-a', 'key-b'] });
    const body = { batch: [{ name: 'x' }] };
    const a = await post(`${url}/v1/batch`, body, { headers: { 'idempotency-key': 'k1', authorization: 'Bearer key-a' } });
    const b = await post(`${url}/v1/batch`, body, { headers: { 'idempotency-key': 'k1', authorization: 'Bearer key-b' } });
    expect(b.body.ids).not.toEqual(a.body.ids);
    const track = await post(`${url}/v1/track`, { name: 'x' }, { headers: { 'idempotency-key': 'k1', authorization: 'Bearer key-a' } });
    expect(track.status).toBe(202);
    expect(processor.stats().recorded).toBe(3);
  });

  it('refuses a malformed key with 400 before reading the body', async () => {
    const { url, processor } = await start();
    for (const key of [' ', 'x'.repeat(256), 'tab\there', 'é']) {
      const res = await post(`${url}/v1/track`, { name: 'x' }, { headers: { 'idempotency-key': key } });
      expect(res.status, JSON.stringify(key)).toBe(400);
    }
    expect(processor.stats().recorded).toBe(0);
  });

  it('refuses two Idempotency-Key headers with 400 (Node would join them into one key "a, b")', async () => {
    const { url, processor } = await start();
    const body = JSON.stringify({ name: 'x' });
    const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = request(`${url}/v1/track`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'idempotency-key': ['a', 'b'] },
      });
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      req.end(body);
    });
    expect(answer.status).toBe(400);
    expect(answer.text).toContain('Idempotency-Key must be one value');
    expect(processor.stats().recorded).toBe(0);
  });

  it('remembers a bounded number of keys: past maxKeys the oldest is forgotten and its repeat queued again', async () => {
    const { url, processor } = await start({ idempotency: { maxKeys: 2 } });
    for (const key of ['a', 'b', 'c']) await post(`${url}/v1/track`, { name: key }, { headers: { 'idempotency-key': key } });
    expect(processor.stats().recorded).toBe(3);
    expect((await post(`${url}/v1/track`, { name: 'c' }, { headers: { 'idempotency-key': 'c' } })).headers.get('idempotent-replayed')).toBe('true');
    expect((await post(`${url}/v1/track`, { name: 'a' }, { headers: { 'idempotency-key': 'a' } })).headers.get('idempotent-replayed')).toBeNull();
    expect(processor.stats().recorded).toBe(4);
  });
});

describe('MemoryIdempotencyStore', () => {
  it('forgets keys after ttlMs, the oldest past maxKeys, and the oldest past maxBytes', () => {
    let now = 1_000;
    const store = new MemoryIdempotencyStore({ ttlMs: 100, maxKeys: 3, maxBytes: 6_000, now: () => now });
    store.set('k1', { fingerprint: 'f', ids: ['a'] });
    now += 60;
    store.set('k2', { fingerprint: 'f', ids: ['b'] });
    expect(store.get('k1')).toEqual({ fingerprint: 'f', ids: ['a'] });
    now += 50; // k1 is 110 ms old, k2 50
    expect(store.get('k1')).toBeUndefined();
    expect(store.get('k2')?.ids).toEqual(['b']);
    expect(store.size).toBe(1);

    store.set('k3', { fingerprint: 'f', ids: ['c'] });
    store.set('k4', { fingerprint: 'f', ids: ['d'] });
    store.set('k5', { fingerprint: 'f', ids: ['e'] });
    expect(store.size).toBe(3);
    expect(store.get('k2')).toBeUndefined();

    const big = Array.from({ length: 100 }, (_, i) => `0190c3a2-7b1e-7c3d-8e4f-${String(i).padStart(12, '0')}`);
    store.set('big1', { fingerprint: 'f', ids: big });
    store.set('big2', { fingerprint: 'f', ids: big });
    expect(store.bytes).toBeLessThanOrEqual(6_000);
    expect(store.get('big1')).toBeUndefined();
    expect(store.get('big2')?.ids).toEqual(big);
  });

  it('with a KeyStore, finds its fresh keys again after a restart; expired and evicted keys are gone from disk too', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trackpipe-idempotency-'));
    const silent = { warn: () => undefined, error: () => undefined };
    try {
      let now = 1_000;
      const options = { ttlMs: 1_000, maxKeys: 3, now: () => now };
      const first = new MemoryIdempotencyStore({ ...options, persistence: KeyStore.open<PersistedAnswer>(dir, silent) });
      for (const [i, key] of ['k1', 'k2', 'k3', 'k4'].entries()) {
        now += 100;
        first.set(key, { fingerprint: `f${i}`, ids: [`id-${i}`, 'ü"\\'] });
      }
      expect(await first.persisted()).toBe(true);
      expect(first.get('k1')).toBeUndefined(); // evicted: maxKeys 3
      await first.close();

      now += 750; // k2 is 950 ms old: still fresh; k3 and k4 too
      const second = new MemoryIdempotencyStore({ ...options, persistence: KeyStore.open<PersistedAnswer>(dir, silent) });
      expect(second.size).toBe(3);
      expect(second.get('k1')).toBeUndefined();
      expect(second.get('k2')).toEqual({ fingerprint: 'f1', ids: ['id-1', 'ü"\\'] });
      expect(second.get('k4')).toEqual({ fingerprint: 'f3', ids: ['id-3', 'ü"\\'] });
      await second.close();

      now += 100; // k2 expired before this start: not loaded, and removed from disk
      const keys = KeyStore.open<PersistedAnswer>(dir, silent);
      const third = new MemoryIdempotencyStore({ ...options, persistence: keys });
      expect(third.get('k2')).toBeUndefined();
      expect(third.get('k3')?.fingerprint).toBe('f2');
      await third.close();
      const onDisk = KeyStore.open<PersistedAnswer>(dir, silent);
      expect(onDisk.load().map(([key]) => key)).toEqual(['k3', 'k4']);
      await onDisk.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('treats a record on disk that is not an answer as forgotten', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'trackpipe-idempotency-'));
    const silent = { warn: () => undefined, error: () => undefined };
    try {
      const raw = KeyStore.open<unknown>(dir, silent);
      await raw.put('number', { at: Date.now(), value: 42 });
      await raw.put('bad-ids', { at: Date.now(), value: { fingerprint: 'f', ids: '{not json' } });
      await raw.put('not-strings', { at: Date.now(), value: { fingerprint: 'f', ids: '[1,2]' } });
      await raw.close();
      const store = new MemoryIdempotencyStore({ persistence: KeyStore.open<PersistedAnswer>(dir, silent) });
      expect(store.get('number')).toBeUndefined();
      expect(store.get('bad-ids')).toBeUndefined();
      expect(store.get('not-strings')).toBeUndefined();
      await store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses options that are not positive integers', () => {
    expect(() => new MemoryIdempotencyStore({ maxKeys: 0 })).toThrow(/idempotency\.maxKeys must be an integer >= 1/);
    expect(() => new MemoryIdempotencyStore({ ttlMs: 1.5 })).toThrow(/idempotency\.ttlMs/);
  });
});
