import { request } from 'node:http';
import { type AddressInfo, connect, createServer } from 'node:net';
import { status } from '@grpc/grpc-js';
import { MemoryExporter } from '@trackpipe/collector-memory';
import { BatchProcessor, type Recorded, silentLogger } from '@trackpipe/core';
import { describe, expect, it } from 'vitest';
import { ApiKeyAuth, ByteBudget, GrpcIngestServer, type IngestEvent, Ingestor, TrackpipeService, resolveLimits, silentServiceLogger } from '../src/index.js';
import { gatedExporter, grpcClient, grpcFailure, post, startService, waitFor } from './support.js';

describe('graceful shutdown', () => {
  it('marks the service not ready, answers a request still arriving with 503, refuses new connections, then flushes', async () => {
    const { exporter, delivered, open } = gatedExporter();
    const { service, url, processor } = await startService({ exporter, grpc: false });
    const accepted = await post(`${url}/v1/batch`, { batch: [{ name: 'a' }, { name: 'b' }] });
    expect(accepted.status).toBe(202);
    await waitFor(() => processor.stats().inFlight === 2, 10_000, 'the export to start');

    // A request whose headers the server has (it asked for the body) when the shutdown begins.
    const body = JSON.stringify({ name: 'late' });
    const req = request(`${url}/v1/track`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), expect: '100-continue' },
    });
    const answered = new Promise<{ status: number; connection: string | undefined; text: string }>((resolve, reject) => {
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, text }));
      });
      req.on('error', reject);
    });
    await new Promise<void>((resolve) => {
      req.on('continue', () => resolve());
      req.flushHeaders();
    });

    const stopping = service.shutdown({ timeoutMs: 10_000 });
    expect(service.ready).toBe(false);
    expect(service.draining).toBe(true);
    req.end(body);
    const late = await answered;
    expect(late.status).toBe(503);
    expect(late.connection).toBe('close');
    expect(JSON.parse(late.text).error.code).toBe('draining');
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();

    open();
    const report = await stopping;
    expect(report.report.complete).toBe(true);
    expect(report.accepted).toBe(2);
    expect(delivered.sort()).toEqual([...accepted.body.ids!].sort());
    expect(processor.stats().droppedByReason.closed).toBe(0);
    expect(await service.shutdown()).toBe(report);
  });

  it('a shutdown begun while start() is still loading gRPC stops the gRPC listener: nothing listens after it', async () => {
    const port = await freePort();
    const collector = new BatchProcessor<IngestEvent>(new MemoryExporter<Recorded<IngestEvent>>(), { logger: silentLogger });
    const service = new TrackpipeService({ collector, http: false, grpc: { port } });
    // gRPC's module is imported by start(): the shutdown begins before the server exists.
    const starting = service.start().then(
      () => 'started',
      () => 'failed',
    );
    const report = await service.shutdown({ timeoutMs: 2_000 });
    await starting;
    expect(report.accepted).toBe(0);
    expect(service.ready).toBe(false);
    expect(await refused(port)).toBe(true);
  });

  it('a shutdown begun before the HTTP listener is bound: start() settles, and nothing listens after it', async () => {
    const port = await freePort();
    const collector = new BatchProcessor<IngestEvent>(new MemoryExporter<Recorded<IngestEvent>>(), { logger: silentLogger });
    const service = new TrackpipeService({ collector, http: { host: 'localhost', port }, grpc: false });
    // 'localhost' is looked up before the bind: the shutdown begins while the server is not yet listening.
    const starting = service.start().then(
      () => 'started',
      (error: unknown) => (error instanceof Error ? error.message : String(error)),
    );
    const report = await service.shutdown({ timeoutMs: 2_000 });
    const outcome = await Promise.race([starting, new Promise((resolve) => setTimeout(() => resolve('start() did not settle'), 3_000))]);
    expect(outcome).toBe('HTTP ingest did not start: the service is shutting down');
    expect(report.accepted).toBe(0);
    expect(service.ready).toBe(false);
    expect(await refused(port)).toBe(true);
  });

  it('a gRPC server stopped while its address is still being bound: listen() rejects, and nothing listens after it', async () => {
    const port = await freePort();
    const collector = new BatchProcessor<IngestEvent>(new MemoryExporter<Recorded<IngestEvent>>(), { logger: silentLogger });
    const parts = {
      ingestor: new Ingestor(collector),
      auth: new ApiKeyAuth(),
      limits: resolveLimits(),
      logger: silentServiceLogger,
      metrics: undefined,
      budget: new ByteBudget(16 << 20),
    };
    const server = new GrpcIngestServer(parts, { host: 'localhost', port });
    // listen() has begun the bind (the host is resolved, then bound, asynchronously) when stop() is called.
    const listening = server.listen().then(
      () => 'listening',
      (error: unknown) => (error instanceof Error ? error.message : String(error)),
    );
    await server.stop(2_000);
    expect(await listening).toBe('gRPC ingest did not start: the service is shutting down');
    expect(await refused(port)).toBe(true);
    await collector.close({ timeoutMs: 1_000 });
  });

  it('answers UNAVAILABLE over gRPC once draining', async () => {
    const { service, grpcAddress } = await startService({ http: false });
    const client = grpcClient(grpcAddress);
    try {
      await client.call('TrackEvent', { event: { name: 'before' } });
      const stopping = service.shutdown({ timeoutMs: 5_000 });
      const failure = await grpcFailure(client.call('TrackEvent', { event: { name: 'after' } }));
      // Either our handler answered UNAVAILABLE, or the closing server refused the call: both are UNAVAILABLE.
      expect(failure.code).toBe(status.UNAVAILABLE);
      const report = await stopping;
      expect(report.accepted).toBe(1);
      expect(report.stats.exported).toBe(1);
    } finally {
      client.close();
    }
  });
});

/** A port nothing listens on now (127.0.0.1). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** True when a TCP connection to 127.0.0.1:`port` is refused (nothing listens). */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}
