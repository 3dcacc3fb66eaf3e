import { Container } from 'inversify';
import { describe, expect, it } from 'vitest';
import { type ExporterContext, type ExporterFactory, type Logger, TOKENS, TrackpipeError, silentLogger } from '@trackpipe/core';
import { issuesOf } from '@trackpipe/core/config';
import { KafkaExporter } from '@trackpipe/exporter-kafka';
import { kafkaExporterModule } from '@trackpipe/exporter-kafka/di';
import { buildExporter } from '@trackpipe/core/testing';
import { closedPort } from './helpers/closed-port.js';

const context: ExporterContext = { path: 'pipelines[0].exporters[2]', pipeline: 'flags', logger: silentLogger, name: 'kafka' };
const valid = { brokers: ['127.0.0.1:9092'], topic: 'flag-evaluations' };

function kafkaFactory(): ExporterFactory {
  const container = new Container();
  container.load(kafkaExporterModule);
  const factory = container.getAll<ExporterFactory>(TOKENS.ExporterFactory).find((f) => f.type === 'kafka');
  expect(factory).toBeDefined();
  return factory!;
}

function failure(options: Record<string, unknown>): TrackpipeError {
  try {
    buildExporter(kafkaFactory(), options, context);
  } catch (error) {
    expect(error).toBeInstanceOf(TrackpipeError);
    return error as TrackpipeError;
  }
  throw new Error('expected the factory to throw');
}

describe('kafkaExporterModule', () => {
  it.each(['kafkajs', 'platformatic'])('binds an ExporterFactory of type "kafka" that builds a KafkaExporter (client %s) without connecting', async (client) => {
    const exporter = buildExporter(kafkaFactory(),
      {
        ...valid,
        client,
        clientId: 'svc',
        gzip: false,
        ssl: { rejectUnauthorized: true },
        sasl: { mechanism: 'scram-sha-512', username: 'u', password: 'p' },
        retryAuthFailures: false,
      },
      context,
    );
    expect(exporter).toBeInstanceOf(KafkaExporter);
    expect(exporter.name).toBe('kafka');
    await exporter.shutdown?.();
  });

  it("names the exporter after the config entry and reports to the context's logger", async () => {
    const lines: string[] = [];
    const logger: Logger = { warn: (message) => lines.push(message), error: (message) => lines.push(message) };
    const exporter = buildExporter(kafkaFactory(),
      { brokers: [`127.0.0.1:${await closedPort()}`], topic: 't', client: 'kafkajs' },
      { ...context, name: 'audit-kafka', logger },
    );
    expect(exporter.name).toBe('audit-kafka');
    const result = await exporter.export({ size: 1, events: [{ name: 'e', id: 'id-1', timestamp: 1 }], encoded: ['{}'], bytes: 2 }, new AbortController().signal);
    await exporter.shutdown?.();
    expect(result).toMatchObject({ code: 'retry' });
    expect(lines.some((line) => line.startsWith('kafkajs'))).toBe(true);
  });

  it.each([
    ['brokers missing', { topic: 't' }, 'brokers: is required'],
    ['brokers empty', { ...valid, brokers: [] }, 'brokers: must have at least 1 item'],
    ['a broker not a string', { ...valid, brokers: ['a:1', 9092] }, 'brokers[1]: must be a string'],
    ['topic missing', { brokers: valid.brokers }, 'topic: is required'],
    ['topic not a string', { ...valid, topic: 42 }, 'topic: must be a string'],
    ['client unknown', { ...valid, client: 'librdkafka' }, 'client: must be one of "kafkajs", "platformatic"'],
    ['timeout not positive', { ...valid, requestTimeoutMs: 0 }, 'requestTimeoutMs: must be > 0'],
    ['retryAuthFailures not a boolean', { ...valid, retryAuthFailures: 'yes' }, 'retryAuthFailures: must be true or false'],
    ['unknown option', { ...valid, acks: 1 }, 'acks: unknown key'],
    ['ssl neither a boolean nor an object', { ...valid, ssl: 'on' }, 'ssl: must be true, false or an object of TLS options'],
    ['unknown TLS option', { ...valid, ssl: { ciphers: 'x' } }, 'ssl.ciphers: unknown key'],
    ['a TLS key that does not read', { ...valid, ssl: { key: '-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----' } }, 'ssl: Node cannot use these TLS options (ERR_OSSL_'],
    ["one of Kafka's internal topics", { ...valid, topic: '__consumer_offsets' }, 'topic: must be a Kafka topic name'],
    ['SASL mechanism unknown', { ...valid, sasl: { mechanism: 'gssapi', username: 'u', password: 'p' } }, 'sasl.mechanism: must be one of'],
    ['SASL password missing', { ...valid, sasl: { mechanism: 'plain', username: 'u' } }, 'sasl.password: is required'],
    ['a broker without a port', { ...valid, brokers: ['kafka-1:9092', 'kafka-2'] }, 'brokers[1]: must be "host:port"'],
    ['a topic name Kafka refuses', { ...valid, topic: 'flag/evaluations' }, 'topic: must be a Kafka topic name'],
    ['a timeout longer than a timer can wait', { ...valid, connectionTimeoutMs: 2 ** 31 }, 'connectionTimeoutMs: must be at most 2147483647'],
  ])('throws TRACKPIPE_ERR_CONFIG_INVALID naming the path of the field: %s', (_label, options, problem) => {
    const error = failure(options);
    expect(error.code).toBe('TRACKPIPE_ERR_CONFIG_INVALID');
    expect(error.message).toContain(`${context.path}.${problem}`);
    expect(issuesOf(error).map((i) => `${i.path}: ${i.message}`).join('\n')).toContain(`${context.path}.${problem}`);
  });

  it('names every bad field at once', () => {
    const error = failure({ brokers: [''], topic: '', gzip: 1 });
    expect(issuesOf(error).map((i) => i.path).sort()).toEqual([`${context.path}.brokers[0]`, `${context.path}.gzip`, `${context.path}.topic`]);
  });

  it('never echoes a value, not even a bad SASL password', () => {
    const secret = 'hunter2-not-a-string';
    const error = failure({ ...valid, sasl: { mechanism: 'plain', username: secret, password: [secret] } });
    expect(error.message).toContain(`${context.path}.sasl.password`);
    expect(error.message).not.toContain(secret);
    expect(JSON.stringify(error.details)).not.toContain(secret);
  });
});
