// A broker that accepts connections and never answers: the export times out and is retried, close()
// keeps its deadline, and the exporter lets go of its connections at once instead of waiting for the
// client library's request timeout.
import { afterEach, describe, expect, it } from 'vitest';
import { BatchProcessor, type TelemetryEvent } from '@trackpipe/core';
import { KAFKA_CLIENTS, KafkaExporter } from '@trackpipe/exporter-kafka';
import { memoryLogger } from './helpers/kafka.js';
import { type SilentBroker, silentBroker } from './helpers/silent-broker.js';

const brokers: SilentBroker[] = [];
afterEach(async () => {
  for (const broker of brokers.splice(0)) await broker.close();
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe.each(KAFKA_CLIENTS)('KafkaExporter (client %s) and a broker that never answers', (client) => {
  it('times the export out and retries it; close() shuts the exporter down within its deadline and leaves no connection open', { timeout: 30_000 }, async () => {
    const broker = await silentBroker();
    brokers.push(broker);
    const logger = memoryLogger();
    // A request timeout far beyond the test: nothing may wait for it.
    const exporter = new KafkaExporter({ brokers: [broker.address], topic: 't', client, logger, requestTimeoutMs: 120_000 });
    const processor = new BatchProcessor<TelemetryEvent>(exporter, { logger, flushIntervalMs: 50, exportTimeoutMs: 500, retry: { initialBackoffMs: 50, maxBackoffMs: 100 } });
    processor.record({ name: 'e' });
    // Until the client reached the broker too: loading @platformatic/kafka (on the first connect) can take
    // longer than the first export's timeout on a busy machine.
    while (processor.stats().failedExports.timeout < 1 || processor.stats().retries < 1 || broker.sockets.length === 0) await sleep(20);
    expect(processor.stats()).toMatchObject({ recorded: 1, exported: 0, dropped: 0 });

    const report = await processor.close({ timeoutMs: 1_500 });
    expect(report).toMatchObject({ complete: false, dropped: 1, droppedByReason: { shutdown_timeout: 1 } });
    // The exporter shut down within close()'s deadline: it did not wait for the stalled request ...
    expect(logger.lines.filter((line) => line.includes('did not shut down'))).toEqual([]);
    // ... and every connection it opened was let go of (the server saw it end).
    for (let i = 0; i < 25 && broker.open() > 0; i++) await sleep(20);
    expect(broker.sockets.length).toBeGreaterThan(0);
    expect(broker.open()).toBe(0);
    // Closing its own sockets is not news to the application.
    expect(logger.lines.filter((line) => line.includes('disconnected'))).toEqual([]);
  });
});
