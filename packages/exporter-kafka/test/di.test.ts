import { Container } from 'inversify';
import { describe, expect, it } from 'vitest';
import { type ExporterContext, type ExporterFactory, TOKENS, TrackpipeError, silentLogger } from '@trackpipe/core';
import { KafkaExporter } from '@trackpipe/exporter-kafka';
import { kafkaExporterModule } from '@trackpipe/exporter-kafka/di';

const context: ExporterContext = { path: 'pipelines[0].exporters[2]', pipeline: 'flags', logger: silentLogger };
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
    kafkaFactory().create(options, context);
  } catch (error) {
    expect(error).toBeInstanceOf(TrackpipeError);
    return error as TrackpipeError;
  }
  throw new Error('expected the factory to throw');
}

describe('kafkaExporterModule', () => {
  it('binds an ExporterFactory of type "kafka" that builds a KafkaExporter without connecting', async () => {
    const exporter = kafkaFactory().create(
      { ...valid, clientId: 'svc', gzip: false, ssl: { rejectUnauthorized: true }, sasl: { mechanism: 'scram-sha-512', username: 'u', password: 'p' } },
      context,
    );
    expect(exporter).toBeInstanceOf(KafkaExporter);
    expect(exporter.name).toBe('kafka');
    await exporter.shutdown?.();
  });

  it.each([
    ['brokers missing', { topic: 't' }, 'brokers'],
    ['brokers empty', { ...valid, brokers: [] }, 'brokers'],
    ['brokers not strings', { ...valid, brokers: [9092] }, 'brokers'],
    ['topic missing', { brokers: valid.brokers }, 'topic'],
    ['topic not a string', { ...valid, topic: 42 }, 'topic'],
    ['timeout not positive', { ...valid, requestTimeoutMs: 0 }, 'requestTimeoutMs'],
    ['unknown option', { ...valid, acks: 1 }, 'acks'],
    ['unknown TLS option', { ...valid, ssl: { ciphers: 'x' } }, 'ssl.ciphers'],
    ['SASL mechanism unknown', { ...valid, sasl: { mechanism: 'gssapi', username: 'u', password: 'p' } }, 'sasl.mechanism'],
  ])('throws TRACKPIPE_ERR_CONFIG_INVALID naming the field: %s', (_label, options, field) => {
    const error = failure(options);
    expect(error.code).toBe('TRACKPIPE_ERR_CONFIG_INVALID');
    expect(error.message).toContain(`${context.path}.${field} `);
  });

  it('never echoes a value, not even a bad SASL password', () => {
    const secret = 'hunter2-not-a-string';
    const error = failure({ ...valid, sasl: { mechanism: 'plain', username: secret, password: [secret] } });
    expect(error.message).toContain(`${context.path}.sasl.password`);
    expect(error.message).not.toContain(secret);
    expect(JSON.stringify(error.details)).not.toContain(secret);
  });
});
