import * as zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { BatchProcessor, silentLogger } from '@trackpipe/core';
import { HttpExporter, zstdAvailable } from '@trackpipe/exporter-http';
import { post, servicesPerTest, waitFor } from './support.js';

// zstd arrived in Node.js 22.15 (zlib.zstdCompress): the suite runs on Node 20 and on 22, 24 and 26,
// so each line registers the tests of what it can do — accept zstd bodies, or refuse them naming why
// (registered, not skipped: no line reports a skipped test).
const zstd = zlib as unknown as { zstdCompressSync?: (body: Buffer) => Buffer };

const { start } = servicesPerTest();

const batch = (n: number): string => JSON.stringify({ batch: Array.from({ length: n }, (_, i) => ({ name: 'zstd.event', attributes: { i } })) });

if (zstdAvailable) describe('HTTP ingest, zstd bodies (Node.js 22.15 and later)', () => {
  const compress = (text: string): Buffer => zstd.zstdCompressSync!(Buffer.from(text));

  it('accepts a zstd-compressed body and delivers its events', async () => {
    const { url, memory } = await start();
    const res = await post(`${url}/v1/batch`, compress(batch(3)), { raw: true, headers: { 'content-encoding': 'zstd' } });
    expect(res.status).toBe(202);
    expect(res.body.accepted).toBe(3);
    await waitFor(() => memory.events.length === 3, 10_000, 'delivery');
    expect(memory.events.map((e) => e.attributes?.i)).toEqual([0, 1, 2]);
  });

  it('answers 400 to a body that is not valid zstd, or is cut short, and queues nothing', async () => {
    const { url, processor } = await start();
    const garbage = await post(`${url}/v1/batch`, Buffer.from('not zstd at all'), { raw: true, headers: { 'content-encoding': 'zstd' } });
    expect(garbage.status).toBe(400);
    expect(garbage.body.error).toEqual({ code: 'invalid_body', message: 'the body is not valid zstd' });
    // Node 24 and later report a frame cut short; Node 22's zstd decodes it to nothing, which is no JSON.
    const whole = compress(batch(2));
    const cut = await post(`${url}/v1/batch`, whole.subarray(0, whole.length - 4), { raw: true, headers: { 'content-encoding': 'zstd' } });
    expect(cut.status).toBe(400);
    expect([
      { code: 'invalid_body', message: 'the body is not valid zstd' },
      { code: 'invalid_json', message: 'the body is not valid JSON' },
    ]).toContainEqual(cut.body.error);
    expect(processor.stats().recorded).toBe(0);
  });

  it('answers 413 to a zstd body that inflates past maxBodyBytes (a compression bomb), and stays up', async () => {
    const { url } = await start({ http: { maxBodyBytes: 64 * 1024 } });
    const bomb = compress(JSON.stringify({ batch: [{ name: 'x', attributes: { pad: ' '.repeat(10_000_000) } }] }));
    expect(bomb.length).toBeLessThan(64 * 1024);
    const res = await post(`${url}/v1/batch`, bomb, { raw: true, headers: { 'content-encoding': 'zstd' } });
    expect(res.status).toBe(413);
    expect((await post(`${url}/v1/track`, { name: 'after' })).status).toBe(202);
  });

  it('takes what the HTTP exporter sends with compression "zstd": every event arrives', async () => {
    const { url, memory } = await start();
    const exporter = new HttpExporter({ url: `${url}/v1/batch`, envelopeKey: 'batch', compression: 'zstd', gzipThresholdBytes: 1 });
    const processor = new BatchProcessor(exporter, { maxBatchSize: 100, logger: silentLogger });
    for (let i = 0; i < 250; i++) processor.record({ name: 'from.exporter', attributes: { i } });
    const report = await processor.close({ timeoutMs: 10_000 });
    expect(report).toMatchObject({ complete: true, exported: 250, dropped: 0 });
    await waitFor(() => memory.events.length === 250, 10_000, 'delivery');
    expect(new Set(memory.events.map((e) => e.attributes?.i)).size).toBe(250);
  });
});

if (!zstdAvailable) describe('HTTP ingest, zstd bodies (Node.js before 22.15)', () => {
  it('answers 415 to Content-Encoding zstd, naming the Node.js version it needs', async () => {
    const { url, processor } = await start();
    const res = await post(`${url}/v1/batch`, Buffer.from(batch(1)), { raw: true, headers: { 'content-encoding': 'zstd' } });
    expect(res.status).toBe(415);
    expect(res.body.error).toMatchObject({ code: 'unsupported_media_type' });
    expect(res.body.error?.message).toMatch(/zstd needs Node\.js 22\.15/);
    expect(processor.stats().recorded).toBe(0);
  });
});
