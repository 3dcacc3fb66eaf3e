import { MemoryExporter } from '@trackpipe/collector-memory';
import { BatchProcessor, type Recorded, TrackpipeError, silentLogger } from '@trackpipe/core';
import { describe, expect, it } from 'vitest';
import { type IngestEvent, TrackpipeService, type TrackpipeServiceOptions, exposureIssues, isLoopback, jsonLogger, parseServiceConfig } from '../src/index.js';

function processor(): BatchProcessor<IngestEvent> {
  return new BatchProcessor<IngestEvent>(new MemoryExporter<Recorded<IngestEvent>>(), { logger: silentLogger });
}

function refusal(options: Omit<TrackpipeServiceOptions, 'collector'>): TrackpipeError {
  const collector = processor();
  try {
    new TrackpipeService({ collector, ...options });
  } catch (error) {
    expect(error).toBeInstanceOf(TrackpipeError);
    return error as TrackpipeError;
  } finally {
    void collector.close({ timeoutMs: 0 });
  }
  throw new Error('the service was built; a refusal was expected');
}

describe('ingest on a non-loopback address without authentication', () => {
  it('tells loopback addresses from everything else', () => {
    for (const host of ['127.0.0.1', '127.0.0.2', '127.255.0.9', '::1', '[::1]', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', 'localhost', 'LOCALHOST', 'a.localhost']) {
      expect(isLoopback(host), host).toBe(true);
    }
    for (const host of ['0.0.0.0', '::', '[::]', '10.0.0.5', '192.168.1.2', '128.0.0.1', '::2', 'example.com', '127.1', 'localhost.example.com']) {
      expect(isLoopback(host), host).toBe(false);
    }
  });

  it('refuses to build a service that would listen on 0.0.0.0 or :: with no API key, naming the address and the option', () => {
    const http = refusal({ http: { host: '0.0.0.0', port: 0 }, grpc: false });
    expect(http.code).toBe('TRACKPIPE_ERR_OPTIONS_INVALID');
    expect(http.message).toContain('HTTP ingest on 0.0.0.0');
    expect(http.message).toContain('allowUnauthenticated');
    expect(http.message).toContain('apiKeys');
    const grpc = refusal({ http: false, grpc: { host: '::', port: 0 } });
    expect(grpc.message).toContain('gRPC ingest on ::');
    // The default HTTP host is loopback: only the gRPC listener is named.
    const one = refusal({ http: { port: 0 }, grpc: { host: '0.0.0.0', port: 0 } });
    expect(one.message).not.toContain('HTTP ingest');
  });

  it('builds such a service once API keys are set, or when allowUnauthenticated says it is intended', async () => {
    const keyed = processor();
    expect(() => new TrackpipeService({ collector: keyed, http: { host: '0.0.0.0', port: 0 }, grpc: false, apiKeys: ['k'] })).not.toThrow();
    await keyed.close({ timeoutMs: 0 });
    const allowed = processor();
    expect(() => new TrackpipeService({ collector: allowed, http: { host: '0.0.0.0' }, grpc: { host: '::' }, allowUnauthenticated: true })).not.toThrow();
    await allowed.close({ timeoutMs: 0 });
  });

  it('starts without keys on loopback variants', async () => {
    for (const host of ['127.0.0.2', 'localhost']) {
      const service = new TrackpipeService({ collector: processor(), http: { host, port: 0 }, grpc: { host, port: 0 } });
      const { http } = await service.start();
      expect((await fetch(`${http!.url}/healthz`)).status).toBe(200);
      await service.shutdown({ timeoutMs: 2_000 });
    }
  });

  it('starts on a host it cannot prove loopback only when allowed, and warns that it accepts events without authentication', async () => {
    // "127.1" resolves to 127.0.0.1, but it is not a literal loopback address: it counts as reachable.
    expect(refusal({ http: { host: '127.1', port: 0 }, grpc: false }).message).toContain('HTTP ingest on 127.1');
    const lines: Record<string, unknown>[] = [];
    const service = new TrackpipeService({
      collector: processor(),
      http: { host: '127.1', port: 0 },
      grpc: false,
      allowUnauthenticated: true,
      logger: jsonLogger({ write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) }),
    });
    const { http } = await service.start();
    expect(http!.host).toBe('127.0.0.1');
    const res = await fetch(`${http!.url}/v1/track`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"name":"open"}' });
    expect(res.status).toBe(202);
    expect(lines).toContainEqual(expect.objectContaining({ level: 'warn', listeners: ['HTTP 127.1'] }));
    await service.shutdown({ timeoutMs: 2_000 });
  });

  it('names service.http.host and service.grpc.host as configuration problems, unless auth.allowUnauthenticated is set', () => {
    const base = { pipelines: [{ exporters: [{ type: 'console' }] }] };
    const open = parseServiceConfig({ ...base, service: { http: { host: '0.0.0.0' }, grpc: { host: '::' } } }, { env: {} });
    const issues = exposureIssues(open.service);
    expect(issues.map((i) => i.path)).toEqual(['service.http.host', 'service.grpc.host']);
    expect(issues[0]?.message).toContain('0.0.0.0, not a loopback address');
    expect(issues[0]?.message).toContain('service.auth.allowUnauthenticated: true');
    const allowed = parseServiceConfig({ ...base, service: { http: { host: '0.0.0.0' }, auth: { allowUnauthenticated: true } } }, { env: {} });
    expect(exposureIssues(allowed.service)).toEqual([]);
    const keyed = parseServiceConfig({ ...base, service: { http: { host: '0.0.0.0' }, auth: { apiKeys: ['k'] } } }, { env: {} });
    expect(exposureIssues(keyed.service)).toEqual([]);
    expect(exposureIssues(parseServiceConfig(base, { env: {} }).service)).toEqual([]);
  });
});
