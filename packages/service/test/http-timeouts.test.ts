// Slow and idle clients: the HTTP server's own timeouts close them within the configured time.
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseServiceConfig } from '../src/index.js';
import { startService } from './support.js';

type Started = Awaited<ReturnType<typeof startService>>;
const running: Started[] = [];
const sockets: Socket[] = [];

async function start(http: Record<string, number>): Promise<{ port: number; started: Started }> {
  const started = await startService({ grpc: false, http: { port: 0, ...http } });
  running.push(started);
  return { port: Number(new URL(started.url).port), started };
}

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of running.splice(0)) await s.service.shutdown({ timeoutMs: 2_000 });
});

/** A raw TCP client: what it received, and when the server closed the connection (ms after `connected`). */
interface RawClient {
  socket: Socket;
  received: () => string;
  closedAfter: Promise<number>;
  /** Writes `text` one byte every `everyMs` until the connection closes (slowloris). */
  trickle(text: string, everyMs: number): void;
}

async function rawClient(port: number): Promise<RawClient> {
  const socket = connect(port, '127.0.0.1');
  sockets.push(socket);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const connected = performance.now();
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (received += chunk));
  socket.on('error', () => undefined);
  const closedAfter = new Promise<number>((resolve) => socket.once('close', () => resolve(performance.now() - connected)));
  let closed = false;
  void closedAfter.then(() => (closed = true));
  return {
    socket,
    received: () => received,
    closedAfter,
    trickle(text, everyMs) {
      let i = 0;
      const timer = setInterval(() => {
        if (closed || i >= text.length) return clearInterval(timer);
        socket.write(text[i++]!);
      }, everyMs);
    },
  };
}

// Generous bounds: the server closes within the timeout plus one check interval (at most 1 s), plus
// scheduling noise on a loaded machine. Node's default check interval alone is 30 s.
const SLACK_MS = 1_500;

describe('HTTP server timeouts', () => {
  it('closes a client that sends its headers byte by byte once headersTimeoutMs has passed, answering 408', async () => {
    const { port } = await start({ headersTimeoutMs: 500, requestTimeoutMs: 20_000 });
    const client = await rawClient(port);
    client.socket.write('POST /v1/track HTTP/1.1\r\nHost: x\r\n');
    client.trickle(`X-Padding: ${'a'.repeat(10_000)}\r\n`, 20);
    const after = await client.closedAfter;
    expect(after).toBeGreaterThanOrEqual(450);
    expect(after).toBeLessThan(500 + SLACK_MS);
    expect(client.received()).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('closes a client that never finishes its body once requestTimeoutMs has passed, answering 408', async () => {
    const { port, started } = await start({ headersTimeoutMs: 300, requestTimeoutMs: 800 });
    const client = await rawClient(port);
    client.socket.write('POST /v1/track HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n{"name":');
    client.trickle(' '.repeat(10_000), 20);
    const after = await client.closedAfter;
    expect(after).toBeGreaterThanOrEqual(750);
    expect(after).toBeLessThan(800 + SLACK_MS);
    expect(client.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect(started.processor.stats().recorded).toBe(0);
  });

  it('closes a connection that never sends a byte once headersTimeoutMs has passed', async () => {
    const { port } = await start({ headersTimeoutMs: 400, requestTimeoutMs: 20_000 });
    const client = await rawClient(port);
    const after = await client.closedAfter;
    expect(after).toBeLessThan(400 + SLACK_MS);
  });

  it('keeps idle connections 65 s by default (above a load balancer 60 s idle timeout), and closes them after keepAliveTimeoutMs', async () => {
    const defaults = await start({});
    const idle = await rawClient(defaults.port);
    idle.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await expect.poll(() => idle.received()).toContain('\r\n\r\n{"status":"ok"}');
    expect(idle.received()).toMatch(/\r\nKeep-Alive: timeout=65\r\n/i);

    const short = await start({ keepAliveTimeoutMs: 300 });
    const client = await rawClient(short.port);
    client.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await expect.poll(() => client.received()).toContain('{"status":"ok"}');
    expect(await client.closedAfter).toBeLessThan(300 + SLACK_MS);
  });

  it('configures the timeouts in the service section, with their defaults', () => {
    const config = parseServiceConfig({ pipelines: [{ exporters: [{ type: 'console' }] }] }, { env: {} });
    expect(config.service.http).toMatchObject({ requestTimeoutMs: 30_000, headersTimeoutMs: 10_000, keepAliveTimeoutMs: 65_000 });
    const set = parseServiceConfig(
      { service: { http: { headersTimeoutMs: 2_000, keepAliveTimeoutMs: 75_000 } }, pipelines: [{ exporters: [{ type: 'console' }] }] },
      { env: {} },
    );
    expect(set.service.http).toMatchObject({ headersTimeoutMs: 2_000, keepAliveTimeoutMs: 75_000 });
  });
});
