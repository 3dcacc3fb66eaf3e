// Clients that open a gRPC call and stall, spoken with a raw HTTP/2 client (node:http2): the service
// must answer each stalled call within grpc.requestTimeoutMs, close every connection within
// grpc.maxConnectionAgeMs (+10 % jitter) + requestTimeoutMs — the stream of a client that never ends
// it, a connection that never sends the HTTP/2 preface — and keep serving other clients meanwhile.
// One connection holds at most grpc.maxConcurrentStreams calls, however many the client opens.
import http2 from 'node:http2';
import net from 'node:net';
import { status } from '@grpc/grpc-js';
import { parseExposition, samples } from '@trackpipe/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { TrackpipeError } from '@trackpipe/core';
import { createService, parseServiceConfig } from '../src/index.js';
import { grpcClient, startService } from './support.js';

const TIMEOUT_MS = 400;
const AGE_MS = 1_000;
/** The longest a connection may live: its age with grpc-js's jitter, the grace, and slack for a busy machine. */
const CONNECTION_BOUND_MS = AGE_MS * 1.1 + TIMEOUT_MS + 1_500;
const PATH = '/analytics.v1.AnalyticsService/TrackEvent';

type Started = Awaited<ReturnType<typeof startService>>;
const running: Started[] = [];
const cleanups: (() => void)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0)) c();
  for (const s of running.splice(0)) await s.service.shutdown({ timeoutMs: 2_000 });
});

async function start(options: Parameters<typeof startService>[0] = {}): Promise<Started> {
  const started = await startService({ http: false, grpc: { port: 0, requestTimeoutMs: TIMEOUT_MS, maxConnectionAgeMs: AGE_MS }, ...options });
  running.push(started);
  return started;
}

function connect(address: string): http2.ClientHttp2Session {
  const session = http2.connect(`http://${address}`);
  session.on('error', () => undefined); // a GOAWAY or a reset is what some tests wait for
  cleanups.push(() => session.destroy());
  return session;
}

interface Outcome {
  /** grpc-status of the answer (trailers, or a trailers-only answer), undefined when none came. */
  code: number | undefined;
  message: string | undefined;
  /** Milliseconds from the call's start until its answer (or, without one, until its stream closed). */
  ms: number;
  /** Resolves with the milliseconds from the call's start until its stream closed. */
  closed: Promise<number>;
}

/** Opens a TrackEvent call, writes `bytes` (without ending the stream unless `end`), and resolves at its answer, or when its stream closes without one. */
function stalledCall(session: http2.ClientHttp2Session, bytes: Buffer, end = false): Promise<Outcome> {
  const started = performance.now();
  const stream = session.request({ ':method': 'POST', ':path': PATH, 'content-type': 'application/grpc', te: 'trailers' }, { endStream: false });
  const closed = new Promise<number>((resolve) => stream.on('close', () => resolve(performance.now() - started)));
  stream.on('error', () => undefined);
  stream.resume();
  if (bytes.length > 0) stream.write(bytes);
  if (end) stream.end();
  return new Promise((resolve) => {
    const read = (headers: http2.IncomingHttpHeaders): void => {
      if (headers['grpc-status'] === undefined) return;
      const message = headers['grpc-message'] === undefined ? undefined : decodeURIComponent(String(headers['grpc-message']));
      resolve({ code: Number(headers['grpc-status']), message, ms: performance.now() - started, closed });
    };
    stream.on('response', read);
    stream.on('trailers', read);
    void closed.then((ms) => resolve({ code: undefined, message: undefined, ms, closed }));
  });
}

/** A gRPC frame header announcing `length` bytes of message, and `sent` of them. */
function partialMessage(length: number, sent: number): Buffer {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(length, 1);
  return Buffer.concat([header, Buffer.alloc(sent, 0x0a)]);
}

/** A complete, valid TrackEventRequest frame: { event: { name: 'stalled' } } */
function fullMessage(): Buffer {
  const name = Buffer.from('stalled');
  const event = Buffer.concat([Buffer.from([0x12, name.length]), name]); // Event.name = field 2
  const body = Buffer.concat([Buffer.from([0x0a, event.length]), event]); // TrackEventRequest.event = field 1
  const header = Buffer.alloc(5);
  header.writeUInt32BE(body.length, 1);
  return Buffer.concat([header, body]);
}

function closed(session: http2.ClientHttp2Session): Promise<number> {
  const started = performance.now();
  return new Promise((resolve) => {
    if (session.destroyed) resolve(0);
    else session.once('close', () => resolve(performance.now() - started));
  });
}

describe('a gRPC client that stalls', () => {
  it.each([
    ['sends no message at all', Buffer.alloc(0), false],
    ['sends three bytes of the five-byte frame header', Buffer.from([0, 0, 0]), false],
    ['announces 100 bytes and sends 10', partialMessage(100, 10), false],
    ['sends the whole message but never ends its stream', fullMessage(), false],
  ])('is answered DEADLINE_EXCEEDED within requestTimeoutMs when it %s, and nothing is recorded', async (_what, bytes, end) => {
    const { grpcAddress, processor } = await start();
    const outcome = await stalledCall(connect(grpcAddress), bytes, end);
    expect(outcome.code).toBe(status.DEADLINE_EXCEEDED);
    expect(outcome.message).toBe(`the request message was not received within ${TIMEOUT_MS} ms`);
    expect(outcome.ms).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
    expect(outcome.ms).toBeLessThan(TIMEOUT_MS + 1_500);
    expect(processor.stats().recorded).toBe(0);
  });

  it('answers OK a call whose whole message arrived in time', async () => {
    const { grpcAddress, memory } = await start();
    const outcome = await stalledCall(connect(grpcAddress), fullMessage(), true);
    expect(outcome.code).toBe(status.OK);
    expect(outcome.ms).toBeLessThan(TIMEOUT_MS);
    await expect.poll(() => memory.events.length).toBe(1);
  });

  it('frees the stream of a client that never ends it by closing the connection within maxConnectionAgeMs + requestTimeoutMs', async () => {
    const { grpcAddress } = await start();
    const session = connect(grpcAddress);
    const sessionClosed = closed(session);
    const call = await stalledCall(session, Buffer.alloc(0));
    expect(call.code).toBe(status.DEADLINE_EXCEEDED);
    // The client ignores the answer and keeps its side open: the server closes the connection (GOAWAY, then the socket).
    expect(await call.closed).toBeLessThan(CONNECTION_BOUND_MS);
    expect(await sessionClosed).toBeLessThan(CONNECTION_BOUND_MS);
  });

  it('closes a connection that never starts a call within the bound', async () => {
    const { grpcAddress } = await start();
    const idle = connect(grpcAddress);
    expect(await closed(idle)).toBeLessThan(CONNECTION_BOUND_MS);
  });

  it('closes a TCP connection that never sends the HTTP/2 preface within the bound', async () => {
    const { grpcAddress } = await start();
    const at = grpcAddress.lastIndexOf(':');
    const socket = net.connect(Number(grpcAddress.slice(at + 1)), grpcAddress.slice(0, at));
    cleanups.push(() => socket.destroy());
    socket.on('error', () => undefined);
    socket.resume();
    const started = performance.now();
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    expect(performance.now() - started).toBeLessThan(CONNECTION_BOUND_MS);
  });

  it('keeps serving a well-behaved client across its connections\' ages: every call is answered OK', async () => {
    const { grpcAddress, memory } = await start();
    const client = grpcClient(grpcAddress);
    cleanups.push(() => client.close());
    const ids: string[] = [];
    const until = performance.now() + 2.5 * AGE_MS;
    while (performance.now() < until) {
      ids.push((await client.call('TrackEvent', { event: { name: 'steady' } })).id ?? 'no id');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(ids.length).toBeGreaterThan(20);
    await expect.poll(() => memory.events.map((e) => e.id)).toEqual(ids);
  });

  // 100: as many calls as one connection may hold by default (grpc.maxConcurrentStreams); more wait in the client's queue.
  it('ends 100 stalled calls on one connection within the bound while another client is served, and counts them', async () => {
    const { grpcAddress, url } = await start({ http: { port: 0 } });
    const session = connect(grpcAddress);
    const calls = Array.from({ length: 100 }, (_, i) => stalledCall(session, i % 2 === 0 ? Buffer.alloc(0) : partialMessage(1_000, 500)));
    const client = grpcClient(grpcAddress);
    cleanups.push(() => client.close());
    // Meanwhile, a well-behaved client is served at once, call after call.
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      const answer = await client.call('TrackEvent', { event: { name: `ok-${i}` } });
      expect(answer.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(performance.now() - started).toBeLessThan(TIMEOUT_MS);
    }
    const outcomes = await Promise.all(calls);
    expect(outcomes.map((o) => o.code)).toEqual(outcomes.map(() => status.DEADLINE_EXCEEDED));
    expect(Math.max(...outcomes.map((o) => o.ms))).toBeLessThan(TIMEOUT_MS + 1_500);
    const families = parseExposition(await (await fetch(`${url}/metrics`)).text());
    const counted = samples(families, 'trackpipe_service_requests_total', { transport: 'grpc', route: 'TrackEvent', status: 'DEADLINE_EXCEEDED' });
    expect(counted.reduce((n, s) => n + s.value, 0)).toBe(100);
  });

  it('answers UNAUTHENTICATED to a call without a key at once, not after the bound', async () => {
    const { grpcAddress } = await start({ apiKeys: ['k-1234567890'] });
    const outcome = await stalledCall(connect(grpcAddress), Buffer.alloc(0));
    expect(outcome.code).toBe(status.UNAUTHENTICATED);
    expect(outcome.ms).toBeLessThan(TIMEOUT_MS);
  });

  it.each([0, -1, 1.5, Number.NaN, 2 ** 31])('refuses requestTimeoutMs and maxConnectionAgeMs %s, naming the option', async (ms) => {
    await expect(startService({ http: false, grpc: { port: 0, requestTimeoutMs: ms } })).rejects.toThrow(/grpc\.requestTimeoutMs must be an integer from 1 to 2147483647 /);
    await expect(startService({ http: false, grpc: { port: 0, maxConnectionAgeMs: ms } })).rejects.toThrow(/grpc\.maxConnectionAgeMs must be an integer from 1 to 1952257860 /);
  });

  it('takes both bounds from the service.grpc section of a configuration, and names a bad one by its path', async () => {
    const config = parseServiceConfig(
      {
        service: { http: { enabled: false }, grpc: { port: 0, requestTimeoutMs: TIMEOUT_MS, maxConnectionAgeMs: AGE_MS } },
        pipelines: [{ exporters: [{ type: 'memory' }] }],
      },
      { env: {} },
    );
    const { service } = await createService(config);
    const { grpc } = await service.start();
    try {
      const session = connect(grpc!.address);
      const sessionClosed = closed(session);
      const call = await stalledCall(session, Buffer.alloc(0));
      expect(call.code).toBe(status.DEADLINE_EXCEEDED);
      expect(call.ms).toBeLessThan(TIMEOUT_MS + 1_500);
      expect(await sessionClosed).toBeLessThan(CONNECTION_BOUND_MS);
    } finally {
      await service.shutdown({ timeoutMs: 2_000 });
    }
    for (const field of ['requestTimeoutMs', 'maxConnectionAgeMs']) {
      let error: unknown;
      try {
        parseServiceConfig({ service: { grpc: { [field]: 0 } }, pipelines: [{ exporters: [{ type: 'memory' }] }] }, { env: {} });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(TrackpipeError);
      expect((error as TrackpipeError).message).toContain(`service.grpc.${field}`);
    }
  });
});

describe('a gRPC client that opens more calls on one connection than grpc.maxConcurrentStreams', () => {
  const LIMIT = 4;
  const OPENED = 40;

  /** A service whose connections outlive the test (no age): only the stream limit bounds what one connection holds. */
  async function startLimited(): Promise<Started> {
    return start({ http: { port: 0 }, grpc: { port: 0, requestTimeoutMs: TIMEOUT_MS, maxConnectionAgeMs: 600_000, maxConcurrentStreams: LIMIT } });
  }

  /** How many TrackEvent calls the service answered DEADLINE_EXCEEDED: every stalled call it admitted, and only those. */
  async function stalledAnswered(url: string): Promise<number> {
    const families = parseExposition(await (await fetch(`${url}/metrics`)).text());
    return samples(families, 'trackpipe_service_requests_total', { transport: 'grpc', route: 'TrackEvent', status: 'DEADLINE_EXCEEDED' }).reduce((n, s) => n + s.value, 0);
  }

  function remoteSettings(session: http2.ClientHttp2Session): Promise<http2.Settings> {
    return new Promise((resolve) => session.once('remoteSettings', resolve));
  }

  const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

  /** Calls `then` with the grpc-status of the stream's answer (in its trailers, or a trailers-only answer's headers). */
  function onStatus(stream: http2.ClientHttp2Stream, then: (code: number) => void): void {
    const read = (headers: http2.IncomingHttpHeaders): void => {
      if (headers['grpc-status'] !== undefined) then(Number(headers['grpc-status']));
    };
    stream.on('response', read);
    stream.on('trailers', read);
  }

  it('is told the limit, gets only that many calls admitted (the rest wait in its HTTP/2 queue), and another client is served meanwhile', async () => {
    const { grpcAddress, url, memory } = await startLimited();
    const session = connect(grpcAddress);
    expect((await remoteSettings(session)).maxConcurrentStreams).toBe(LIMIT);
    // Each call sends a whole, valid message and never ends its stream; `answered` collects the grpc-status of those answered.
    const answered = new Map<number, number>();
    const streams = Array.from({ length: OPENED }, (_, i) => {
      const stream = session.request({ ':method': 'POST', ':path': PATH, 'content-type': 'application/grpc', te: 'trailers' }, { endStream: false });
      stream.on('error', () => undefined);
      onStatus(stream, (code) => answered.set(i, code));
      stream.resume();
      stream.write(fullMessage());
      return stream;
    });
    // The admitted calls are answered at requestTimeoutMs; their streams stay open (the client never ends them) and keep their slots.
    await expect.poll(() => stalledAnswered(url), { timeout: TIMEOUT_MS + 3_000 }).toBe(LIMIT);
    // Meanwhile a well-behaved client on its own connection is answered at once.
    const client = grpcClient(grpcAddress);
    cleanups.push(() => client.close());
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      expect((await client.call('TrackEvent', { event: { name: `ok-${i}` } })).id).toMatch(/^[0-9a-f-]{36}$/);
      expect(performance.now() - started).toBeLessThan(TIMEOUT_MS);
    }
    // Several timeouts later, none of the excess calls has reached the service, and none was refused: they wait.
    await sleep(3 * TIMEOUT_MS);
    expect(await stalledAnswered(url)).toBe(LIMIT);
    expect([...answered.values()]).toEqual(Array.from({ length: LIMIT }, () => status.DEADLINE_EXCEEDED));
    expect(streams.filter((s) => s.closed || s.destroyed).length).toBe(0);
    expect(memory.events.map((e) => e.name)).toEqual(['ok-0', 'ok-1', 'ok-2']);
    // Queued, not lost: freeing one slot admits exactly one more.
    streams[[...answered.keys()][0]!]!.close();
    await expect.poll(() => stalledAnswered(url), { timeout: TIMEOUT_MS + 3_000 }).toBe(LIMIT + 1);
    await sleep(2 * TIMEOUT_MS);
    expect(await stalledAnswered(url)).toBe(LIMIT + 1);
    expect(answered.size).toBe(LIMIT + 1);
  });

  it('refuses at once (REFUSED_STREAM) the excess calls of a client that sends them before it has read the limit; none of them is processed', async () => {
    const { grpcAddress, url } = await startLimited();
    const session = connect(grpcAddress);
    // Opened before the server's SETTINGS arrive: the client sends all of them.
    const started = performance.now();
    const refusedAfter: number[] = [];
    const outcomes = Array.from({ length: OPENED }, () => {
      const stream = session.request({ ':method': 'POST', ':path': PATH, 'content-type': 'application/grpc', te: 'trailers' }, { endStream: false });
      stream.resume();
      stream.write(fullMessage());
      return new Promise<{ code: number | undefined; error: string | undefined; rst: number | undefined }>((resolve) => {
        stream.on('error', (error: NodeJS.ErrnoException) => {
          refusedAfter.push(performance.now() - started);
          resolve({ code: undefined, error: error.code, rst: stream.rstCode });
        });
        onStatus(stream, (code) => resolve({ code, error: undefined, rst: undefined }));
      });
    });
    const results = await Promise.all(outcomes);
    const refused = results.filter((r) => r.error !== undefined);
    expect(refused).toEqual(Array.from({ length: OPENED - LIMIT }, () => ({ code: undefined, error: 'ERR_HTTP2_STREAM_ERROR', rst: http2.constants.NGHTTP2_REFUSED_STREAM })));
    // Refused at once, not at requestTimeoutMs like a stalled call.
    expect(Math.max(...refusedAfter)).toBeLessThan(TIMEOUT_MS);
    expect(results.filter((r) => r.code !== undefined).map((r) => r.code)).toEqual(Array.from({ length: LIMIT }, () => status.DEADLINE_EXCEEDED));
    await sleep(2 * TIMEOUT_MS);
    expect(await stalledAnswered(url)).toBe(LIMIT);
    expect(session.destroyed).toBe(false);
  });

  it('announces the default limit, 100, when the option is absent, and takes service.grpc.maxConcurrentStreams from a configuration', async () => {
    const { grpcAddress } = await start({ grpc: { port: 0 } });
    expect((await remoteSettings(connect(grpcAddress))).maxConcurrentStreams).toBe(100);
    for (const [grpc, expected] of [[{ port: 0 }, 100], [{ port: 0, maxConcurrentStreams: 7 }, 7]] as const) {
      const config = parseServiceConfig({ service: { http: { enabled: false }, grpc }, pipelines: [{ exporters: [{ type: 'memory' }] }] }, { env: {} });
      const { service } = await createService(config);
      const addresses = await service.start();
      try {
        expect((await remoteSettings(connect(addresses.grpc!.address))).maxConcurrentStreams).toBe(expected);
      } finally {
        await service.shutdown({ timeoutMs: 2_000 });
      }
    }
  });

  const BAD_LIMITS: [option: string, max: number, bad: unknown][] = [
    ...[0, -1, 1.5, 'x', 2 ** 32].map((bad): [string, number, unknown] => ['maxConcurrentStreams', 4_294_967_295, bad]),
    ...[0, 1.5, 2 ** 31].map((bad): [string, number, unknown] => ['maxMessageBytes', 2_147_483_647, bad]),
  ];
  it.each(BAD_LIMITS)('refuses %s %s at start, naming the option (service.grpc.<option> in a configuration)', async (option, max, bad) => {
    await expect(startService({ http: false, grpc: { port: 0, [option]: bad as number } })).rejects.toThrow(`grpc.${option} must be an integer from 1 to ${max} `);
    let error: unknown;
    try {
      parseServiceConfig({ service: { grpc: { [option]: bad } }, pipelines: [{ exporters: [{ type: 'memory' }] }] }, { env: {} });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TrackpipeError);
    expect((error as TrackpipeError).message).toContain(`service.grpc.${option}: must be an integer from 1 to ${max}`);
  });
});
