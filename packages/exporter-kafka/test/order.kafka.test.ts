// Order per key, the way an application runs it: a BatchProcessor with its DEFAULT options (2 exports
// in flight, default retry) over the KafkaExporter, a 3-partition topic, 100 keys with a sequence
// number each, sends that fail on purpose (before writing, or after writing: a lost acknowledgement),
// and the broker killed mid-stream and started again. Read back, every key's events must be in
// sequence in offset order (the first copy of each: a retry may repeat records already written, after
// them) and every event must be there.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchProcessor, type FlagEvaluationEvent, type Recorded } from '@trackpipe/core';
import {
  type KafkaClient,
  type KafkaClientName,
  type KafkaFailureKind,
  KafkaExporter,
  KafkaJsClient,
  PlatformaticKafkaClient,
  type ProducerSeam,
} from '@trackpipe/exporter-kafka';
import { type KafkaBroker, removeBroker, startBroker, stopBroker } from '../../../tools/kafka/broker.js';
import { CLIENTS, type ConsumedRecord, balanced, consumeUntil, createTopic, freshTopic, kafka, memoryLogger, until } from './helpers/kafka.js';

const KEYS = 100;
const PER_KEY = 100;
const N = KEYS * PER_KEY; // = the default maxQueueSize: nothing may be dropped for want of room
const BURST = 250;

/** A failure injected by {@link FlakyClient}; classified `retry`. */
class InjectedFailure extends Error {}

/**
 * The real client, with some sends failing on purpose: every 7th before anything is sent, every 11th
 * after the cluster acknowledged it (the records are written, the exporter hears a failure).
 */
class FlakyClient implements KafkaClient {
  sends = 0;
  failedBefore = 0;
  failedAfter = 0;

  constructor(private readonly inner: KafkaClient) {}

  producer(): ProducerSeam {
    const producer = this.inner.producer();
    return {
      connect: () => producer.connect(),
      send: async (records) => {
        const n = ++this.sends;
        if (n % 7 === 3) {
          this.failedBefore++;
          throw new InjectedFailure('injected failure before sending');
        }
        await producer.send(records);
        if (n % 11 === 5) {
          this.failedAfter++;
          throw new InjectedFailure('injected failure after a successful send');
        }
      },
      disconnect: () => producer.disconnect(),
    };
  }

  classify(error: unknown): KafkaFailureKind {
    return error instanceof InjectedFailure ? 'retry' : this.inner.classify(error);
  }
}

type SequencedEvent = Recorded<FlagEvaluationEvent> & { attributes: { seq: number } };

function sequenced(key: number, seq: number): SequencedEvent {
  return {
    name: 'feature_flag.evaluation',
    id: randomUUID(),
    timestamp: Date.now(),
    flagKey: 'checkout',
    value: true,
    targetingKey: `user-${key}`,
    attributes: { seq },
  };
}

/** Per key, in offset order: the sequence numbers of the first copy of each event, and how often a later record repeated an earlier sequence number. */
function perKey(records: readonly ConsumedRecord[]): { firstCopies: Map<string, number[]>; regressions: number } {
  const ordered = [...records].sort((a, b) => a.partition - b.partition || (a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0));
  const firstCopies = new Map<string, number[]>();
  const last = new Map<string, number>();
  const seen = new Set<string>();
  let regressions = 0;
  for (const record of ordered) {
    const event = JSON.parse(record.value) as SequencedEvent;
    const key = record.key ?? '';
    const seq = event.attributes.seq;
    if (seq < (last.get(key) ?? -1)) regressions++;
    last.set(key, seq);
    if (seen.has(event.id)) continue;
    seen.add(event.id);
    const list = firstCopies.get(key) ?? [];
    list.push(seq);
    firstCopies.set(key, list);
  }
  return { firstCopies, regressions };
}

describe.runIf(kafka.cannotStartBrokers === null).each(CLIENTS)('KafkaExporter (client %s) order per key', (client: KafkaClientName) => {
  let broker: KafkaBroker | undefined;

  beforeAll(async () => {
    broker = await startBroker();
  });

  afterAll(async () => {
    if (broker) await removeBroker(broker.dir);
  });

  it(
    `keeps ${KEYS} keys in sequence on a 3-partition topic through injected failures and a broker crash, with the default processor`,
    { timeout: 300_000 },
    async () => {
      const { brokers, dir } = broker!;
      const topic = freshTopic('order');
      await createTopic(brokers, topic, { partitions: 3 });
      const logger = memoryLogger();
      const real = client === 'platformatic' ? new PlatformaticKafkaClient({ brokers: brokers.split(',') }) : new KafkaJsClient({ brokers: brokers.split(','), logger });
      const flaky = new FlakyClient(real);
      const exporter = new KafkaExporter<SequencedEvent>({ topic, client: flaky, logger });
      const processor = new BatchProcessor<SequencedEvent>(exporter, { logger }); // the defaults

      const ids = new Set<string>();
      let recorded = 0;
      const recording = (async () => {
        // Round robin over the keys, seq rising: each burst holds a few events of every key.
        for (let n = 0; n < N; n += BURST) {
          for (let i = n; i < Math.min(n + BURST, N); i++) {
            const event = sequenced(i % KEYS, Math.floor(i / KEYS));
            ids.add(event.id);
            processor.record(event);
            recorded++;
          }
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      })();

      await until(() => processor.stats().exported >= N / 4, 'a quarter of the events is exported', 120_000);
      const stoppedAt = Date.now();
      await stopBroker(dir, { kill: true });
      const recordedWhenKilled = recorded;
      await until(() => processor.stats().failedExports.retryable + processor.stats().failedExports.timeout > 0, 'an export fails');
      await startBroker(dir);
      const readyAt = Date.now();
      await recording;
      const report = await processor.close({ timeoutMs: 240_000 });
      const stats = processor.stats();

      const records = await consumeUntil(brokers, topic, ids, 90_000);
      const { firstCopies, regressions } = perKey(records);
      const outOfOrder = [...firstCopies].filter(([, seqs]) => seqs.some((seq, i) => i > 0 && seq <= seqs[i - 1]!)).map(([key]) => key);
      const incomplete = [...firstCopies].filter(([, seqs]) => seqs.length !== PER_KEY).map(([key]) => key);
      console.log(
        `order (${client}): ${records.length} records for ${N} events, ${records.length - new Set(records.map((r) => r.value)).size} duplicates, ` +
          `${regressions} records repeating an earlier sequence number (duplicates); ${outOfOrder.length} of ${firstCopies.size} keys out of order; ` +
          `${flaky.sends} sends, ${flaky.failedBefore} failed before and ${flaky.failedAfter} after writing on purpose; ${stats.retries} retries; ` +
          `killed after ${recordedWhenKilled} events recorded, down ${readyAt - stoppedAt} ms (kill to ready)`,
      );
      if (stats.dropped > 0) console.log(logger.lines.filter((line) => line.startsWith('error')).join('\n'));

      expect(report).toMatchObject({ complete: true, dropped: 0 });
      expect(stats).toMatchObject({ recorded: N, exported: N, dropped: 0 });
      expect(balanced(stats)).toBe(true);
      expect(flaky.failedBefore).toBeGreaterThan(0);
      expect(flaky.failedAfter).toBeGreaterThan(0);
      expect(firstCopies.size).toBe(KEYS);
      expect(incomplete).toEqual([]);
      expect(outOfOrder).toEqual([]);
    },
  );
});
