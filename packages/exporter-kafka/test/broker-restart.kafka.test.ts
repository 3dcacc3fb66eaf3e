// The broker goes down mid-stream (SIGKILL, or SIGTERM) and comes back with the same data on the same
// ports; nothing recorded may be lost. Each case starts a broker of its own, so that taking it down
// cannot disturb the other Kafka tests.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchProcessor, type FlagEvaluationEvent, type Recorded } from '@trackpipe/core';
import { KafkaExporter, type KafkaClientName } from '@trackpipe/exporter-kafka';
import { type KafkaBroker, removeBroker, startBroker, stopBroker } from '../../../tools/kafka/broker.js';
import { CLIENTS, balanced, consumeUntil, createTopic, evaluation, freshTopic, kafka, memoryLogger, tally, until } from './helpers/kafka.js';

const N = 20_000;
const CHUNK = 200;
const BURST = 2_000;

/**
 * Streams N events through a BatchProcessor into `broker`, takes the broker down once a fifth is
 * exported (SIGKILL when `kill`, else SIGTERM), records more while it is down, starts it again and
 * checks: every event exported and read back at least once, the accounting identity at every sample.
 * Duplicates are reported on the console.
 */
async function restartMidStream(broker: KafkaBroker, kill: boolean, client: KafkaClientName): Promise<void> {
  const how = kill ? 'SIGKILL' : 'SIGTERM';
  const { brokers, dir } = broker;
  const topic = freshTopic('restart');
  await createTopic(brokers, topic);
  const logger = memoryLogger();
  const exporter = new KafkaExporter<Recorded<FlagEvaluationEvent>>({ brokers: brokers.split(','), topic, logger, requestTimeoutMs: 10_000, client });
  const processor = new BatchProcessor(exporter, {
    logger,
    maxQueueSize: N,
    maxBatchSize: CHUNK,
    flushIntervalMs: 50,
    exportTimeoutMs: 15_000,
    retry: { initialBackoffMs: 200, maxBackoffMs: 2_000, maxElapsedMs: 120_000 },
  });
  const ids = new Set<string>();
  const unbalanced: string[] = [];
  const check = (): void => {
    const stats = processor.stats();
    if (!balanced(stats)) unbalanced.push(JSON.stringify(stats));
  };

  let n = 0;
  const record = (count: number): void => {
    for (const end = n + count; n < end; n++) {
      const event = evaluation(n);
      ids.add(event.id);
      processor.record(event);
    }
    check();
  };
  // Most events are recorded at a steady pace while the broker goes down and comes back ...
  const recording = (async () => {
    for (let paced = 0; paced < N - BURST; paced += CHUNK) {
      record(CHUNK);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();

  await until(() => processor.stats().exported >= N / 5, 'a fifth of the events is exported');
  const failuresBefore = processor.stats().failedExports;
  const stoppedAt = Date.now();
  await stopBroker(dir, { kill });
  // ... and some surely while it is down.
  record(BURST);
  await until(() => {
    check();
    const { retryable, timeout } = processor.stats().failedExports;
    return retryable + timeout > failuresBefore.retryable + failuresBefore.timeout;
  }, 'an export fails while the broker is down');
  const startedAgain = Date.now();
  await startBroker(dir);
  const readyAt = Date.now();
  await recording;

  const report = await processor.close({ timeoutMs: 90_000 });
  const deliveredAfterMs = Date.now() - startedAgain;
  const stats = processor.stats();
  check();
  if (stats.dropped > 0) console.log(logger.lines.filter((l) => l.startsWith('error')).join('\n'));
  expect(unbalanced).toEqual([]);
  expect(report).toMatchObject({ complete: true, dropped: 0 });
  expect(stats).toMatchObject({ recorded: N, exported: N, dropped: 0, queued: 0, inFlight: 0 });
  expect(stats.retries).toBeGreaterThan(0);

  const records = await consumeUntil(brokers, topic, ids);
  const { missing, duplicates, unexpected } = tally(records, ids);
  console.log(
    `restart (${client}, ${how}): ${records.length} records for ${N} events, ${duplicates} duplicates; ` +
      `${stats.retries} retries; broker down ${readyAt - stoppedAt} ms (stop to ready); all exported ${deliveredAfterMs} ms after the restart began`,
  );
  expect(missing).toEqual([]);
  expect(unexpected).toBe(0);
}

describe.runIf(kafka.cannotStartBrokers === null).each(
  CLIENTS.flatMap((client) => [
    [client, 'killed (SIGKILL)', true],
    [client, 'stopped (SIGTERM)', false],
  ] as const),
)('KafkaExporter (client %s) when the broker is %s mid-stream', (client, _, kill) => {
  let broker: KafkaBroker | undefined;

  beforeAll(async () => {
    broker = await startBroker();
  });

  afterAll(async () => {
    if (broker) await removeBroker(broker.dir);
  });

  it('delivers every event at least once after the broker is started again', { timeout: 120_000 }, async () => {
    await restartMidStream(broker!, kill, client);
  });
});
