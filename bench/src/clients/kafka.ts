import { BatchProcessor, type FlagEvaluationEvent, type Recorded, silentLogger } from '@trackpipe/core';
import { DEFAULT_KAFKA_CLIENT, KafkaExporter, type KafkaClientName } from '@trackpipe/exporter-kafka';
import kafkajs, { type Message, type Producer } from 'kafkajs';
import { withDeadline } from '../workload.js';
import type { BenchClient, ClientSettings, ShutdownOutcome } from './types.js';

const { CompressionTypes, Kafka, logLevel } = kafkajs;

/** Name of the event sent once before `go` to warm connections and metadata (to its own topic). */
export const WARMUP_EVENT = 'bench.warmup';

/** The headers Trackpipe's Kafka exporter puts on each record; the raw producer sends the same. */
function headersOf(event: FlagEvaluationEvent): Record<string, string> {
  return { 'event-name': event.name, 'content-type': 'application/json', 'schema-version': '1' };
}

function kafkaOf(settings: ClientSettings): { brokers: string; topic: string } {
  if (settings.kafka === undefined) throw new Error('the Kafka clients need settings.kafka');
  return settings.kafka;
}

/**
 * The Kafka floor: a plain kafkajs producer (its defaults) that collects `batchSize` events, then sends
 * them as one `send` (acks all, gzip) with the same key, value and headers Trackpipe's exporter would
 * write, without waiting for the previous send. No retry of its own, no bound.
 */
export class RawKafkaClient implements BenchClient {
  readonly name = 'kafkajs-raw';
  readonly #producer: Producer;
  readonly #topic: string;
  readonly #batchSize: number;
  #batch: Message[] = [];
  readonly #inFlight = new Set<Promise<void>>();
  #failed = 0;

  private constructor(producer: Producer, topic: string, batchSize: number) {
    this.#producer = producer;
    this.#topic = topic;
    this.#batchSize = batchSize;
  }

  /** Connects and sends one warm-up record to `<topic>-warmup`. */
  static async create(settings: ClientSettings): Promise<RawKafkaClient> {
    const { brokers, topic } = kafkaOf(settings);
    const kafka = new Kafka({ clientId: 'bench-raw', brokers: [brokers], logLevel: logLevel.NOTHING });
    const producer = kafka.producer({ allowAutoTopicCreation: true });
    await producer.connect();
    await producer.send({ topic: `${topic}-warmup`, acks: -1, compression: CompressionTypes.GZIP, messages: [{ key: 'warmup', value: '{}' }] });
    return new RawKafkaClient(producer, topic, settings.batchSize);
  }

  prepare(event: FlagEvaluationEvent): unknown {
    return event;
  }

  record(input: unknown): void {
    const event = input as FlagEvaluationEvent;
    event.timestamp = Date.now();
    this.#batch.push({ key: event.targetingKey ?? null, value: JSON.stringify(event), headers: headersOf(event) });
    if (this.#batch.length >= this.#batchSize) this.#send();
  }

  #send(): void {
    const messages = this.#batch;
    this.#batch = [];
    const sent = this.#producer
      .send({ topic: this.#topic, acks: -1, compression: CompressionTypes.GZIP, messages })
      .then(
        () => undefined,
        () => {
          this.#failed += messages.length;
        },
      )
      .finally(() => this.#inFlight.delete(sent));
    this.#inFlight.add(sent);
  }

  async shutdown(deadlineMs: number): Promise<ShutdownOutcome> {
    if (this.#batch.length > 0) this.#send();
    const outcome = await withDeadline(Promise.all([...this.#inFlight]), deadlineMs);
    await this.#producer.disconnect().catch(() => undefined);
    return { ...outcome, reportedDrops: this.#failed };
  }

  reportedDrops(): number {
    return this.#failed;
  }
}

/** Options of a {@link TrackpipeKafkaClient} run. */
export interface TrackpipeKafkaVariant {
  /** The Kafka library behind the exporter. Default: the exporter's default. */
  readonly client?: KafkaClientName;
  /** The processor's `maxConcurrentExports` (an experiment). Default: the processor's. */
  readonly concurrency?: number;
}

/**
 * Trackpipe: core `BatchProcessor` (batch size and queue for the scenario, defaults otherwise) +
 * `KafkaExporter` (its defaults: acks all, gzip, idempotent, one sequential send path), with the
 * Kafka library the variant names (kafkajs or @platformatic/kafka).
 */
export class TrackpipeKafkaClient implements BenchClient {
  readonly name: string;
  readonly processor: BatchProcessor<FlagEvaluationEvent>;

  private constructor(name: string, processor: BatchProcessor<FlagEvaluationEvent>) {
    this.name = name;
    this.processor = processor;
  }

  /** Builds the pipeline and exports one warm-up event to `<topic>-warmup` (connects, fetches metadata). */
  static async create(name: string, settings: ClientSettings, variant: TrackpipeKafkaVariant = {}): Promise<TrackpipeKafkaClient> {
    const { brokers, topic } = kafkaOf(settings);
    const exporter = new KafkaExporter<Recorded<FlagEvaluationEvent>>({
      brokers: [brokers],
      topic: (event) => (event.name === (WARMUP_EVENT as string) ? `${topic}-warmup` : topic),
      clientId: 'bench-trackpipe',
      client: variant.client ?? DEFAULT_KAFKA_CLIENT,
      logger: silentLogger,
    });
    const processor = new BatchProcessor<FlagEvaluationEvent>(exporter, {
      name: 'bench-kafka',
      ...(variant.concurrency === undefined ? {} : { maxConcurrentExports: variant.concurrency }),
      maxBatchSize: settings.batchSize,
      maxQueueSize: settings.queueSize,
      logger: silentLogger,
    });
    processor.record({ name: WARMUP_EVENT as FlagEvaluationEvent['name'], flagKey: 'warmup', value: true });
    const report = await processor.flush({ timeoutMs: 30_000 });
    if (report.exported !== 1) throw new Error('the warm-up event did not reach Kafka');
    return new TrackpipeKafkaClient(name, processor);
  }

  prepare(event: FlagEvaluationEvent): unknown {
    return event;
  }

  record(input: unknown): void {
    this.processor.record(input as FlagEvaluationEvent);
  }

  async shutdown(deadlineMs: number): Promise<ShutdownOutcome> {
    const outcome = await withDeadline(this.processor.close({ timeoutMs: deadlineMs }), deadlineMs + 1_000);
    return { ...outcome, reportedDrops: this.processor.stats().dropped };
  }

  reportedDrops(): number {
    return this.processor.stats().dropped;
  }
}
