import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { type ExportResult, type Recorded, type TelemetryEvent, TrackpipeError } from '@trackpipe/core';
import { HttpExporter, type HttpExporterOptions, zstdAvailable } from '@trackpipe/exporter-http';
import { BATCH_PATHS, batchFor, events, neverAborts, payloadBatchFor } from './helpers/batch.js';
import { type Handler, refusedPort, TestServer, type TestServerOptions, waitFor } from './helpers/test-server.js';

const servers: TestServer[] = [];
const exporters: HttpExporter[] = [];

async function server(handlerOrOptions: Handler | TestServerOptions = {}): Promise<TestServer> {
  const options = typeof handlerOrOptions === 'function' ? { handler: handlerOrOptions } : handlerOrOptions;
  const s = await TestServer.start(options);
  servers.push(s);
  return s;
}

function exporter(options: HttpExporterOptions): HttpExporter {
  const e = new HttpExporter(options);
  exporters.push(e);
  return e;
}

afterEach(async () => {
  await Promise.all(exporters.splice(0).map((e) => e.shutdown()));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function send(e: HttpExporter, n = 3): Promise<ExportResult> {
  return e.export(batchFor(e, events(n)), neverAborts());
}

function errorOf(result: ExportResult): TrackpipeError {
  expect(result.code).not.toBe('ok');
  const error = (result as { error?: unknown }).error;
  expect(error).toBeInstanceOf(TrackpipeError);
  return error as TrackpipeError;
}

describe('classification of real HTTP answers', () => {
  it.each([
    [200, 'ok'],
    [202, 'ok'],
    [204, 'ok'],
    [408, 'retry'],
    [429, 'retry'],
    [500, 'retry'],
    [502, 'retry'],
    [503, 'retry'],
    [504, 'retry'],
    [413, 'too_large'],
    [400, 'reject'],
    [401, 'retry'],
    [403, 'retry'],
    [404, 'reject'],
    [422, 'reject'],
    [301, 'reject'],
  ] as const)('answers %i with %s', async (status, code) => {
    const s = await server(() => ({ status, body: status === 204 ? undefined : 'answer' }));
    const result = await send(exporter({ url: s.url() }));
    expect(result.code).toBe(code);
    expect(s.requests).toHaveLength(1);
    if (code !== 'ok') expect(errorOf(result).details).toMatchObject({ status });
  });

  it('reads Retry-After in seconds', async () => {
    const s = await server(() => ({ status: 429, headers: { 'retry-after': '3' } }));
    const result = await send(exporter({ url: s.url() }));
    expect(result).toMatchObject({ code: 'retry', retryAfterMs: 3000 });
  });

  it('reads Retry-After as an HTTP date', async () => {
    const s = await server(() => ({ status: 503, headers: { 'retry-after': new Date(Date.now() + 10_000).toUTCString() } }));
    const result = await send(exporter({ url: s.url() }));
    expect(result.code).toBe('retry');
    const after = (result as { retryAfterMs?: number }).retryAfterMs;
    // The date has whole seconds and the clock moves on between the answer and the check.
    expect(after).toBeGreaterThan(5_000);
    expect(after).toBeLessThanOrEqual(10_000);
  });

  it('leaves retryAfterMs unset when a retryable answer has no Retry-After', async () => {
    const s = await server(() => ({ status: 503 }));
    const result = await send(exporter({ url: s.url() }));
    expect(result.code).toBe('retry');
    expect(result).not.toHaveProperty('retryAfterMs');
  });

  it('retries when the port refuses connections', async () => {
    const port = await refusedPort();
    const result = await send(exporter({ url: `http://127.0.0.1:${port}/ingest` }));
    expect(result.code).toBe('retry');
    expect(errorOf(result).details).toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('retries when the server destroys the connection without answering', async () => {
    const s = await server(() => ({ destroy: true }));
    const result = await send(exporter({ url: s.url() }));
    expect(result.code).toBe('retry');
    expect(errorOf(result).details).toMatchObject({ code: 'ECONNRESET' });
    expect(s.requests).toHaveLength(1);
  });

  it('puts the status, the origin and a short body excerpt in a rejection, with secrets redacted', async () => {
    const token = 'sk_live_0123456789abcdef';
    const rotating = 'rot-9f8e7d6c5b4a';
    const s = await server((req) => ({
      status: 400,
      body:
        `invalid batch: authorization=${String(req.headers.authorization)} x-api-key=${String(req.headers['x-api-key'])} ` +
        `x-rotating=${String(req.headers['x-rotating'])} query=${req.path} also Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl ` +
        'x'.repeat(500),
    }));
    const e = exporter({
      url: `${s.url('/v1/events')}?api_key=query-secret-42`,
      headers: async () => ({ authorization: `Bearer ${token}`, 'x-api-key': 'static-key-77', 'x-rotating': rotating }),
    });
    const error = errorOf(await send(e));
    expect(error.code).toBe('TRACKPIPE_ERR_EXPORT_REJECTED');
    expect(error.message).toContain(`POST ${s.origin} answered HTTP 400`);
    expect(error.message).toContain('invalid batch');
    // The origin only: no path, no query.
    expect(error.message).not.toContain('/v1/events');
    for (const secret of [token, 'static-key-77', rotating, 'query-secret-42', 'eyJhbGciOiJIUzI1NiJ9']) {
      expect(error.message).not.toContain(secret);
    }
    expect(error.message).toContain('[REDACTED]');
    expect(error.message.length).toBeLessThan(400);
  });

  it('marks 401 and 403 as auth failures: retried by default, rejected with retryAuthFailures false', async () => {
    const s = await server(() => ({ status: 401, body: 'token expired' }));
    const retried = await send(exporter({ url: s.url() }));
    expect(retried).toMatchObject({ code: 'retry', auth: true });
    expect(errorOf(retried)).toMatchObject({ code: 'TRACKPIPE_ERR_EXPORT_RETRYABLE', retriable: true, details: { status: 401, auth: true } });
    s.handler = () => ({ status: 403 });
    const rejected = await send(exporter({ url: s.url(), retryAuthFailures: false }));
    expect(rejected).toMatchObject({ code: 'reject', auth: true });
    expect(errorOf(rejected)).toMatchObject({ code: 'TRACKPIPE_ERR_EXPORT_REJECTED', details: { status: 403, auth: true } });
  });

  it('does not mark other failures as auth failures', async () => {
    for (const status of [400, 404, 500, 429]) {
      const s = await server(() => ({ status }));
      expect(await send(exporter({ url: s.url() }))).not.toHaveProperty('auth');
    }
  });
});

describe.each(BATCH_PATHS)('request bodies, batch %s', (_path, batchOf) => {
  it('posts a JSON array of the events', async () => {
    const s = await server();
    const e = exporter({ url: s.url(), compression: 'none' });
    const list = events(3);
    expect((await e.export(batchOf(e, list), neverAborts())).code).toBe('ok');
    expect(s.requests[0]!.text()).toBe(JSON.stringify(list));
    expect(s.requests[0]!.headers['content-type']).toBe('application/json');
    expect(Number(s.requests[0]!.headers['content-length'])).toBe(Buffer.byteLength(JSON.stringify(list)));
  });

  it('writes non-ASCII text intact', async () => {
    const s = await server();
    const e = exporter({ url: s.url(), compression: 'none' });
    const list = events(3).map((event, i) => ({ ...event, attributes: { text: ['Zürich', '🚀 データ', 'lone \ud800 surrogate'][i]! } }));
    expect((await e.export(batchOf(e, list), neverAborts())).code).toBe('ok');
    const expected = JSON.stringify(list);
    expect(s.requests[0]!.body.equals(Buffer.from(expected, 'utf8'))).toBe(true);
  });

  it('wraps the array in an envelope when envelopeKey is set', async () => {
    const s = await server();
    const e = exporter({ url: s.url(), envelopeKey: 'batch' });
    const list = events(2);
    await e.export(batchOf(e, list), neverAborts());
    expect(s.requests[0]!.json()).toEqual({ batch: list });
  });

  it('posts an OTLP request whose log records carry the event ids', async () => {
    const s = await server();
    const e = exporter({ url: s.url('/v1/logs'), format: 'otlp', otlp: { serviceName: 'svc' } });
    const list = events(3);
    await e.export(batchOf(e, list), neverAborts());
    const body = s.requests[0]!.json() as { resourceLogs: { scopeLogs: { logRecords: { attributes: { key: string; value: { stringValue?: string } }[] }[] }[] }[] };
    const ids = body.resourceLogs[0]!.scopeLogs[0]!.logRecords.map((r) => r.attributes.find((a) => a.key === 'log.record.uid')!.value.stringValue);
    expect(ids).toEqual(list.map((event) => event.id));
  });

  it('gzips bodies at or above the threshold, and they decode to the same events', async () => {
    const s = await server();
    const e = exporter({ url: s.url(), gzipThresholdBytes: 1024 });
    const list = events(50, { padding: 'p'.repeat(40) });
    const result = await e.export(batchOf(e, list), neverAborts());
    expect(result.code).toBe('ok');
    const request = s.requests[0]!;
    expect(request.headers['content-encoding']).toBe('gzip');
    expect(request.wireBytes).toBeLessThan(request.body.byteLength);
    expect(Number(request.headers['content-length'])).toBe(request.wireBytes);
    expect(request.json()).toEqual(list);
  });

  it('sends bodies below the threshold uncompressed', async () => {
    const s = await server();
    const e = exporter({ url: s.url(), gzipThresholdBytes: 1024 });
    const list = events(1);
    await e.export(batchOf(e, list), neverAborts());
    expect(s.requests[0]!.headers['content-encoding']).toBeUndefined();
    expect(s.requests[0]!.json()).toEqual(list);
  });

  it.each([
    ['gzipThresholdBytes is false', { gzipThresholdBytes: false }],
    ['compression is "none"', { compression: 'none' }],
  ] as const)('never compresses when %s', async (_label, options) => {
    const s = await server();
    const e = exporter({ url: s.url(), ...options });
    const list = events(200, { padding: 'p'.repeat(40) });
    await e.export(batchOf(e, list), neverAborts());
    expect(s.requests[0]!.headers['content-encoding']).toBeUndefined();
    expect(s.requests[0]!.json()).toEqual(list);
  });
});

describe('request bodies', () => {
  it('frames batch.encoded as it is, never serializing the events a second time', async () => {
    const s = await server();
    const e = exporter({ url: s.url() });
    const result = await e.export({ size: 2, events: events(2), encoded: ['{"a":1}', '{"b":2}'], bytes: 14 }, neverAborts());
    expect(result.code).toBe('ok');
    expect(s.requests[0]!.text()).toBe('[{"a":1},{"b":2}]');
  });

  it('sends batch.payload as it is when the processor encoded the batch at once', async () => {
    const s = await server();
    const e = exporter({ url: s.url(), compression: 'none' });
    const payload = Buffer.from('[{"from":"payload"}]');
    await e.export({ size: 1, events: events(1), encoded: [], payload, bytes: payload.byteLength }, neverAborts());
    expect(s.requests[0]!.text()).toBe('[{"from":"payload"}]');
  });

  it.each([
    ['its UTF-8 size', (encoded: string[]) => encoded.reduce((n, t) => n + Buffer.byteLength(t), 0)],
    ['a wrong size', () => 0],
    ['its length in characters, as if it were ASCII', (encoded: string[]) => encoded.join('').length],
    ['one byte short', (encoded: string[]) => encoded.reduce((n, t) => n + Buffer.byteLength(t), 0) - 1],
  ])('writes non-ASCII encoded text intact whatever the batch says of its bytes (%s)', async (_, bytes: (encoded: string[]) => number) => {
    const s = await server();
    const e = exporter({ url: s.url(), gzipThresholdBytes: false });
    const encoded = ['{"city":"Zürich"}', '{"emoji":"🚀","kana":"データ"}', '{"plain":"ascii"}'];
    expect((await e.export({ size: 3, events: events(3), encoded, bytes: bytes(encoded) }, neverAborts())).code).toBe('ok');
    expect(s.requests[0]!.json()).toEqual([{ city: 'Zürich' }, { emoji: '🚀', kana: 'データ' }, { plain: 'ascii' }]);
    expect(Number(s.requests[0]!.headers['content-length'])).toBe(Buffer.byteLength(`[${encoded.join(',')}]`));
  });

  it('posts NDJSON, one event per line', async () => {
    const s = await server();
    const e = exporter({ url: s.url(), format: 'ndjson' });
    const list = events(3);
    await e.export(batchFor(e, list), neverAborts());
    const request = s.requests[0]!;
    expect(request.headers['content-type']).toBe('application/x-ndjson');
    const lines = request.text().split('\n');
    expect(lines.at(-1)).toBe('');
    expect(lines.slice(0, -1).map((line) => JSON.parse(line) as unknown)).toEqual(list);
  });

  it('uses a custom serializer for the encoder, the body and the content type', async () => {
    const s = await server();
    const e = new HttpExporter<Recorded<TelemetryEvent>>({
      url: s.url(),
      format: { contentType: 'text/csv', encoder: (event) => `${event.id},${event.name}`, body: (encoded) => `id,name\n${encoded.join('\n')}` },
    });
    exporters.push(e);
    const list = events(2);
    const batch = batchFor(e, list);
    expect(batch.encoded[0]).toBe(`${list[0]!.id},test.event`);
    await e.export(batch, neverAborts());
    expect(s.requests[0]!.headers['content-type']).toBe('text/csv');
    expect(s.requests[0]!.text()).toBe(`id,name\n${list[0]!.id},test.event\n${list[1]!.id},test.event`);
  });

  it.each<[string, unknown]>([
    ['an ArrayBuffer', new ArrayBuffer(8)],
    ['undefined', undefined],
    ['a number', 42],
    ['an array of texts', ['a', 'b']],
  ])('rejects a batch whose custom body() returns %s, and the next batch still gets a connection', async (_label, wrong) => {
    const s = await server();
    let fixed = false;
    const e = new HttpExporter<Recorded<TelemetryEvent>>({
      url: s.url(),
      maxSockets: 1,
      format: { contentType: 'text/plain', body: (encoded) => (fixed ? encoded.join('\n') : (wrong as string)) },
    });
    exporters.push(e);
    const bad = await e.export(batchFor(e, events(1)), neverAborts());
    expect(errorOf(bad).message).toContain('could not build the body: body() must return a string or a Uint8Array');
    expect(bad.code).toBe('reject');
    fixed = true;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error('the pool is held by the refused request')), 5_000);
    const good = await e.export(batchFor(e, events(1)), controller.signal);
    clearTimeout(timer);
    expect(good.code).toBe('ok');
    expect(s.requests).toHaveLength(1);
  });

  it('uses a custom per-event encoder for json, event by event', async () => {
    const s = await server();
    const e = new HttpExporter<Recorded<TelemetryEvent>>({ url: s.url(), encoder: (event) => JSON.stringify({ only: event.id }) });
    exporters.push(e);
    const list = events(2);
    await e.export(batchFor(e, list), neverAborts());
    expect(s.requests[0]!.json()).toEqual(list.map((event) => ({ only: event.id })));
  });
});

describe('compression', () => {
  const list = events(300, { padding: 'p'.repeat(40), flag: 'checkout-redesign' });

  it('compresses with gzip level 1 by default', async () => {
    const s = await server();
    const e = exporter({ url: s.url() });
    await e.export(payloadBatchFor(e, list), neverAborts());
    const request = s.requests[0]!;
    expect(request.headers['content-encoding']).toBe('gzip');
    expect(request.json()).toEqual(list);
    // zlib writes the level into the gzip header's XFL byte: 4 = fastest (level 1), 0 = default, 2 = best.
    expect(request.wireBytes).toBe(gzipSync(request.body, { level: 1 }).byteLength);
  });

  it('honours compressionLevel', async () => {
    const s = await server();
    const e = exporter({ url: s.url(), compressionLevel: 9 });
    await e.export(payloadBatchFor(e, list), neverAborts());
    const request = s.requests[0]!;
    expect(request.wireBytes).toBe(gzipSync(request.body, { level: 9 }).byteLength);
    expect(request.json()).toEqual(list);
  });

  it(zstdAvailable ? 'sends zstd bodies with content-encoding zstd (this Node.js has zstd)' : 'refuses zstd at construction on a Node.js without it', async () => {
    const s = await server();
    if (zstdAvailable) {
      const e = exporter({ url: s.url(), compression: 'zstd' });
      expect((await e.export(payloadBatchFor(e, list), neverAborts())).code).toBe('ok');
      const request = s.requests[0]!;
      expect(request.headers['content-encoding']).toBe('zstd');
      expect(request.wireBytes).toBeLessThan(request.body.byteLength / 5);
      expect(request.json()).toEqual(list);
    } else {
      expect(() => new HttpExporter({ url: s.url(), compression: 'zstd' })).toThrow(
        expect.objectContaining({ code: 'TRACKPIPE_ERR_OPTIONS_INVALID', message: expect.stringContaining('compression "zstd" needs Node.js 22.15') as string }),
      );
    }
  });
});

describe('headers', () => {
  it('sends static headers', async () => {
    const s = await server();
    await send(exporter({ url: s.url(), headers: { 'X-Tenant': 'acme', authorization: 'Bearer abc123456' } }));
    expect(s.requests[0]!.headers['x-tenant']).toBe('acme');
    expect(s.requests[0]!.headers.authorization).toBe('Bearer abc123456');
  });

  it('calls a headers function before every request, so tokens can rotate', async () => {
    const s = await server();
    let n = 0;
    const e = exporter({ url: s.url(), headers: async () => ({ authorization: `Bearer token-${++n}` }) });
    await send(e);
    await send(e);
    expect(s.requests.map((r) => r.headers.authorization)).toEqual(['Bearer token-1', 'Bearer token-2']);
  });

  it('rejects when the headers function fails, and retries when its error says retriable', async () => {
    const s = await server();
    const failing = exporter({
      url: s.url(),
      headers: () => {
        throw new Error('vault sealed');
      },
    });
    const rejected = await send(failing);
    expect(rejected.code).toBe('reject');
    expect(errorOf(rejected).message).toContain('vault sealed');
    const transient = exporter({
      url: s.url(),
      headers: async () => Promise.reject(Object.assign(new Error('token service busy'), { retriable: true })),
    });
    expect((await send(transient)).code).toBe('retry');
    expect(s.requests).toHaveLength(0);
  });

  it('answers a reject, never throws, when the headers function returns something other than a record', async () => {
    const s = await server();
    const e = exporter({ url: s.url(), headers: (() => 'Bearer abc') as unknown as () => Record<string, string> });
    const result = await send(e);
    expect(result.code).toBe('reject');
    expect(errorOf(result).code).toBe('TRACKPIPE_ERR_EXPORT_FAILED');
    expect(s.requests).toHaveLength(0);
  });

  it('rejects a header value Node refuses, from a headers function, without echoing it', async () => {
    const s = await server();
    const result = await send(exporter({ url: s.url(), headers: () => ({ 'x-secret': 'line\nbreak-secret' }) }));
    expect(result.code).toBe('reject');
    expect(errorOf(result).message).not.toContain('break-secret');
    expect(s.requests).toHaveLength(0);
  });

  it('answers retry when the signal aborts while the headers function is still working', async () => {
    const s = await server();
    const controller = new AbortController();
    const e = exporter({ url: s.url(), headers: () => new Promise<Record<string, string>>(() => undefined) });
    const pending = e.export(batchFor(e, events(1)), controller.signal);
    controller.abort(new Error('deadline'));
    expect((await pending).code).toBe('retry');
    expect(s.requests).toHaveLength(0);
  });
});

describe('connections', () => {
  it('reuses one kept-alive connection across sequential exports', async () => {
    const s = await server();
    const e = exporter({ url: s.url() });
    for (let i = 0; i < 10; i++) expect((await send(e)).code).toBe('ok');
    expect(s.requests).toHaveLength(10);
    expect(s.connections).toBe(1);
  });

  it('opens at most maxSockets connections under concurrent exports', async () => {
    const s = await server(async () => {
      await new Promise((resolve) => setTimeout(resolve, 10));
      return { status: 200 };
    });
    const e = exporter({ url: s.url(), maxSockets: 2 });
    const results = await Promise.all(Array.from({ length: 12 }, () => send(e)));
    expect(results.every((r) => r.code === 'ok')).toBe(true);
    expect(s.requests).toHaveLength(12);
    expect(s.connections).toBeLessThanOrEqual(2);
  });

  it('opens a new connection per request when keepAlive is off', async () => {
    const s = await server();
    const e = exporter({ url: s.url(), keepAlive: false });
    for (let i = 0; i < 3; i++) await send(e);
    expect(s.connections).toBe(3);
  });

  it('ends the request when the signal aborts', async () => {
    const s = await server(() => ({ hang: true }));
    const e = exporter({ url: s.url() });
    const controller = new AbortController();
    const pending = e.export(batchFor(e, events(2)), controller.signal);
    await waitFor(() => s.requests.length === 1, 20_000, 'the request to arrive');
    controller.abort(new Error('deadline'));
    const result = await pending;
    expect(result.code).toBe('retry');
    await waitFor(() => s.clientAborts === 1 && s.openConnections === 0, 20_000, 'the server to see the connection closed');
    expect(s.clientAborts).toBe(1);
  });

  it('answers an already-aborted signal without sending', async () => {
    const s = await server();
    const e = exporter({ url: s.url() });
    const controller = new AbortController();
    controller.abort();
    expect((await e.export(batchFor(e, events(1)), controller.signal)).code).toBe('retry');
    expect(s.requests).toHaveLength(0);
  });

  it('closes pooled connections on shutdown, and later exports answer a failure instead of throwing', async () => {
    const s = await server();
    const e = exporter({ url: s.url() });
    await send(e);
    expect(s.openConnections).toBe(1);
    await e.shutdown();
    await e.shutdown(); // idempotent
    await waitFor(() => s.openConnections === 0, 20_000, 'the pooled connection to close');
    const after = await send(e);
    expect(after.code).toBe('reject');
    expect(errorOf(after).code).toBe('TRACKPIPE_ERR_EXPORT_FAILED');
    expect(s.requests).toHaveLength(1);
  });
});

describe('OTLP partial success', () => {
  it('reports rejected log records as a reject with their count', async () => {
    const s = await server(() => ({
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ partialSuccess: { rejectedLogRecords: '2', errorMessage: 'attribute too long' } }),
    }));
    const result = await send(exporter({ url: s.url('/v1/logs'), format: 'otlp' }), 5);
    expect(result).toMatchObject({ code: 'reject', count: 2 });
    expect(errorOf(result).message).toContain('attribute too long');
  });

  it('reads the count of a partial success whose errorMessage runs past the 64 KiB of the answer kept', async () => {
    // As an OpenTelemetry Collector writes it: the count first, then the message (here one reason per record).
    const errorMessage = Array.from({ length: 2_000 }, (_, i) => `record ${i}: attribute value too long`).join('; ');
    const s = await server(() => ({ status: 200, body: `{"partialSuccess":{"rejectedLogRecords":"2","errorMessage":${JSON.stringify(errorMessage)}}}` }));
    const result = await send(exporter({ url: s.url('/v1/logs'), format: 'otlp' }), 5);
    expect(result).toMatchObject({ code: 'reject', count: 2 });
    expect(errorOf(result).message).toContain('record 0: attribute value too long');
  });

  it('treats an empty or zero partial success as ok', async () => {
    const bodies = ['', '{}', '{"partialSuccess":{}}', '{"partialSuccess":{"rejectedLogRecords":"0","errorMessage":"warning only"}}'];
    let i = 0;
    const s = await server(() => ({ status: 200, body: bodies[i++] }));
    const e = exporter({ url: s.url('/v1/logs'), format: 'otlp' });
    for (const _ of bodies) expect((await send(e)).code).toBe('ok');
  });
});

describe('TLS', () => {
  const cert = readFileSync(new URL('fixtures/tls/localhost.crt', import.meta.url), 'utf8');
  const key = readFileSync(new URL('fixtures/tls/localhost.key', import.meta.url), 'utf8');

  it('delivers over HTTPS to a server its ca option trusts', async () => {
    const s = await server({ tls: { cert, key } });
    const result = await send(exporter({ url: s.url(), tls: { ca: cert } }));
    expect(result.code).toBe('ok');
    expect(s.requests).toHaveLength(1);
  });

  it('rejects, without retrying, a server certificate it does not trust', async () => {
    const s = await server({ tls: { cert, key } });
    const result = await send(exporter({ url: s.url() }));
    expect(result.code).toBe('reject');
    expect(s.requests).toHaveLength(0);
  });

  it('skips verification when rejectUnauthorized is false', async () => {
    const s = await server({ tls: { cert, key } });
    expect((await send(exporter({ url: s.url(), tls: { rejectUnauthorized: false } }))).code).toBe('ok');
  });

  it.each([
    ['a certificate that does not read', () => ({ cert: 'not a certificate', key })],
    ['a key that does not read', () => ({ cert, key: key.replace(/^[A-Za-z0-9+/]{8}/m, '********') })],
    ['a key that is not the certificate\'s', () => ({ cert, key: generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string })],
  ])('refuses %s at construction, naming tls and not the key (every request would fail)', (_label, tls) => {
    const given = tls();
    let thrown: unknown;
    try {
      exporter({ url: 'https://127.0.0.1:9/x', tls: given });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TrackpipeError);
    const error = thrown as TrackpipeError;
    expect(error.code).toBe('TRACKPIPE_ERR_OPTIONS_INVALID');
    expect(error.message).toContain('tls Node cannot use this certificate and key');
    expect(error.message).not.toContain(given.key.split('\n')[1]);
  });

  it('presents a client certificate for mutual TLS', async () => {
    const s = await server({ tls: { cert, key, ca: cert, requestCert: true, rejectUnauthorized: true } });
    expect((await send(exporter({ url: s.url(), tls: { ca: cert, cert, key } }))).code).toBe('ok');
    expect(s.requests).toHaveLength(1);
  });
});

describe('responses', () => {
  it('reads at most 1 MiB of an answer and settles, even when the server never stops sending', async () => {
    let written = 0;
    const endless = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const chunk = Buffer.alloc(64 * 1024, 'x');
      const pump = (): void => {
        while (!res.destroyed && res.write(chunk)) written += chunk.byteLength;
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    });
    await new Promise<void>((resolve) => endless.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = endless.address() as AddressInfo;
      // Without the cap this export would wait for an end that never comes.
      expect((await send(exporter({ url: `http://127.0.0.1:${port}/` }))).code).toBe('ok');
      expect(written).toBeLessThan(64 * 1024 * 1024);
    } finally {
      endless.closeAllConnections();
      await new Promise<void>((resolve) => endless.close(() => resolve()));
    }
  });
});

describe('construction', () => {
  it.each([
    [{ url: 'not a url' }, 'url must be a valid http: or https: URL'],
    [{ url: 'ftp://example.com/x' }, 'url must be a valid http: or https: URL'],
    [{}, 'url is required'],
    [{ url: 'http://127.0.0.1/', gzipThresholdBytes: -1 }, 'gzipThresholdBytes must be >= 0'],
    [{ url: 'http://127.0.0.1/', gzipThresholdBytes: true }, 'gzipThresholdBytes must be a number >= 0, or false'],
    [{ url: 'http://127.0.0.1/', maxSockets: 0 }, 'maxSockets must be >= 1'],
    [{ url: 'http://127.0.0.1/', format: 'xml' }, 'format must be "json", "ndjson", "otlp" or a serializer'],
    [{ url: 'http://127.0.0.1/', envelopeKey: '' }, 'envelopeKey must not be empty'],
    [{ url: 'http://127.0.0.1/', format: 'ndjson', envelopeKey: 'batch' }, 'envelopeKey is only valid with format "json"'],
    [{ url: 'http://127.0.0.1/', headers: { 'x-token': 'a\r\nhunter2-secret' } }, 'headers["x-token"] must not contain line breaks'],
    [{ url: 'http://127.0.0.1/', headers: { 'bad name': 'v' } }, 'is not a valid HTTP header name'],
    [{ url: 'http://127.0.0.1/', headers: { 'Transfer-Encoding': 'chunked' } }, 'headers["Transfer-Encoding"] is set by the exporter'],
    [{ url: 'http://127.0.0.1/', headers: { 'x-tenant': 'hunter2-secret \u79df\u6237' } }, 'headers["x-tenant"] must hold only tabs and characters U+0020 to U+00FF'],
    [{ url: 'http://127.0.0.1/', headers: { 'x-token': 'hunter2-secret\u0001' } }, 'headers["x-token"] must hold only tabs'],
    [{ url: 'http://127.0.0.1/', headers: { 'x-token': 'hunter2-secret\u007f' } }, 'headers["x-token"] must hold only tabs'],
    [{ url: 'http://127.0.0.1/', compression: 'brotli' }, 'compression must be one of "gzip", "zstd", "none"'],
    [{ url: 'http://127.0.0.1/', compressionLevel: 12 }, 'compressionLevel must be <= 9 with gzip'],
    [{ url: 'http://127.0.0.1/', idempotencyKeyHeader: 'has space' }, 'idempotencyKeyHeader must be a valid HTTP header name'],
    [{ url: 'http://127.0.0.1/', idempotencyKeyHeader: true }, 'idempotencyKeyHeader must be a valid HTTP header name, or false'],
    [{ url: 'http://127.0.0.1/', idempotencyKeyHeader: 'Content-Type' }, 'idempotencyKeyHeader must not be content-type'],
    [{ url: 'http://127.0.0.1/', idempotencyKeyHeader: 'Authorization' }, 'idempotencyKeyHeader must not be authorization'],
    [{ url: 'http://127.0.0.1/', idempotencyKeyHeader: 'host' }, 'idempotencyKeyHeader must not be host'],
    [{ url: 'http://127.0.0.1/', idempotencyKeyHeader: 'Transfer-Encoding' }, 'idempotencyKeyHeader must not be transfer-encoding'],
    [{ url: 'http://127.0.0.1/', timeout: 5 }, 'timeout unknown key'],
  ])('refuses %j: %s', (options, problem) => {
    let error: unknown;
    try {
      new HttpExporter(options as HttpExporterOptions);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'TRACKPIPE_ERR_OPTIONS_INVALID' });
    expect((error as Error).message).toContain(problem);
    expect((error as Error).message).not.toContain('hunter2-secret');
  });

  describe('options that cannot be read', () => {
    const throwing = (field: string, base: object = {}): object =>
      Object.defineProperty({ ...base }, field, {
        enumerable: true,
        get: () => {
          throw new Error('hunter2-secret');
        },
      });
    const revoked = (): object => {
      const { proxy, revoke } = Proxy.revocable({}, {});
      revoke();
      return proxy;
    };
    const cycle = (): object => {
      const attributes: Record<string, unknown> = { a: 1 };
      attributes.self = attributes;
      return attributes;
    };
    const deep = (): object => {
      let nested: object = {};
      for (let i = 0; i < 20_000; i++) nested = { d: nested };
      return nested;
    };
    it.each<[string, () => unknown, string]>([
      ['a getter that throws', () => throwing('keepAlive', { url: 'http://127.0.0.1/' }), 'keepAlive'],
      ['a revoked proxy', revoked, 'options'],
      ['headers with a getter that throws', () => ({ url: 'http://127.0.0.1/', headers: throwing('authorization') }), 'headers'],
      ['headers that are a revoked proxy', () => ({ url: 'http://127.0.0.1/', headers: revoked() }), 'headers'],
      ['a serializer whose contentType getter throws', () => ({ url: 'http://127.0.0.1/', format: throwing('contentType', { body: () => '' }) }), 'format'],
      ['resource attributes holding a cycle', () => ({ url: 'http://127.0.0.1/', format: 'otlp', otlp: { resourceAttributes: cycle() } }), 'otlp'],
      ['resource attributes nested 20 000 deep', () => ({ url: 'http://127.0.0.1/', format: 'otlp', otlp: { resourceAttributes: deep() } }), 'otlp'],
      ['a TLS ca that is a revoked proxy', () => ({ url: 'https://127.0.0.1/', tls: { ca: revoked() } }), 'tls'],
    ])('refuses %s, naming the option, never with what was thrown', (_label, options, option) => {
      let error: unknown;
      try {
        new HttpExporter(options() as HttpExporterOptions);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(TrackpipeError);
      expect(error).toMatchObject({ code: 'TRACKPIPE_ERR_OPTIONS_INVALID' });
      expect((error as Error).message).toContain(`HttpExporter: ${option} could not be read`);
      expect((error as Error).message).not.toContain('hunter2-secret');
    });
  });

  it('names itself "http" by default, and encodes otlp events as log records', () => {
    const e = exporter({ url: 'http://127.0.0.1:9/v1/logs', format: 'otlp', name: 'collector' });
    expect(e.name).toBe('collector');
    expect(JSON.parse(e.encoder(events(1)[0]!))).toHaveProperty('eventName', 'test.event');
    expect(exporter({ url: 'http://127.0.0.1:9/' }).name).toBe('http');
  });

  it('accepts a URL object, TLS material as Buffers and a custom serializer instance with methods', () => {
    class Csv {
      readonly contentType = 'text/csv';
      readonly #header = 'id';
      body(encoded: readonly string[]): string {
        return `${this.#header}\n${encoded.join('\n')}`;
      }
    }
    const e = new HttpExporter<Recorded<TelemetryEvent>>({ url: new URL('https://127.0.0.1:9/x'), tls: { ca: Buffer.from('pem') }, format: new Csv() });
    exporters.push(e);
    expect(e.name).toBe('http');
  });
});
