import { Container } from 'inversify';
import { afterEach, describe, expect, it } from 'vitest';
import { type ExporterContext, type ExporterFactory, type Exporter, silentLogger, TOKENS, TrackpipeError } from '@trackpipe/core';
import { HttpExporter } from '@trackpipe/exporter-http';
import { httpExporterModule } from '@trackpipe/exporter-http/di';
import { batchFor, events, neverAborts } from './helpers/batch.js';
import { TestServer } from './helpers/test-server.js';

const context: ExporterContext = { path: 'pipelines[0].exporters[1]', pipeline: 'flags', logger: silentLogger };
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
  const exporter = factory().create(options, context) as Exporter<unknown>;
  built.push(exporter);
  return exporter;
}

describe('httpExporterModule', () => {
  it('binds a factory for type "http" under TOKENS.ExporterFactory next to other factories', () => {
    const container = new Container();
    const other: ExporterFactory = { type: 'memory', create: () => ({ name: 'memory', export: async () => ({ code: 'ok' }) }) };
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

  const SECRET = 'hunter2-super-secret';
  it.each([
    [{}, 'url', 'is required'],
    [{ url: 42 }, 'url', 'must be a string'],
    [{ url: `not a url ${SECRET}` }, 'url', 'valid http(s) URL'],
    [{ url: `ftp://${SECRET}@example.com/` }, 'url', 'http: or https:'],
    [{ url: 'http://h/', format: 'xml' }, 'format', 'must be one of json, ndjson, otlp'],
    [{ url: 'http://h/', headers: { authorization: 5 } }, 'headers.authorization', 'must be a string'],
    [{ url: 'http://h/', headers: { 'x-token': `a\r\n${SECRET}` } }, 'headers.x-token', 'line breaks'],
    [{ url: 'http://h/', headers: 'Bearer x' }, 'headers', 'must be an object'],
    [{ url: 'http://h/', gzipThresholdBytes: -1 }, 'gzipThresholdBytes', '>= 0'],
    [{ url: 'http://h/', gzipThresholdBytes: '1k' }, 'gzipThresholdBytes', '>= 0'],
    [{ url: 'http://h/', maxSockets: 0 }, 'maxSockets', 'integer >= 1'],
    [{ url: 'http://h/', maxSockets: 1.5 }, 'maxSockets', 'integer >= 1'],
    [{ url: 'http://h/', keepAlive: 'yes' }, 'keepAlive', 'true or false'],
    [{ url: 'http://h/', format: 'ndjson', envelopeKey: 'batch' }, 'envelopeKey', 'only valid with format json'],
    [{ url: 'http://h/', tls: { ca: 'pem' } }, 'tls', 'https: url'],
    [{ url: 'https://h/', tls: { rejectUnauthorized: 'no' } }, 'tls.rejectUnauthorized', 'true or false'],
    [{ url: 'https://h/', tls: { passphrase: SECRET } }, 'tls.passphrase', 'not a known option'],
    [{ url: 'http://h/', format: 'otlp', otlp: { serviceName: '' } }, 'otlp.serviceName', 'non-empty string'],
    [{ url: 'http://h/', format: 'otlp', otlp: { resourceAttributes: { a: () => 1 } } }, 'otlp.resourceAttributes.a', 'must be a string'],
    [{ url: 'http://h/', otlp: {} }, 'otlp', 'only valid with format otlp'],
    [{ url: 'http://h/', timeout: 5 }, 'timeout', 'not a known option'],
  ])('refuses %j naming the field and the problem, never the value', (options, field, problem) => {
    let error: unknown;
    try {
      create(options);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TrackpipeError);
    const { code, message, details } = error as TrackpipeError;
    expect(code).toBe('TRACKPIPE_ERR_CONFIG_INVALID');
    expect(message).toContain(`${context.path}.${field} `);
    expect(message).toContain(problem);
    expect(message).not.toContain(SECRET);
    expect(details).toEqual({ path: `${context.path}.${field}` });
  });
});
