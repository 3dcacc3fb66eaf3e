import { type Logger, redact } from '@trackpipe/core';
import kafkajs, { type LogEntry, type Message, type Producer, type SASLOptions, type logCreator } from 'kafkajs';
import { type KafkaClientOptions, kafkaSecrets } from './client-options.js';
import { classifyKafkaJsError } from './kafkajs-classify.js';
import type { KafkaClient, KafkaFailureKind, KafkaTopicRecords, ProducerSeam } from './seam.js';

const { CompressionTypes, Kafka, Partitioners, logLevel } = kafkajs;

/**
 * Options of a {@link KafkaJsClient}: those of every built-in client, with kafkajs's own SASL options
 * (plain, scram-sha-256/512, oauthbearer, aws). Never logged.
 */
export interface KafkaJsClientOptions extends Omit<KafkaClientOptions, 'sasl'> {
  /** SASL authentication as kafkajs takes it. Never logged. Default: none. */
  sasl?: SASLOptions;
}

/**
 * kafkajs behind the {@link KafkaClient} seam. Each producer session is an idempotent kafkajs
 * producer with `acks: -1` (all in-sync replicas), one request in flight per broker, gzip, and
 * kafkajs's own retries cut to the one retry an idempotent producer requires: the processor owns retry.
 */
export class KafkaJsClient implements KafkaClient {
  readonly #kafka: InstanceType<typeof Kafka>;
  readonly #compression: number;
  readonly #timeout: number;

  constructor(options: KafkaJsClientOptions) {
    this.#compression = options.gzip === false ? CompressionTypes.None : CompressionTypes.GZIP;
    this.#timeout = options.requestTimeoutMs ?? 30_000;
    this.#kafka = new Kafka({
      brokers: [...options.brokers],
      clientId: options.clientId ?? 'trackpipe',
      ssl: options.ssl,
      sasl: options.sasl,
      connectionTimeout: options.connectionTimeoutMs ?? 3_000,
      requestTimeout: this.#timeout,
      // Connecting is retried by the processor, like sending.
      retry: { retries: 0 },
      logLevel: logLevel.WARN,
      logCreator: kafkaJsLogCreator(options.logger, kafkaSecrets(options)),
    });
  }

  producer(): ProducerSeam {
    return new KafkaJsProducer(
      this.#kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        // kafkajs refuses an idempotent producer without retries; one quick retry, the rest is ours.
        retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 1_000 },
        allowAutoTopicCreation: true,
        createPartitioner: Partitioners.DefaultPartitioner,
      }),
      this.#compression,
      this.#timeout,
    );
  }

  classify(error: unknown): KafkaFailureKind {
    return classifyKafkaJsError(error);
  }
}

class KafkaJsProducer implements ProducerSeam {
  constructor(
    readonly producer: Producer,
    readonly compression: number,
    readonly timeout: number,
  ) {}

  connect(): Promise<void> {
    return this.producer.connect();
  }

  async send(records: readonly KafkaTopicRecords[]): Promise<void> {
    await this.producer.sendBatch({
      acks: -1,
      timeout: this.timeout,
      compression: this.compression,
      topicMessages: records.map(({ topic, records }) => ({ topic, messages: records as Message[] })),
    });
  }

  disconnect(): Promise<void> {
    return this.producer.disconnect();
  }
}

// kafkajs warns about this on every producer we create; the limit is deliberate (see producer()).
const IGNORED = 'Limiting retries for the idempotent producer may invalidate EoS guarantees';
// Fields of kafkajs log entries worth passing on. Others (stack, request payloads, ...) are dropped.
const FIELDS = ['broker', 'topic', 'retryCount', 'retryTime', 'error'] as const;

/**
 * A kafkajs `logCreator` that passes errors and warnings on to `logger` as warnings: a few known fields
 * only (no stacks, no payloads), every `secrets` string masked. Debug and info entries are dropped.
 * Internal; exported for tests.
 */
export function kafkaJsLogCreator(logger: Logger | undefined, secrets: readonly string[]): logCreator {
  return () => (entry: LogEntry) => {
    // KAFKAJS_LOG_LEVEL can raise kafkajs's level above ours; debug entries describe connections in detail.
    if (logger === undefined || entry.level > logLevel.WARN || entry.level === logLevel.NOTHING) return;
    const message = String(entry.log.message);
    if (message === IGNORED) return;
    const fields: Record<string, unknown> = {};
    for (const field of FIELDS) {
      const value: unknown = entry.log[field];
      if (typeof value === 'number') fields[field] = value;
      else if (typeof value === 'string') fields[field] = redact(value, secrets);
    }
    logger.warn(`kafkajs ${entry.namespace ? `[${entry.namespace}] ` : ''}${redact(message, secrets)}`, fields);
  };
}
