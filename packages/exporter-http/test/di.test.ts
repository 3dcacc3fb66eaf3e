import { Container } from 'inversify';
import { afterEach, describe, expect, it } from 'vitest';
import { type ExporterContext, type ExporterFactory, type Exporter, silentLogger, TOKENS, TrackpipeError } from '@trackpipe/core';
import { issuesOf } from '@trackpipe/core/config';
import { HttpExporter, httpExporterOptionsFromConfig } from '@trackpipe/exporter-http';
import { httpExporterModule } from '@trackpipe/exporter-http/di';
import { batchFor, events, neverAborts } from './helpers/batch.js';
import { TestServer } from './helpers/test-server.js';
import { buildExporter } from '@trackpipe/core/testing';
import * as z from 'zod';

const context: ExporterContext = { path: 'pipelines[0].exporters[1]', pipeline: 'flags', logger: silentLogger, name: 'http' };
const built: Exporter<unknown>[] = [];
afterEach(async () => {
  for (const exporter of built.splice(0)) await exporter.shutdown?.();
});

function factory(): ExporterFactory {
  const container = new Container();
  container.load(httpExporterModule);
  const factories = container.getAll<ExporterFactory>(TOKENS.ExporterFactory);
  const http = factories.find((f) => f.type === 'http');
  expect(http).toBeDefined();
  return http!;
}

function create(options: Record<string, unknown>): Exporter<unknown> {
  const exporter = buildExporter(factory(), options, context) as Exporter<unknown>;
  built.push(exporter);
  return exporter;
}

describe('httpExporterModule', () => {
  it('binds a factory for type "http" under TOKENS.ExporterFactory next to other factories', () => {
    const container = new Container();
    const other: ExporterFactory = { type: 'memory', options: z.object({}), create: () => ({ name: 'memory', export: async () => ({ code: 'ok' }) }) };
    container.bind<ExporterFactory>(TOKENS.ExporterFactory).toConstantValue(other);
    container.load(httpExporterModule);
    expect(container.getAll<ExporterFactory>(TOKENS.ExporterFactory).map((f) => f.type).sort()).toEqual(['http', 'memory']);
  });

  it('builds a working HttpExporter from plain config', async () => {
    const server = await TestServer.start();
    try {
      const exporter = create({
        url: server.url('/v1/logs'),
        format: 'otlp',
        headers: { authorization: 'Bearer from-env' },
        gzipThresholdBytes: false,
        maxSockets: 2,
        otlp: { serviceName: 'svc', resourceAttributes: { region: 'eu' } },
      });
      expect(exporter).toBeInstanceOf(HttpExporter);
      const result = await exporter.export(batchFor(exporter, events(2)), neverAborts());
      expect(result.code).toBe('ok');
      expect(server.requests[0]!.headers.authorization).toBe('Bearer from-env');
      expect(server.requests[0]!.text()).toContain('"resourceLogs"');
    } finally {
      await server.stop();
    }
  });

  it('names the exporter after the config entry and marks a refused credential as an auth failure', async () => {
    const server = await TestServer.start({ handler: () => ({ status: 401, body: 'expired' }) });
    try {
      const exporter = buildExporter(factory(), { url: server.url('/hooks/T0001/B0002/secret-token-xyz') }, { ...context, name: 'ingest' });
      built.push(exporter as Exporter<unknown>);
      expect(exporter.name).toBe('ingest');
      const result = await exporter.export(batchFor(exporter, events(1)), neverAborts());
      expect(result).toMatchObject({ code: 'retry', auth: true });
      expect(JSON.stringify(result, (_k, v: unknown) => (v instanceof Error ? v.message : v))).not.toContain('secret-token-xyz');
    } finally {
      await server.stop();
    }
  });

  it('names the exporter "http" when the context gives no name', () => {
    expect(create({ url: 'http://127.0.0.1:9/' }).name).toBe('http');
  });

  it('takes every plain option of the schema', () => {
    const exporter = create({
      url: 'https://127.0.0.1:9/v1/logs',
      headers: { 'x-tenant': 'acme' },
      format: 'otlp',
      otlp: { serviceName: 'svc', resourceAttributes: { region: 'eu', nested: { n: [1, null] } }, scope: { name: 's', version: '1' } },
      compression: 'gzip',
      compressionLevel: 6,
      gzipThresholdBytes: 0,
      keepAlive: false,
      maxSockets: 1,
      tls: { ca: ['pem-a', 'pem-b'], rejectUnauthorized: true },
      retryAuthFailures: false,
      idempotencyKeyHeader: 'X-Request-Key',
    }) as HttpExporter;
    expect(exporter.name).toBe('http');
    expect(exporter.encodeBatch).toBeTypeOf('function');
  });

  const SECRET = 'hunter2-super-secret';
  it.each([
    [{}, 'url', 'is required'],
    [{ url: 42 }, 'url', 'must be a string'],
    [{ url: `not a url ${SECRET}` }, 'url', 'must be a valid http: or https: URL'],
    [{ url: `ftp://${SECRET}@example.com/` }, 'url', 'must be a valid http: or https: URL'],
    [{ url: 'http://h/', format: 'xml' }, 'format', 'must be one of "json", "ndjson", "otlp"'],
    [{ url: 'http://h/', headers: { authorization: 5 } }, 'headers.authorization', 'must be a string'],
    [{ url: 'http://h/', headers: { 'x-token': `a\r\n${SECRET}` } }, 'headers["x-token"]', 'line breaks'],
    [{ url: 'http://h/', headers: { 'bad name': SECRET } }, 'headers["bad name"]', 'is not a valid HTTP header name'],
    [{ url: 'http://h/', headers: { 'transfer-encoding': 'chunked' } }, 'headers["transfer-encoding"]', 'is set by the exporter'],
    [{ url: 'http://h/', headers: { 'x-token': `${SECRET}\u2603` } }, 'headers["x-token"]', 'must hold only tabs and characters U+0020 to U+00FF'],
    [{ url: 'http://h/', headers: 'Bearer x' }, 'headers', 'must be an object'],
    [{ url: 'http://h/', gzipThresholdBytes: -1 }, 'gzipThresholdBytes', '>= 0'],
    [{ url: 'http://h/', gzipThresholdBytes: '1k' }, 'gzipThresholdBytes', 'must be a number >= 0, or false'],
    [{ url: 'http://h/', maxSockets: 0 }, 'maxSockets', 'must be >= 1'],
    [{ url: 'http://h/', maxSockets: 1.5 }, 'maxSockets', 'must be an integer'],
    [{ url: 'http://h/', keepAlive: 'yes' }, 'keepAlive', 'true or false'],
    [{ url: 'http://h/', format: 'ndjson', envelopeKey: 'batch' }, 'envelopeKey', 'only valid with format "json"'],
    [{ url: 'http://h/', tls: { ca: 'pem' } }, 'tls', 'https: url'],
    [{ url: 'https://h/', tls: { rejectUnauthorized: 'no' } }, 'tls.rejectUnauthorized', 'true or false'],
    [{ url: 'https://h/', tls: { passphrase: SECRET } }, 'tls.passphrase', 'unknown key'],
    [{ url: 'https://h/', tls: { cert: SECRET } }, 'tls', 'Node cannot use this certificate and key'],
    [{ url: 'https://h/', tls: { key: `-----BEGIN PRIVATE KEY-----\n${SECRET}\n-----END PRIVATE KEY-----\n` } }, 'tls', 'Node cannot use this certificate and key'],
    [{ url: 'http://h/', format: 'otlp', otlp: { serviceName: '' } }, 'otlp.serviceName', 'must not be empty'],
    [{ url: 'http://h/', format: 'otlp', otlp: { resourceAttributes: { a: () => 1 } } }, 'otlp.resourceAttributes.a', 'must be a string, finite number'],
    [{ url: 'http://h/', otlp: {} }, 'otlp', 'only valid with format "otlp"'],
    [{ url: 'http://h/', compression: 'br' }, 'compression', 'must be one of "gzip", "zstd", "none"'],
    [{ url: 'http://h/', compression: 'none', compressionLevel: 3 }, 'compressionLevel', 'only valid with gzip or zstd'],
    [{ url: 'http://h/', compressionLevel: 0 }, 'compressionLevel', 'must be >= 1'],
    [{ url: 'http://h/', retryAuthFailures: 'yes' }, 'retryAuthFailures', 'true or false'],
    [{ url: 'http://h/', idempotencyKeyHeader: 'a b' }, 'idempotencyKeyHeader', 'valid HTTP header name'],
    [{ url: 'http://h/', idempotencyKeyHeader: 'Content-Length' }, 'idempotencyKeyHeader', 'must not be content-length'],
    [{ url: 'http://h/', ordered: true }, 'ordered', 'unknown key'],
    [{ url: 'http://h/', timeout: 5 }, 'timeout', 'unknown key'],
    [{ url: 'http://h/', name: 'x' }, 'name', 'unknown key'],
  ])('refuses %j naming the field and the problem, never the value', (options, field, problem) => {
    let error: unknown;
    try {
      create(options);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TrackpipeError);
    const { code, message } = error as TrackpipeError;
    expect(code).toBe('TRACKPIPE_ERR_CONFIG_INVALID');
    expect(message).toContain(`${context.path}.${field}: `);
    expect(message).toContain(problem);
    expect(message).not.toContain(SECRET);
    expect(issuesOf(error).map((issue) => issue.path)).toContain(`${context.path}.${field}`);
  });

  it('validates the same way without a container (httpExporterOptionsFromConfig)', () => {
    expect(() => httpExporterOptionsFromConfig({ url: 'http://h/', maxSockets: 0 }, 'x')).toThrow(/x\.maxSockets: must be >= 1/);
    expect(httpExporterOptionsFromConfig({ url: 'http://h/' }, 'x')).toMatchObject({ url: 'http://h/', format: 'json', compression: 'gzip', gzipThresholdBytes: 1024 });
  });
});
