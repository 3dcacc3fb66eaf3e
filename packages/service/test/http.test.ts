import { request } from 'node:http';
import { connect } from 'node:net';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { parseExposition, valueOf } from '@trackpipe/core/testing';
import { jsonLogger } from '../src/index.js';
import { post, postChunked, servicesPerTest, waitFor } from './support.js';

const { start } = servicesPerTest();

describe('HTTP ingest', () => {
  it('accepts one event on POST /v1/track with 202 and its id, and delivers it', async () => {
    const { url, memory } = await start();
    const res = await post(`${url}/v1/track`, { name: 'checkout.completed', attributes: { total: 42 } });
    expect(res.status).toBe(202);
    expect(res.body.accepted).toBe(1);
    const [id] = res.body.ids!;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    await waitFor(() => memory.events.length === 1, 10_000, 'delivery');
    expect(memory.events[0]).toMatchObject({ id, name: 'checkout.completed', attributes: { total: 42 } });
    expect(typeof memory.events[0]!.timestamp).toBe('number');
  });

  it('accepts { batch: [...] } on POST /v1/batch, keeping the ids the client sent', async () => {
    const { url, memory } = await start();
    const batch = Array.from({ length: 50 }, (_, i) => ({ id: `e-${i}`, name: 'page.viewed', attributes: { i } }));
    const res = await post(`${url}/v1/batch`, { batch });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ accepted: 50, ids: batch.map((e) => e.id) });
    await waitFor(() => memory.events.length === 50, 10_000, 'delivery');
    expect(memory.events.map((e) => e.id).sort()).toEqual(batch.map((e) => e.id).sort());
  });

  it('turns POST /v1/identify into an identify event holding userId and traits', async () => {
    const { url, memory } = await start();
    const res = await post(`${url}/v1/identify`, { userId: 'user-7', traits: { plan: 'pro' } });
    expect(res.status).toBe(202);
    await waitFor(() => memory.events.length === 1, 10_000, 'delivery');
    expect(memory.events[0]).toMatchObject({ id: res.body.ids?.[0], name: 'identify', attributes: { userId: 'user-7', traits: { plan: 'pro' } } });
  });

  it('accepts a gzip-compressed body (what the HTTP exporter sends for large batches)', async () => {
    const { url, memory } = await start();
    const body = gzipSync(JSON.stringify({ batch: [{ name: 'a' }, { name: 'b' }] }));
    const res = await post(`${url}/v1/batch`, body, { raw: true, headers: { 'content-encoding': 'gzip' } });
    expect(res.status).toBe(202);
    await waitFor(() => memory.events.length === 2, 10_000, 'delivery');
  });

  it('answers 400 to malformed JSON without echoing the body, and stays up', async () => {
    const { url } = await start();
    const res = await post(`${url}/v1/track`, '{"name": "x", secret-token', { raw: true });
    expect(res.status).toBe(400);
    expect(res.body.error?.code).toBe('invalid_json');
    expect(JSON.stringify(res.body)).not.toContain('secret-token');
    expect((await post(`${url}/v1/track`, { name: 'after' })).status).toBe(202);
  });

  it('answers 400 invalid_body to a body that is not valid UTF-8 (plain or gzip), accepting nothing rather than altering it', async () => {
    const { url, processor } = await start();
    // {"name":"caf\xe9"}: Latin-1 é, a byte UTF-8 does not allow there. Decoding would make it U+FFFD.
    const latin1 = Buffer.concat([Buffer.from('{"name":"caf'), Buffer.from([0xe9]), Buffer.from('"}')]);
    // An unpaired surrogate encoded as UTF-8 (CESU-8 style): well-formed to a lax decoder, invalid UTF-8.
    const surrogate = Buffer.concat([Buffer.from('{"name":"a","attributes":{"s":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}}')]);
    for (const [body, headers] of [
      [latin1, {}],
      [surrogate, {}],
      [gzipSync(latin1), { 'content-encoding': 'gzip' }],
    ] as const) {
      const res = await post(`${url}/v1/track`, body, { raw: true, headers });
      expect(res.status).toBe(400);
      expect(res.body.error).toEqual({ code: 'invalid_body', message: 'the body is not valid UTF-8' });
    }
    expect(processor.stats().recorded).toBe(0);
    // Valid UTF-8 beyond ASCII is untouched.
    const res = await post(`${url}/v1/track`, { name: 'café ✓ 😀' });
    expect(res.status).toBe(202);
  });

  it('answers 400 naming the field path when an event is wrong, and accepts none of the batch', async () => {
    const { url, processor } = await start();
    const batch = [{ name: 'a' }, { name: 'b' }, { name: 'c' }, { attributes: { x: 1 } }];
    const res = await post(`${url}/v1/batch`, { batch });
    expect(res.status).toBe(400);
    expect(res.body.error?.code).toBe('invalid_request');
    expect(res.body.error?.message).toBe('batch[3].name: required');
    expect(res.body.error?.issues).toEqual([{ path: 'batch[3].name', message: 'required' }]);
    expect(processor.stats().recorded).toBe(0);
  });

  it('answers 413 to a body over maxBodyBytes (declared, streamed or after gzip), and stays up', async () => {
    const { url, processor } = await start({ http: { port: 0, maxBodyBytes: 1024 } });
    const big = JSON.stringify({ batch: [{ name: 'x', attributes: { pad: 'y'.repeat(1400) } }] });
    const declared = await post(`${url}/v1/batch`, big, { raw: true });
    expect(declared.status).toBe(413);
    expect(declared.body.error?.code).toBe('payload_too_large');

    // Streamed without a Content-Length, ten times the limit: answered 413 once the limit is passed.
    expect(await postChunked(`${url}/v1/batch`, { chunks: 10, chunkSize: 1024 })).toBe(413);

    // Small on the wire, too large once decompressed.
    const bomb = gzipSync(JSON.stringify({ batch: [{ name: 'x', attributes: { pad: ' '.repeat(100_000) } }] }));
    expect(bomb.length).toBeLessThan(1024);
    const inflated = await post(`${url}/v1/batch`, bomb, { raw: true, headers: { 'content-encoding': 'gzip' } });
    expect(inflated.status).toBe(413);

    expect(processor.stats().recorded).toBe(0);
    expect((await post(`${url}/v1/track`, { name: 'after' })).status).toBe(202);
  });

  it('refuses an announced oversized body before it is sent (Expect: 100-continue)', async () => {
    const { url } = await start({ http: { port: 0, maxBodyBytes: 1024 } });
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${url}/v1/batch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': String(10 * 1024 * 1024), expect: '100-continue' },
      });
      req.on('continue', () => reject(new Error('the server asked for the body')));
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
        req.destroy();
      });
      req.on('error', () => undefined);
      req.flushHeaders();
    });
    expect(status).toBe(413);
  });

  it('answers 401 without a valid API key, 202 with one, and never logs the key or the body', async () => {
    const lines: string[] = [];
    const { url, memory } = await start({
      apiKeys: ['k-alpha-123', 'k-beta-456'],
      logger: jsonLogger({ level: 'debug', write: (line) => lines.push(line) }),
    });
    const body = { name: 'secret-event-name' };
    const missing = await post(`${url}/v1/track`, body);
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    expect((await post(`${url}/v1/track`, body, { headers: { authorization: 'Bearer k-alpha-124' } })).status).toBe(401);
    expect((await post(`${url}/v1/track`, body, { headers: { authorization: 'Basic k-alpha-123' } })).status).toBe(401);
    expect((await post(`${url}/v1/track`, body, { headers: { authorization: 'Bearer k-beta-456' } })).status).toBe(202);
    await waitFor(() => memory.events.length === 1, 10_000, 'delivery');
    expect(lines.length).toBeGreaterThanOrEqual(4);
    for (const line of lines) {
      const entry = JSON.parse(line) as Record<string, unknown>;
      expect(typeof entry.level).toBe('string');
      expect(typeof entry.msg).toBe('string');
    }
    const all = lines.join('\n');
    expect(all).not.toContain('k-alpha');
    expect(all).not.toContain('k-beta');
    expect(all).not.toContain('secret-event-name');
  });

  it('answers 415 to a non-JSON content type, 405 to a wrong method and 404 to an unknown path', async () => {
    const { url } = await start();
    const form = await post(`${url}/v1/track`, 'name=x', { raw: true, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(form.status).toBe(415);
    const get = await fetch(`${url}/v1/track`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect((await fetch(`${url}/v2/nothing`)).status).toBe(404);
  });

  it('serves /healthz, /readyz and /metrics with the service counters by route and status', async () => {
    const { url } = await start();
    expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok' });
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    await post(`${url}/v1/track`, { name: 'a' });
    await post(`${url}/v1/track`, { name: 'b' });
    await post(`${url}/v1/track`, { nope: true });
    const text = await (await fetch(`${url}/metrics`)).text();
    const families = parseExposition(text);
    expect(valueOf(families, 'trackpipe_service_requests_total', { transport: 'http', route: '/v1/track', status: '202' })).toBe(2);
    expect(valueOf(families, 'trackpipe_service_requests_total', { transport: 'http', route: '/v1/track', status: '400' })).toBe(1);
    expect(valueOf(families, 'trackpipe_service_requests_total', { transport: 'http', route: '/readyz', status: '200' })).toBe(1);
    expect(valueOf(families, 'trackpipe_service_events_accepted_total', { transport: 'http' })).toBe(2);
    expect(valueOf(families, 'trackpipe_service_ready', {})).toBe(1);
  });

  it('counts the requests Node answers itself (malformed: 400, headers too large: 431) as route "other", answering them as Node does', async () => {
    const { url } = await start();
    const { port } = new URL(url);
    const raw = (text: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const socket = connect({ host: '127.0.0.1', port: Number(port) });
        let answer = '';
        socket.setEncoding('utf8');
        socket.on('data', (chunk: string) => (answer += chunk));
        socket.on('close', () => resolve(answer));
        socket.on('error', reject);
        socket.write(text);
      });
    expect(await raw('NOT A REQUEST\r\n\r\n')).toBe('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    expect(await raw(`POST /v1/track HTTP/1.1\r\nhost: x\r\nx-pad: ${'a'.repeat(20_000)}\r\n\r\n`)).toBe(
      'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\n\r\n',
    );
    const families = parseExposition(await (await fetch(`${url}/metrics`)).text());
    expect(valueOf(families, 'trackpipe_service_requests_total', { transport: 'http', route: 'other', status: '400' })).toBe(1);
    expect(valueOf(families, 'trackpipe_service_requests_total', { transport: 'http', route: 'other', status: '431' })).toBe(1);
  });

  it('counts a slow client cut at headersTimeoutMs (408, as Node answers it) as route "other"', async () => {
    const { url } = await start({ http: { port: 0, headersTimeoutMs: 200 } });
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: Number(new URL(url).port) });
      let text = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => (text += chunk));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
      socket.write('POST /v1/track HTTP/1.1\r\nhost: x\r\n'); // headers never finished
    });
    expect(answer).toBe('HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
    const families = parseExposition(await (await fetch(`${url}/metrics`)).text());
    expect(valueOf(families, 'trackpipe_service_requests_total', { transport: 'http', route: 'other', status: '408' })).toBe(1);
  });
});
