import http from 'node:http';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Sink, idOf, parseBody } from '../src/sink.js';

const sink = new Sink();

beforeAll(async () => {
  await sink.start();
});

afterAll(async () => {
  await sink.stop();
});

beforeEach(() => {
  sink.reset();
});

interface Reply {
  status?: number;
  error?: string;
}

/** POSTs a body on a fresh connection; resolves with the status or the network error code. */
function post(path: string, body: string | Buffer, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve) => {
    const request = http.request(new URL(path, sink.url), { method: 'POST', agent: false, headers: { 'content-type': 'application/json', ...headers } });
    request.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    request.on('response', (response) => {
      response.resume();
      response.on('end', () => resolve({ status: response.statusCode }));
    });
    request.end(body);
  });
}

const otlp = (ids: string[], key = 'event.id') =>
  JSON.stringify({
    resourceLogs: [
      {
        resource: { attributes: [] },
        scopeLogs: [{ scope: { name: 'x' }, logRecords: ids.map((id) => ({ eventName: 'e', attributes: [{ key: 'a', value: { stringValue: 'b' } }, { key, value: { stringValue: id } }] })) }],
      },
    ],
  });

describe('Sink', () => {
  it.each([
    ['a JSON array (floor, Trackpipe json)', '/v1/events', JSON.stringify([{ id: 'a' }, { id: 'b' }]), {}],
    ['a JSON envelope', '/v1/events', JSON.stringify({ events: [{ id: 'a' }, { id: 'b' }] }), {}],
    ['posthog /batch/ with properties.id', '/batch/', JSON.stringify({ api_key: 'k', batch: [{ uuid: 'u1', properties: { id: 'a' } }, { uuid: 'u2', properties: { id: 'b' } }] }), {}],
    ['segment /v1/batch with messageId', '/v1/batch', JSON.stringify({ batch: [{ messageId: 'a' }, { messageId: 'b' }], writeKey: 'w' }), {}],
    ['OTLP logs with event.id', '/v1/logs', otlp(['a', 'b']), {}],
    ['OTLP logs with log.record.uid (Trackpipe otlp)', '/v1/logs', otlp(['a', 'b'], 'log.record.uid'), {}],
    ['NDJSON', '/v1/events', '{"id":"a"}\n{"id":"b"}\n', { 'content-type': 'application/x-ndjson' }],
  ])('counts the ids of %s', async (_name, path, body, headers) => {
    expect(await post(path, body, headers)).toEqual({ status: 200 });
    expect(sink.counts()).toMatchObject({ accepted: 1, events: 2, distinct: 2, duplicates: 0 });
    expect(sink.has('a') && sink.has('b')).toBe(true);
  });

  it('decodes gzip bodies and counts their wire bytes compressed', async () => {
    const body = gzipSync(JSON.stringify([{ id: 'a' }, { id: 'b' }, { id: 'c' }]));
    expect(await post('/v1/events', body, { 'content-encoding': 'gzip' })).toEqual({ status: 200 });
    expect(sink.counts()).toMatchObject({ distinct: 3, gzipped: 1, wireBytes: body.byteLength });
  });

  it('counts an id received twice as a duplicate', async () => {
    await post('/v1/events', JSON.stringify([{ id: 'a' }, { id: 'b' }]));
    await post('/v1/events', JSON.stringify([{ id: 'b' }, { id: 'c' }]));
    expect(sink.counts()).toMatchObject({ withId: 4, distinct: 3, duplicates: 1 });
  });

  it('answers 400 to a body it cannot parse and counts nothing', async () => {
    expect(await post('/v1/events', 'not json')).toEqual({ status: 400 });
    expect(sink.counts()).toMatchObject({ malformed: 1, events: 0 });
  });

  it('answers 503 without counting when told to fail every request', async () => {
    sink.reset({ failRate: 1 });
    expect(await post('/v1/events', JSON.stringify([{ id: 'a' }]))).toEqual({ status: 503 });
    expect(sink.counts()).toMatchObject({ failed: 1, distinct: 0 });
  });

  it('resets the connection without counting when told to reset every request', async () => {
    sink.reset({ resetRate: 1 });
    const reply = await post('/v1/events', JSON.stringify([{ id: 'a' }]));
    expect(reply.status).toBeUndefined();
    expect(reply.error).toMatch(/ECONNRESET|EPIPE|socket hang up/);
    expect(sink.counts()).toMatchObject({ resets: 1, distinct: 0 });
  });

  it('holds a hanging request for hangMs, then answers 200 and counts its events', async () => {
    sink.reset({ hangRate: 1, hangMs: 300 });
    const started = performance.now();
    expect(await post('/v1/events', JSON.stringify([{ id: 'a' }, { id: 'b' }]))).toEqual({ status: 200 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(sink.counts()).toMatchObject({ hung: 1, abandoned: 0, accepted: 1, distinct: 2 });
  });

  it('does not count a hanging request whose client gave up before the answer', async () => {
    sink.reset({ hangRate: 1, hangMs: 300 });
    const gaveUp = await new Promise<string>((resolve) => {
      const request = http.request(new URL('/v1/events', sink.url), { method: 'POST', agent: false, headers: { 'content-type': 'application/json' } });
      request.on('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      request.on('response', () => resolve('answered'));
      request.end(JSON.stringify([{ id: 'a' }]));
      setTimeout(() => request.destroy(Object.assign(new Error('aborted'), { code: 'ABORTED' })), 50);
    });
    expect(gaveUp).toBe('ABORTED');
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(sink.counts()).toMatchObject({ hung: 1, abandoned: 1, accepted: 0, distinct: 0 });
  });

  it('hangs about the fraction asked for and answers the rest at once', async () => {
    sink.reset({ hangRate: 0.1, hangMs: 50, seed: 3 });
    const replies = await Promise.all(Array.from({ length: 200 }, (_, i) => post('/v1/events', JSON.stringify([{ id: String(i) }]))));
    expect(replies.every((reply) => reply.status === 200)).toBe(true);
    const { hung, distinct, failed } = sink.counts();
    expect(hung).toBeGreaterThan(5);
    expect(hung).toBeLessThan(40);
    expect(failed).toBe(0);
    expect(distinct).toBe(200);
  });

  it('fails about the fraction asked for, the same way for the same seed', async () => {
    const outcomes = async (): Promise<number> => {
      sink.reset({ failRate: 0.2, seed: 7 });
      for (let i = 0; i < 200; i++) await post('/v1/events', JSON.stringify([{ id: String(i) }]));
      return sink.counts().failed;
    };
    const first = await outcomes();
    expect(first).toBeGreaterThan(20);
    expect(first).toBeLessThan(60);
    expect(await outcomes()).toBe(first);
  });

  it('refuses connections while down and comes back on the same port', async () => {
    const url = sink.url;
    await sink.stop();
    expect((await post('/v1/events', '[]')).error).toBe('ECONNREFUSED');
    await sink.start();
    expect(sink.url).toBe(url);
    expect(await post('/v1/events', JSON.stringify([{ id: 'a' }]))).toEqual({ status: 200 });
  });

  it('resolves whenDistinct once the n-th distinct id has arrived', async () => {
    let resolved = false;
    const arrival = sink.whenDistinct(3).then((at) => {
      resolved = true;
      return at;
    });
    await post('/v1/events', JSON.stringify([{ id: 'a' }, { id: 'b' }, { id: 'a' }]));
    expect(resolved).toBe(false);
    await post('/v1/events', JSON.stringify([{ id: 'c' }]));
    expect(await arrival).toBeGreaterThan(0);
  });
});

describe('idOf and parseBody', () => {
  it('prefers the harness id over a client-generated one', () => {
    expect(idOf({ uuid: 'generated', properties: { id: 'harness' } })).toBe('harness');
    expect(idOf({ uuid: 'generated' })).toBe('generated');
    expect(idOf({ attributes: [{ key: 'event.id', value: { stringValue: 'x' } }] })).toBe('x');
    expect(idOf('not an event')).toBeUndefined();
  });

  it('reads NDJSON without a content type when the body is not one JSON document', () => {
    expect(parseBody('{"id":1}\n{"id":2}', undefined)).toHaveLength(2);
    expect(() => parseBody('{oops', 'application/json')).toThrow();
  });
});
