// maxInFlightBytes over gRPC: the service-wide bound on request bytes being read, shared with HTTP.
// Many connections (each within grpc.maxConcurrentStreams and maxMessageBytes) sending large
// messages at once cannot make the service buffer more: a message reserves its announced length when
// its 5-byte prefix arrives, before grpc-js keeps any of it, and a call that does not fit is answered
// RESOURCE_EXHAUSTED (retry-after: 1) at once. Spoken with raw HTTP/2 (node:http2) to hold messages
// half-sent, and with real @grpc/grpc-js clients, each on its own connection.
import http2 from 'node:http2';
import { type ServiceError, credentials, status } from '@grpc/grpc-js';
import { parseExposition, valueOf } from '@trackpipe/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { loadAnalyticsService } from '../src/index.js';
import { post, startService, toStruct } from './support.js';

const KiB = 1024;
const BATCH_PATH = '/analytics.v1.AnalyticsService/TrackBatch';
const Service = loadAnalyticsService();

type Started = Awaited<ReturnType<typeof startService>>;
const running: Started[] = [];
const cleanups: (() => void)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0)) c();
  for (const s of running.splice(0)) await s.service.shutdown({ timeoutMs: 2_000 });
});

async function start(options: Parameters<typeof startService>[0] = {}): Promise<Started> {
  const started = await startService({ http: false, grpc: { port: 0, maxMessageBytes: 128 * KiB, requestTimeoutMs: 20_000 }, maxInFlightBytes: 256 * KiB, ...options });
  running.push(started);
  return started;
}

/** A TrackBatchRequest of one event named `name`, serialized: exactly `bytes` long. */
function batchMessage(name: string, bytes: number): Buffer {
  const serialize = Service.service.TrackBatch!.requestSerialize as (request: unknown) => Buffer;
  const of = (pad: number): Buffer => serialize({ events: [{ name, attributes: toStruct({ pad: 'p'.repeat(pad) }) }] });
  let pad = bytes - of(0).length;
  // The varint lengths grow with the pad: shrink it until the whole fits, then fill up to the byte.
  while (of(pad).length > bytes) pad -= of(pad).length - bytes;
  const message = of(pad);
  expect(message.length).toBe(bytes);
  return message;
}

/** A gRPC frame: the compressed flag, the length, then `body` (or its first `sent` bytes). */
function frame(body: Buffer, sent = body.length, compressed = false): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt8(compressed ? 1 : 0, 0);
  header.writeUInt32BE(body.length, 1);
  return Buffer.concat([header, body.subarray(0, sent)]);
}

interface Answer {
  code: number | undefined;
  message: string | undefined;
  retryAfter: string | undefined;
}

/** A TrackBatch call on its own HTTP/2 connection that sent `bytes` and stalls until `finish` (or `cancel`). */
function openCall(address: string, bytes: Buffer, headers: Record<string, string> = {}): { answer: Promise<Answer>; finish(rest: Buffer): void; cancel(): void } {
  const session = http2.connect(`http://${address}`);
  session.on('error', () => undefined);
  cleanups.push(() => session.destroy());
  const stream = session.request({ ':method': 'POST', ':path': BATCH_PATH, 'content-type': 'application/grpc', te: 'trailers', ...headers }, { endStream: false });
  stream.on('error', () => undefined);
  stream.resume();
  stream.write(bytes);
  const answer = new Promise<Answer>((resolve) => {
    const read = (h: http2.IncomingHttpHeaders): void => {
      if (h['grpc-status'] === undefined) return;
      const message = h['grpc-message'] === undefined ? undefined : decodeURIComponent(String(h['grpc-message']));
      resolve({ code: Number(h['grpc-status']), message, retryAfter: h['retry-after'] === undefined ? undefined : String(h['retry-after']) });
    };
    stream.on('response', read);
    stream.on('trailers', read);
    stream.on('close', () => resolve({ code: undefined, message: undefined, retryAfter: undefined }));
  });
  return {
    answer,
    finish: (rest) => void stream.end(rest),
    cancel: () => session.destroy(),
  };
}

type Unary = (request: unknown, callback: (error: ServiceError | null, response: unknown) => void) => void;

/** A real grpc-js client on a connection of its own (no subchannel shared with the other clients). */
function ownClient(address: string): (request: unknown) => Promise<status> {
  const client = new Service(address, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  cleanups.push(() => client.close());
  const call = (client as unknown as Record<string, Unary>).TrackBatch!.bind(client);
  return (request) => new Promise((resolve) => call(request, (error) => resolve(error === null ? status.OK : error.code)));
}

describe('gRPC maxInFlightBytes', () => {
  it('holds at most maxInFlightBytes of messages across connections: stalled messages reserve their length, calls that do not fit get RESOURCE_EXHAUSTED at once', async () => {
    const { service, grpcAddress, memory } = await start();
    const messages = [0, 1].map((i) => batchMessage(`held-${i}`, 100 * KiB));
    // Two connections hold a message half-sent each: 200 KiB of 256 reserved.
    const held = messages.map((m) => openCall(grpcAddress, frame(m, 40 * KiB)));
    await expect.poll(() => service.inFlightBytes, { timeout: 10_000 }).toBe(messages[0]!.length + messages[1]!.length);

    // Four more connections, each sending a whole 100 KiB message: none fits, each is refused at once.
    const refused = await Promise.all([0, 1, 2, 3].map((i) => openCall(grpcAddress, frame(batchMessage(`refused-${i}`, 100 * KiB))).answer));
    for (const answer of refused) {
      expect(answer).toEqual({ code: status.RESOURCE_EXHAUSTED, message: expect.stringContaining('maxInFlightBytes (262144)') as unknown, retryAfter: '1' });
    }
    expect(service.inFlightBytes).toBe(messages[0]!.length + messages[1]!.length);

    // A small message still fits beside the held ones (a real client).
    expect(await ownClient(grpcAddress)({ events: [{ name: 'small' }] })).toBe(status.OK);

    // The held calls finish and are accepted; the budget is free again, and as much can be sent at once.
    held.forEach((call, i) => call.finish(messages[i]!.subarray(40 * KiB)));
    for (const call of held) expect((await call.answer).code).toBe(status.OK);
    await expect.poll(() => service.inFlightBytes, { timeout: 10_000 }).toBe(0);
    const again = ownClient(grpcAddress);
    expect(await Promise.all([again({ events: [{ name: 'again-0' }] }), again({ events: [{ name: 'again-1' }] })])).toEqual([status.OK, status.OK]);
    await expect.poll(() => memory.events.map((e) => e.name).sort(), { timeout: 10_000 }).toEqual(['again-0', 'again-1', 'held-0', 'held-1', 'small']);
  });

  it('answers every one of many concurrent large messages from many connections OK or RESOURCE_EXHAUSTED, never holding more than the budget, and serves afterwards', async () => {
    const { service, grpcAddress, processor } = await start();
    let peak = 0;
    let sampling = true;
    const sample = (): void => {
      peak = Math.max(peak, service.inFlightBytes);
      if (sampling) setImmediate(sample);
    };
    sample();
    // 8 connections × 6 calls × 100 KiB: 4.7 MiB sent at once against a budget of 256 KiB.
    const clients = Array.from({ length: 8 }, () => ownClient(grpcAddress));
    const codes = await Promise.all(clients.flatMap((call, c) => Array.from({ length: 6 }, (_, i) => call(Service.service.TrackBatch!.requestDeserialize(batchMessage(`c${c}-${i}`, 100 * KiB))))));
    sampling = false;
    expect(codes.filter((code) => code !== status.OK && code !== status.RESOURCE_EXHAUSTED)).toEqual([]);
    const ok = codes.filter((code) => code === status.OK).length;
    expect(ok).toBeGreaterThan(0);
    expect(peak).toBeLessThanOrEqual(256 * KiB);
    expect(peak).toBeGreaterThan(0);
    expect(processor.stats().recorded).toBe(ok);
    await expect.poll(() => service.inFlightBytes, { timeout: 10_000 }).toBe(0);
    // Still up: every client is served once the burst is over.
    expect(await Promise.all(clients.map((call, c) => call({ events: [{ name: `after-${c}` }] })))).toEqual(clients.map(() => status.OK));
  });

  it('reserves maxMessageBytes more for the decompressed copy of a compressed message', async () => {
    const { service, grpcAddress } = await start();
    const call = openCall(grpcAddress, frame(Buffer.alloc(10 * KiB), 1 * KiB, true), { 'grpc-encoding': 'gzip' });
    await expect.poll(() => service.inFlightBytes, { timeout: 10_000 }).toBe(10 * KiB + 128 * KiB);
    // 138 KiB held: a 120 KiB message no longer fits.
    const refused = await openCall(grpcAddress, frame(batchMessage('refused', 120 * KiB))).answer;
    expect(refused.code).toBe(status.RESOURCE_EXHAUSTED);
    call.cancel();
    await expect.poll(() => service.inFlightBytes, { timeout: 10_000 }).toBe(0);
  });

  it('gives every reservation back however the call ends', async () => {
    const { service, grpcAddress } = await start({ grpc: { port: 0, maxMessageBytes: 128 * KiB, requestTimeoutMs: 500 } });
    // Cancelled by the client mid-message.
    const cancelled = openCall(grpcAddress, frame(batchMessage('cancelled', 100 * KiB), 10 * KiB));
    await expect.poll(() => service.inFlightBytes, { timeout: 10_000 }).toBeGreaterThan(0);
    cancelled.cancel();
    await expect.poll(() => service.inFlightBytes, { timeout: 10_000 }).toBe(0);
    // Cut by requestTimeoutMs mid-message.
    expect((await openCall(grpcAddress, frame(batchMessage('stalled', 100 * KiB), 10 * KiB)).answer).code).toBe(status.DEADLINE_EXCEEDED);
    await expect.poll(() => service.inFlightBytes, { timeout: 10_000 }).toBe(0);
    // Not protobuf; larger than maxMessageBytes (reserves nothing: grpc-js refuses it); the message but never the end of the stream.
    const notProtobuf = openCall(grpcAddress, frame(Buffer.alloc(50 * KiB, 0xff)));
    notProtobuf.finish(Buffer.alloc(0));
    expect((await notProtobuf.answer).code).toBe(status.INVALID_ARGUMENT);
    expect((await openCall(grpcAddress, frame(Buffer.alloc(200 * KiB), 10 * KiB)).answer).code).toBe(status.RESOURCE_EXHAUSTED);
    expect((await openCall(grpcAddress, frame(batchMessage('unended', 100 * KiB))).answer).code).toBe(status.DEADLINE_EXCEEDED);
    await expect.poll(() => service.inFlightBytes, { timeout: 10_000 }).toBe(0);
    // The whole budget can be held again: two messages of maxMessageBytes at once.
    const full = [0, 1].map((i) => batchMessage(`full-${i}`, 128 * KiB));
    const calls = full.map((m) => openCall(grpcAddress, frame(m)));
    calls.forEach((c) => c.finish(Buffer.alloc(0)));
    for (const c of calls) expect((await c.answer).code).toBe(status.OK);
    expect(service.inFlightBytes).toBe(0);
  });

  it('shares one budget with HTTP: messages being read leave HTTP bodies less room, and the gauge counts both transports', async () => {
    const { service, url, grpcAddress } = await start({ http: { port: 0, maxBodyBytes: 128 * KiB } });
    const messages = [0, 1].map((i) => batchMessage(`grpc-held-${i}`, 100 * KiB));
    const held = messages.map((m) => openCall(grpcAddress, frame(m, 1 * KiB)));
    const reserved = messages[0]!.length + messages[1]!.length;
    await expect.poll(() => service.inFlightBytes, { timeout: 10_000 }).toBe(reserved);
    const families = parseExposition(await (await fetch(`${url}/metrics`)).text());
    expect(valueOf(families, 'trackpipe_service_request_bytes_in_flight', {})).toBe(reserved);
    const body = JSON.stringify({ name: 'http', attributes: { pad: 'p'.repeat(100 * KiB) } });
    const refused = await post(`${url}/v1/track`, body, { raw: true });
    expect(refused.status).toBe(503);
    expect(refused.body.error?.code).toBe('overloaded');
    for (const call of held) call.cancel();
    await expect.poll(() => service.inFlightBytes, { timeout: 10_000 }).toBe(0);
    expect((await post(`${url}/v1/track`, body, { raw: true })).status).toBe(202);
  });
});
