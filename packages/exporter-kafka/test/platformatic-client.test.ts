import { describe, expect, it } from 'vitest';
import { PlatformaticKafkaClient, type PlatformaticKafkaClientOptions } from '@trackpipe/exporter-kafka';
import { closedPort, connectError } from './helpers/closed-port.js';
import { silentBroker } from './helpers/silent-broker.js';

const PASSWORD = 'hunter2-very-secret';

describe('PlatformaticKafkaClient', () => {
  it.each<[string, Partial<PlatformaticKafkaClientOptions>]>([
    ['plaintext with SASL/SCRAM', { sasl: { mechanism: 'scram-sha-512', username: 'svc', password: PASSWORD } }],
    ['TLS with SASL/PLAIN and gzip off', { ssl: { rejectUnauthorized: true }, gzip: false, sasl: { mechanism: 'plain', username: 'svc', password: PASSWORD } }],
    ['TLS with Node defaults', { ssl: true, clientId: 'svc-1', connectionTimeoutMs: 500, requestTimeoutMs: 1_000 }],
  ])('maps %s to options the library accepts, and fails to connect to a closed port with a retry', { timeout: 20_000 }, async (_label, options) => {
    const client = new PlatformaticKafkaClient({ brokers: [`127.0.0.1:${await closedPort()}`], ...options });
    const error = await connectError(client);
    expect(error).toBeInstanceOf(Error);
    // A refused option would be a UserError, classified reject.
    expect(client.classify(error)).toBe('retry');
    expect(JSON.stringify(error)).not.toContain(PASSWORD);
  });

  it('refuses to send before connecting, with an error', async () => {
    const producer = new PlatformaticKafkaClient({ brokers: ['127.0.0.1:9'] }).producer();
    await expect(producer.send([{ topic: 't', records: [{ key: null, value: '{}', headers: {} }] }])).rejects.toThrow('not connected');
    await producer.disconnect();
  });

  it('disconnected while connecting (the library still loading), never connects afterwards: connect() rejects, no connection is left open', { timeout: 20_000 }, async () => {
    const broker = await silentBroker();
    try {
      const producer = new PlatformaticKafkaClient({ brokers: [broker.address], connectionTimeoutMs: 10_000, requestTimeoutMs: 10_000 }).producer();
      const connecting = producer.connect().then(
        () => 'connected',
        (e: unknown) => e,
      );
      await producer.disconnect();
      expect(await connecting).toBeInstanceOf(Error);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(broker.open()).toBe(0);
    } finally {
      await broker.close();
    }
  });
});
