import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { BatchProcessor, silentLogger } from '@trackpipe/core';
import { HttpExporter } from '@trackpipe/exporter-http';
import { batchFor, events } from './helpers/batch.js';
import { closeRawServers, rawServer } from './helpers/raw-server.js';
import { TestServer } from './helpers/test-server.js';

// Destinations that answer in ways a well-behaved server would not.
const servers: TestServer[] = [];
afterEach(async () => {
  closeRawServers();
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

// The status is in, the rest never comes (or the request's body is never read): the status decides,
// and the connection is freed.
describe('an exchange that never ends after its status', () => {
  it('delivers a batch once when the 200 answering it promises a body that never comes: not timed out and sent again', async () => {
    const server = await rawServer((socket) => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{}'));
    const processor = new BatchProcessor(new HttpExporter({ url: server.url }), { exportTimeoutMs: 5_000, logger: silentLogger });
    for (let i = 0; i < 3; i++) processor.record({ name: 'once' });
    expect(await processor.close({ timeoutMs: 15_000 })).toMatchObject({ complete: true, exported: 3, dropped: 0 });
    expect(server.requests).toBe(1);
  });

  it('frees the connection of an answer given before the request body was read, so the next export is not left without one', async () => {
    // The server answers on the headers and never reads the body, which is larger than the socket buffers take.
    const server = await rawServer((socket) => {
      socket.pause();
      socket.write('HTTP/1.1 413 Payload Too Large\r\ncontent-length: 0\r\n\r\n');
    });
    const exporter = new HttpExporter({ url: server.url, maxSockets: 1, gzipThresholdBytes: false });
    onTestFinished(() => exporter.shutdown());
    const batch = batchFor(exporter, events(60_000, { pad: 'x'.repeat(300) }));
    expect(batch.bytes).toBeGreaterThan(20_000_000);
    for (let i = 0; i < 3; i++) expect((await exporter.export(batch, AbortSignal.timeout(10_000))).code).toBe('too_large');
    expect(server.connections).toBe(3);
  });
});

describe('a redirect to another host', () => {
  it('is not followed: the batch, its credentials and its token never reach the Location', async () => {
    const elsewhere = await TestServer.start();
    const redirecting = await TestServer.start({ handler: () => ({ status: 307, headers: { location: elsewhere.url('/steal') } }) });
    servers.push(elsewhere, redirecting);
    const url = redirecting.url('/v1/logs').replace('http://', 'http://user:pass-4567@');
    const exporter = new HttpExporter({ url, headers: { authorization: 'Bearer token-1234' } });
    onTestFinished(() => exporter.shutdown());
    const result = await exporter.export(batchFor(exporter, events(2)), AbortSignal.timeout(10_000));
    expect(result).toMatchObject({ code: 'reject', error: { details: { status: 307 } } });
    expect(redirecting.requests).toHaveLength(1);
    expect(elsewhere.requests).toHaveLength(0);
    expect(elsewhere.connections).toBe(0);
  });
});
