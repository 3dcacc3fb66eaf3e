import net from 'node:net';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { BatchProcessor, silentLogger } from '@trackpipe/core';
import { HttpExporter } from '@trackpipe/exporter-http';
import { batchFor, events } from './helpers/batch.js';
import { closeRawServers, rawServer } from './helpers/raw-server.js';
import { seededRandom, TestServer } from './helpers/test-server.js';

// Destinations that answer in ways a well-behaved server would not.
const servers: TestServer[] = [];
const resetting: net.Server[] = [];
afterEach(async () => {
  closeRawServers();
  for (const server of resetting.splice(0)) server.close();
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

describe('a destination that resets connections at random points', () => {
  it('delivers every event at least once and drops none: resets mid request body, before the answer, mid status line, after the headers, after the whole answer', async () => {
    const random = seededRandom(0x5e7);
    const stored = new Map<number, number>();
    const resets = new Map<string, number>();
    const OK = 'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}';
    const server = net.createServer((socket) => {
      socket.on('error', () => {});
      const reset = (where: string, after?: string): void => {
        resets.set(where, (resets.get(where) ?? 0) + 1);
        if (after === undefined) socket.resetAndDestroy();
        else socket.write(after, () => socket.resetAndDestroy());
      };
      let buffered = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        buffered = Buffer.concat([buffered, chunk]);
        // Keep-alive: one connection carries request after request.
        for (let end = buffered.indexOf('\r\n\r\n'); end >= 0; end = buffered.indexOf('\r\n\r\n')) {
          const length = Number(/content-length: *(\d+)/i.exec(buffered.subarray(0, end).toString('latin1'))?.[1]);
          if (buffered.length < end + 4 + length) {
            if (random() < 0.15) reset('mid request body');
            return;
          }
          const events = JSON.parse(buffered.subarray(end + 4, end + 4 + length).toString('utf8')) as { attributes: { i: number } }[];
          buffered = buffered.subarray(end + 4 + length);
          const roll = random();
          if (roll < 0.08) {
            reset('before the answer');
            return;
          }
          // Stored: whether the client hears of it depends on the reset that may follow.
          if (roll < 0.5) for (const { attributes } of events) stored.set(attributes.i, (stored.get(attributes.i) ?? 0) + 1);
          if (roll < 0.16) reset('mid status line', 'HTTP/1.1 20');
          else if (roll < 0.24) reset('after the headers', 'HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n{');
          else if (roll < 0.32) reset('after the whole answer', OK);
          else socket.write(roll < 0.5 ? OK : 'HTTP/1.1 503 Busy\r\ncontent-length: 0\r\n\r\n');
          if (roll < 0.32) return;
        }
      });
    });
    resetting.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const exporter = new HttpExporter({ url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/`, gzipThresholdBytes: false });
    const processor = new BatchProcessor(exporter, {
      maxBatchSize: 50,
      flushIntervalMs: 10,
      retry: { initialBackoffMs: 5, maxBackoffMs: 50 },
      logger: silentLogger,
    });
    // Bodies of about 100 KB, which arrive in several reads: some are reset while the client is still sending.
    for (let i = 0; i < 3_000; i++) processor.record({ name: 'reset.me', attributes: { i, pad: 'x'.repeat(2_000) } });
    const report = await processor.close({ timeoutMs: 60_000 });

    expect(report).toMatchObject({ complete: true, exported: 3_000, dropped: 0 });
    for (const where of ['mid request body', 'before the answer', 'mid status line', 'after the headers', 'after the whole answer']) {
      expect(resets.get(where), where).toBeGreaterThan(0);
    }
    for (let i = 0; i < 3_000; i++) expect(stored.get(i) ?? 0, `event ${i}`).toBeGreaterThanOrEqual(1);
  });
});
