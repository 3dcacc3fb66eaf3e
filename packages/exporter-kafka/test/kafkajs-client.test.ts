import kafkajs, { type LogEntry } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import type { Logger } from '@trackpipe/core';
import { KafkaJsClient, kafkaSecrets } from '@trackpipe/exporter-kafka';
import { kafkaJsLogCreator } from '../src/kafkajs-client.js';
import { closedPort, connectError } from './helpers/closed-port.js';
import { silentBroker } from './helpers/silent-broker.js';

const { logLevel } = kafkajs;
const PASSWORD = 'hunter2-very-secret';

function capture(): Logger & { lines: { level: string; message: string; fields: unknown }[] } {
  const lines: { level: string; message: string; fields: unknown }[] = [];
  return {
    lines,
    warn: (message, fields) => lines.push({ level: 'warn', message, fields }),
    error: (message, fields) => lines.push({ level: 'error', message, fields }),
  };
}

function entry(level: number, message: string, extra: Record<string, unknown> = {}): LogEntry {
  return { namespace: 'Connection', level, label: 'X', log: { timestamp: '2026-01-01T00:00:00.000Z', message, ...extra } };
}

describe('kafkajs logging', () => {
  it('passes errors and warnings on as warnings, with known fields only and secrets masked', () => {
    const logger = capture();
    const log = kafkaJsLogCreator(logger, [PASSWORD])(logLevel.WARN);
    log(entry(logLevel.ERROR, `auth failed for password ${PASSWORD}`, { broker: '127.0.0.1:9092', stack: 'at x (y.js:1)', error: `bad ${PASSWORD}` }));
    log(entry(logLevel.WARN, 'metadata is stale', { retryCount: 2, sasl: { password: PASSWORD } }));
    expect(logger.lines).toEqual([
      {
        level: 'warn',
        message: 'kafkajs [Connection] auth failed for password [REDACTED]',
        fields: { broker: '127.0.0.1:9092', error: 'bad [REDACTED]' },
      },
      { level: 'warn', message: 'kafkajs [Connection] metadata is stale', fields: { retryCount: 2 } },
    ]);
  });

  it('drops info and debug entries (even when KAFKAJS_LOG_LEVEL raises kafkajs level) and the idempotent-retries warning', () => {
    const logger = capture();
    const log = kafkaJsLogCreator(logger, [])(logLevel.DEBUG);
    log(entry(logLevel.INFO, 'Starting'));
    log(entry(logLevel.DEBUG, 'Request Produce', { payload: 'x' }));
    log(entry(logLevel.WARN, 'Limiting retries for the idempotent producer may invalidate EoS guarantees'));
    expect(logger.lines).toEqual([]);
  });

  it('treats the SASL password and the TLS key (text or Buffer) and passphrase as secrets', () => {
    expect(
      kafkaSecrets({
        sasl: { mechanism: 'plain', username: 'svc', password: PASSWORD },
        ssl: { key: Buffer.from('PRIVATE-KEY-PEM'), passphrase: 'key-passphrase', ca: 'public-ca' },
      }).sort(),
    ).toEqual([PASSWORD, 'PRIVATE-KEY-PEM', 'key-passphrase'].sort());
  });

  it("treats every form of Node's TLS key and pfx as secret: lists, and { pem | buf, passphrase } objects", () => {
    expect(
      kafkaSecrets({
        ssl: {
          key: ['KEY-ONE-TEXT', Buffer.from('KEY-TWO-BUFFER'), { pem: 'KEY-THREE-PEM', passphrase: 'three-passphrase' }, { pem: Buffer.from('KEY-FOUR-PEM') }],
          pfx: [{ buf: Buffer.from('PFX-BUFFER'), passphrase: 'pfx-passphrase' }],
          cert: 'PUBLIC-CERT',
        },
      }).sort(),
    ).toEqual(['KEY-ONE-TEXT', 'KEY-TWO-BUFFER', 'KEY-THREE-PEM', 'three-passphrase', 'KEY-FOUR-PEM', 'PFX-BUFFER', 'pfx-passphrase'].sort());
  });
});

describe('KafkaJsClient', () => {
  it('fails to connect to a closed port with an error it classifies as retry, logging only warnings without the password', async () => {
    const logger = capture();
    const client = new KafkaJsClient({
      brokers: [`127.0.0.1:${await closedPort()}`],
      sasl: { mechanism: 'plain', username: 'svc', password: PASSWORD },
      logger,
    });
    const error = await connectError(client);
    expect(error).toBeInstanceOf(Error);
    expect(client.classify(error)).toBe('retry');
    expect(logger.lines.length).toBeGreaterThan(0);
    expect(logger.lines.every((line) => line.level === 'warn')).toBe(true);
    expect(JSON.stringify(logger.lines)).not.toContain(PASSWORD);
  });

  it('speaks TLS when told, naming the broker host (SNI) unless servername says otherwise, and lets go of the connection when disconnected while connecting', { timeout: 20_000 }, async () => {
    const broker = await silentBroker();
    try {
      const port = broker.address.split(':')[1]!;
      const hellos: Buffer[] = [];
      for (const [host, ssl] of [
        ['localhost', true],
        ['localhost', { servername: 'kafka.example.test' }],
      ] as const) {
        const producer = new KafkaJsClient({ brokers: [`${host}:${port}`], ssl, requestTimeoutMs: 60_000, connectionTimeoutMs: 60_000 }).producer();
        const connecting = producer.connect().catch((e: unknown) => e);
        while ((broker.received[hellos.length]?.length ?? 0) === 0) await new Promise((resolve) => setTimeout(resolve, 10));
        await new Promise((resolve) => setTimeout(resolve, 20));
        hellos.push(Buffer.concat(broker.received[hellos.length]!));
        await producer.disconnect();
        expect(await connecting).toBeInstanceOf(Error);
      }
      // A TLS handshake record (0x16) carrying the server name.
      expect(hellos.map((h) => [h[0], h.includes('localhost'), h.includes('kafka.example.test')])).toEqual([
        [0x16, true, false],
        [0x16, false, true],
      ]);
      for (let i = 0; i < 25 && broker.open() > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(broker.open()).toBe(0);
    } finally {
      await broker.close();
    }
  });
});
