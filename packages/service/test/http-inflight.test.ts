// maxInFlightBytes over HTTP: a service-wide bound on the request-body bytes read at once. Slow clients
// that hold bodies half-sent cannot make the service buffer more; a request that does not fit is
// answered 503 overloaded at once, and every way a request ends gives its reservation back.
import { request } from 'node:http';
import { type Socket, connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { TrackpipeError } from '@trackpipe/core';
import { parseExposition, valueOf } from '@trackpipe/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { TrackpipeService, createService, parseServiceConfig } from '../src/index.js';
import { post, postChunked, servicesPerTest } from './support.js';

const KiB = 1024;
const KEY = 'k-inflight-1';
const AUTH = { authorization: `Bearer ${KEY}` };

const { start, adopt } = servicesPerTest(2_000);
const sockets: Socket[] = [];

afterEach(() => {
  for (const s of sockets.splice(0)) s.destroy();
});

/** A /v1/track body of exactly `bytes` bytes for an event named `name`. */
function trackBody(name: string, bytes: number): string {
  const empty = JSON.stringify({ name, attributes: { pad: '' } });
  const body = JSON.stringify({ name, attributes: { pad: 'p'.repeat(bytes - empty.length) } });
  expect(Buffer.byteLength(body)).toBe(bytes);
  return body;
}

/** The service's gauge of reserved request-body bytes, read from `GET /metrics`. */
async function inFlight(url: string): Promise<number> {
  return valueOf(parseExposition(await (await fetch(`${url}/metrics`)).text()), 'trackpipe_service_request_bytes_in_flight', {});
}

/** A raw HTTP/1.1 answer. */
interface RawAnswer {
  status: number;
  headers: string;
  body: string;
}

/** A client on a raw socket that sent its headers and only part of its body. */
interface Stalled {
  socket: Socket;
  /** What the server has sent so far. */
  received(): string;
  /** Sends the rest of the body and resolves with the answer. */
  finish(): Promise<RawAnswer>;
}

/** Opens a connection, sends a POST announcing all of `body` and sends the first `sent` bytes of it, then stalls. */
async function stalledPost(port: number, path: string, body: string | Buffer, sent: number, headers: Record<string, string> = {}): Promise<Stalled> {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (received += chunk));
  socket.on('error', () => undefined);
  const extra = Object.entries(headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  const bytes = Buffer.from(body);
  socket.write(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${bytes.length}\r\n${extra}\r\n`);
  socket.write(bytes.subarray(0, sent));
  return {
    socket,
    received: () => received,
    async finish() {
      socket.write(bytes.subarray(sent));
      await expect.poll(() => complete(received), { timeout: 10_000 }).toBeDefined();
      return complete(received)!;
    },
  };
}

/** The first answer in `text`, once all of it (headers and Content-Length bytes of body) has arrived. */
function complete(text: string): RawAnswer | undefined {
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const headers = text.slice(0, end);
  const length = Number(/\r\ncontent-length: (\d+)/i.exec(headers)?.[1] ?? 0);
  const body = text.slice(end + 4, end + 4 + length);
  if (body.length < length) return undefined;
  return { status: Number(headers.slice(9, 12)), headers, body };
}

describe('HTTP maxInFlightBytes', () => {
  it('answers 503 overloaded at once while stalled bodies hold the budget, serves what fits, and frees the budget as bodies finish', async () => {
    const { url, processor, memory } = await start({ http: { port: 0, maxBodyBytes: 128 * KiB, requestTimeoutMs: 20_000 }, maxInFlightBytes: 256 * KiB });
    const port = Number(new URL(url).port);
    const a = await stalledPost(port, '/v1/track', trackBody('stalled-a', 100 * KiB), 40 * KiB);
    const b = await stalledPost(port, '/v1/track', trackBody('stalled-b', 100 * KiB), 40 * KiB);
    await expect.poll(() => inFlight(url), { timeout: 10_000 }).toBe(200 * KiB);

    const began = performance.now();
    const refused = await post(`${url}/v1/track`, trackBody('refused', 100 * KiB), { raw: true });
    expect(refused.status).toBe(503);
    expect(refused.body.error?.code).toBe('overloaded');
    expect(refused.body.error?.message).toContain('maxInFlightBytes (262144)');
    expect(refused.headers.get('retry-after')).toBe('1');
    // At once, not at a timeout: the stalled clients have had no answer yet.
    expect(performance.now() - began).toBeLessThan(10_000);
    expect(a.received()).toBe('');
    expect(b.received()).toBe('');

    // A small body still fits beside the stalled ones.
    expect((await post(`${url}/v1/track`, trackBody('small', 10 * KiB), { raw: true })).status).toBe(202);

    const finished = await a.finish();
    expect(finished.status).toBe(202);
    await expect.poll(() => inFlight(url), { timeout: 10_000 }).toBe(100 * KiB);
    expect((await post(`${url}/v1/track`, trackBody('after', 100 * KiB), { raw: true })).status).toBe(202);

    await expect.poll(() => memory.events.map((e) => e.name).sort(), { timeout: 10_000 }).toEqual(['after', 'small', 'stalled-a']);
    expect(processor.stats().recorded).toBe(3);
    const families = parseExposition(await (await fetch(`${url}/metrics`)).text());
    expect(valueOf(families, 'trackpipe_service_requests_total', { transport: 'http', route: '/v1/track', status: '503' })).toBe(1);

    // A client that goes away gives its reservation back.
    b.socket.destroy();
    await expect.poll(() => inFlight(url), { timeout: 10_000 }).toBe(0);
  });

  it('refuses an Expect: 100-continue request the budget has no room for before its body is sent, and lets one that fits continue', async () => {
    const { url, processor } = await start({ http: { port: 0, maxBodyBytes: 128 * KiB }, maxInFlightBytes: 256 * KiB });
    const port = Number(new URL(url).port);
    const held = [await stalledPost(port, '/v1/track', trackBody('held-a', 100 * KiB), 10), await stalledPost(port, '/v1/track', trackBody('held-b', 100 * KiB), 10)];
    await expect.poll(() => inFlight(url), { timeout: 10_000 }).toBe(200 * KiB);
    const refused = await postExpecting(url, trackBody('refused', 100 * KiB));
    expect(refused).toMatchObject({ continued: false, status: 503, retryAfter: '1' });
    expect(JSON.parse(refused.text)).toMatchObject({ error: { code: 'overloaded' } });
    const fits = await postExpecting(url, trackBody('fits', 10 * KiB));
    expect(fits).toMatchObject({ continued: true, status: 202 });
    for (const h of held) expect((await h.finish()).status).toBe(202);
    expect(processor.stats().recorded).toBe(3);
    await expect.poll(() => inFlight(url), { timeout: 10_000 }).toBe(0);
  });

  it('gives every reservation back however the request ends, so the whole budget can be held again', async () => {
    const { url, processor } = await start({
      apiKeys: [KEY],
      http: { port: 0, maxBodyBytes: 128 * KiB, requestTimeoutMs: 3_000 }, maxInFlightBytes: 256 * KiB,
    });
    const port = Number(new URL(url).port);
    const track = (body: string | Uint8Array, headers: Record<string, string> = {}) => post(`${url}/v1/track`, body, { raw: true, headers: { ...AUTH, ...headers } });
    const statuses: number[] = [];
    for (let round = 0; round < 2; round++) {
      // Complete, accepted; accepted again and replayed by its Idempotency-Key; the key with another body.
      statuses.push((await track(trackBody(`ok-${round}`, 20 * KiB))).status);
      statuses.push((await track(trackBody(`idem-${round}`, 20 * KiB), { 'idempotency-key': `key-${round}` })).status);
      statuses.push((await track(trackBody(`idem-${round}`, 20 * KiB), { 'idempotency-key': `key-${round}` })).status);
      statuses.push((await track(trackBody(`other-${round}`, 20 * KiB), { 'idempotency-key': `key-${round}` })).status);
      // Bad gzip, a gzip bomb (413 after decompression), invalid JSON, invalid UTF-8, an invalid event.
      statuses.push((await track(Buffer.from('not gzip at all'), { 'content-encoding': 'gzip' })).status);
      statuses.push((await track(gzipSync(trackBody('bomb', 1024 * KiB)), { 'content-encoding': 'gzip' })).status);
      statuses.push((await track('{"name": ')).status);
      statuses.push((await track(Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x7d]))).status);
      statuses.push((await track(JSON.stringify({ nope: 1 }))).status);
      // 413 declared, 415, 401 (none of them reads a body).
      statuses.push((await track(trackBody('big', 200 * KiB))).status);
      statuses.push((await track('x', { 'content-type': 'text/plain' })).status);
      statuses.push((await post(`${url}/v1/track`, trackBody('anon', 20 * KiB), { raw: true })).status);
      // Chunked (no Content-Length): one that fits, one past maxBodyBytes.
      statuses.push(await postChunked(`${url}/v1/track`, JSON.stringify({ name: `chunked-${round}` }), AUTH));
      statuses.push(await postChunked(`${url}/v1/track`, { chunks: 200, chunkSize: 1 * KiB }, AUTH));
      // Aborted mid-body by the client, and cut by requestTimeoutMs (408), both once their bytes were reserved.
      const aborted = await stalledPost(port, '/v1/track', trackBody('aborted', 100 * KiB), 10 * KiB, AUTH);
      const timedOut = await stalledPost(port, '/v1/track', trackBody('timed-out', 100 * KiB), 10 * KiB, AUTH);
      await expect.poll(() => inFlight(url), { timeout: 10_000 }).toBe(200 * KiB);
      aborted.socket.destroy();
      await expect.poll(() => timedOut.received(), { timeout: 10_000 }).toMatch(/^HTTP\/1\.1 408 /);
      await expect.poll(() => inFlight(url), { timeout: 10_000 }).toBe(0);
    }
    expect(statuses).toEqual(Array.from({ length: 2 }, () => [202, 202, 202, 422, 400, 413, 400, 400, 400, 413, 415, 401, 202, 413]).flat());
    expect(processor.stats().recorded).toBe(6);
    expect(await inFlight(url)).toBe(0);

    // The whole budget: two bodies of maxBodyBytes held at once fit (one byte leaked would refuse the second).
    const first = await stalledPost(port, '/v1/track', trackBody('full-1', 128 * KiB), 1 * KiB, AUTH);
    const second = await stalledPost(port, '/v1/track', trackBody('full-2', 128 * KiB), 1 * KiB, AUTH);
    await expect.poll(() => inFlight(url), { timeout: 10_000 }).toBe(256 * KiB);
    const full = await track(trackBody('one-more', 1 * KiB));
    expect(full.status).toBe(503);
    expect(full.body.error?.code).toBe('overloaded');
    expect((await first.finish()).status).toBe(202);
    expect((await second.finish()).status).toBe(202);
    await expect.poll(() => inFlight(url), { timeout: 10_000 }).toBe(0);
  });

  it('reserves a compressed body only its own bytes while it arrives, and maxBodyBytes more to decompress it (503 when that does not fit)', async () => {
    const { url, processor } = await start({ http: { port: 0, maxBodyBytes: 128 * KiB }, maxInFlightBytes: 256 * KiB });
    const port = Number(new URL(url).port);
    const zipped = gzipSync(trackBody('zipped', 100 * KiB));
    expect(zipped.length).toBeLessThan(4 * KiB);
    // A slow gzip client holds what it sends, not the size it will decompress to.
    const slow = await stalledPost(port, '/v1/track', zipped, 100, { 'content-encoding': 'gzip' });
    await expect.poll(() => inFlight(url), { timeout: 10_000 }).toBe(zipped.length);
    // Two plain bodies leave less than maxBodyBytes: the gzip body arrives, but cannot be decompressed now.
    const plain = [await stalledPost(port, '/v1/track', trackBody('a', 100 * KiB), 10), await stalledPost(port, '/v1/track', trackBody('b', 100 * KiB), 10)];
    await expect.poll(() => inFlight(url), { timeout: 10_000 }).toBe(zipped.length + 200 * KiB);
    const refused = await slow.finish();
    expect(refused.status).toBe(503);
    expect(refused.headers).toMatch(/\r\nretry-after: 1/i);
    expect(JSON.parse(refused.body)).toMatchObject({ error: { code: 'overloaded' } });
    await expect.poll(() => inFlight(url), { timeout: 10_000 }).toBe(200 * KiB);
    for (const p of plain) expect((await p.finish()).status).toBe(202);
    await expect.poll(() => inFlight(url), { timeout: 10_000 }).toBe(0);
    // With room, the same body is decompressed and accepted.
    expect((await post(`${url}/v1/track`, zipped, { raw: true, headers: { 'content-encoding': 'gzip' } })).status).toBe(202);
    expect(processor.stats().recorded).toBe(3);
    await expect.poll(() => inFlight(url), { timeout: 10_000 }).toBe(0);
  });

  it('defaults to 16 bodies of maxBodyBytes', async () => {
    const { url } = await start({ http: { port: 0, maxBodyBytes: 8 * KiB } });
    const port = Number(new URL(url).port);
    for (let i = 0; i < 16; i++) await stalledPost(port, '/v1/track', trackBody(`held-${i}`, 8 * KiB), 100);
    await expect.poll(() => inFlight(url), { timeout: 10_000 }).toBe(128 * KiB);
    const refused = await post(`${url}/v1/track`, trackBody('seventeenth', 1 * KiB), { raw: true });
    expect(refused.status).toBe(503);
    expect(refused.body.error?.code).toBe('overloaded');
  });

  it('takes service.maxInFlightBytes from the configuration', async () => {
    const config = parseServiceConfig(
      {
        service: { http: { port: 0, maxBodyBytes: 32 * KiB }, grpc: { enabled: false }, maxInFlightBytes: 64 * KiB },
        pipelines: [{ exporters: [{ type: 'memory' }] }],
      },
      { env: {} },
    );
    expect(config.service.maxInFlightBytes).toBe(64 * KiB);
    expect(parseServiceConfig({ pipelines: [{ exporters: [{ type: 'memory' }] }] }, { env: {} }).service.maxInFlightBytes).toBeUndefined();
    const { service } = await createService(config);
    adopt(service);
    const { http } = await service.start();
    const url = http!.url;
    const port = Number(new URL(url).port);
    const held = [await stalledPost(port, '/v1/track', trackBody('held-1', 32 * KiB), 1 * KiB), await stalledPost(port, '/v1/track', trackBody('held-2', 32 * KiB), 1 * KiB)];
    await expect.poll(() => inFlight(url), { timeout: 10_000 }).toBe(64 * KiB);
    expect((await post(`${url}/v1/track`, trackBody('refused', 1 * KiB), { raw: true })).status).toBe(503);
    for (const request of held) expect((await request.finish()).status).toBe(202);
    expect((await post(`${url}/v1/track`, trackBody('fits', 1 * KiB), { raw: true })).status).toBe(202);
  });

  it('fails at start naming maxInFlightBytes for a bad value, and both options when it is below maxBodyBytes', async () => {
    const { processor } = await start({ http: false });
    const built = ({ maxInFlightBytes, ...http }: { maxBodyBytes?: number; maxInFlightBytes?: number }): TrackpipeError => {
      try {
        new TrackpipeService({ collector: processor, grpc: false, http: { port: 0, ...http }, ...(maxInFlightBytes === undefined ? {} : { maxInFlightBytes }) });
      } catch (error) {
        expect(error).toBeInstanceOf(TrackpipeError);
        return error as TrackpipeError;
      }
      throw new Error('the service was built');
    };
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      const error = built({ maxInFlightBytes: bad });
      expect(error.code).toBe('TRACKPIPE_ERR_OPTIONS_INVALID');
      expect(error.message).toContain('maxInFlightBytes must be an integer >= 1');
      expect(error.details).toMatchObject({ option: 'maxInFlightBytes' });
    }
    // A compressed body of the largest size reserves 2 × maxBodyBytes: below that it was answered 503 for ever.
    const below = built({ maxBodyBytes: 2_000, maxInFlightBytes: 3_999 });
    expect(below.code).toBe('TRACKPIPE_ERR_OPTIONS_INVALID');
    expect(below.message).toContain('maxInFlightBytes (3999) must be >= 2 × http.maxBodyBytes (2000)');
    expect(() => built({ maxBodyBytes: 2_000, maxInFlightBytes: 4_000 })).toThrow('the service was built');

    const configured = ({ maxInFlightBytes, ...http }: Record<string, unknown>): TrackpipeError => {
      try {
        parseServiceConfig({ service: { http, maxInFlightBytes }, pipelines: [{ exporters: [{ type: 'memory' }] }] }, { env: {} });
      } catch (error) {
        expect(error).toBeInstanceOf(TrackpipeError);
        return error as TrackpipeError;
      }
      throw new Error('the configuration was accepted');
    };
    for (const bad of [0, 2.5, '64MiB']) {
      const error = configured({ maxInFlightBytes: bad });
      expect(error.code).toBe('TRACKPIPE_ERR_CONFIG_INVALID');
      expect(error.message).toContain('service.maxInFlightBytes: must be an integer >= 1');
    }
    const small = configured({ maxInFlightBytes: 1 * KiB });
    expect(small.code).toBe('TRACKPIPE_ERR_CONFIG_INVALID');
    expect(small.message).toContain('service.maxInFlightBytes: must be >= 2 × service.http.maxBodyBytes');
    expect(small.message).toContain('service.maxInFlightBytes: must be >= 2 × service.grpc.maxMessageBytes');
  });
});

/** POSTs `body` to /v1/track with `Expect: 100-continue`, sending it only if the server says continue. */
function postExpecting(url: string, body: string): Promise<{ continued: boolean; status: number; retryAfter: string | undefined; text: string }> {
  return new Promise((resolve, reject) => {
    let continued = false;
    const req = request(`${url}/v1/track`, {
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), expect: '100-continue' },
    });
    req.on('continue', () => {
      continued = true;
      req.end(body);
    });
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ continued, status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], text }));
    });
    req.on('error', reject);
  });
}
