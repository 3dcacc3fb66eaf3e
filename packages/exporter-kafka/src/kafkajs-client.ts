import { type Socket, connect as connectTcp, isIP } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { type Logger, redact } from '@trackpipe/core';
import kafkajs, {
  type Admin,
  type ISocketFactory,
  type KafkaConfig,
  type LogEntry,
  type Message,
  type Producer,
  type SASLOptions,
  type logCreator,
} from 'kafkajs';
import { type KafkaClientOptions, isCompactPolicy, kafkaSecrets } from './client-options.js';
import { classifyKafkaJsError } from './kafkajs-classify.js';
import type { KafkaClient, KafkaFailureKind, KafkaTopicInfo, KafkaTopicRecords, ProducerSeam } from './seam.js';

const { CompressionTypes, ConfigResourceTypes, Kafka, Partitioners, logLevel } = kafkajs;

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
  readonly #config: KafkaConfig;
  readonly #compression: number;
  readonly #timeout: number;

  constructor(options: KafkaJsClientOptions) {
    this.#compression = options.gzip === false ? CompressionTypes.None : CompressionTypes.GZIP;
    this.#timeout = options.requestTimeoutMs ?? 30_000;
    this.#config = {
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
    };
  }

  producer(): ProducerSeam {
    // A client of its own per session, whose sockets the session's disconnect can close (see SessionSockets).
    const sockets = new SessionSockets();
    const kafka = new Kafka({ ...this.#config, socketFactory: sockets.factory });
    // The admin client that describes topics: its error answers (a missing topic) are the exporter's to tell.
    const admin = (): Admin => new Kafka({ ...this.#config, socketFactory: sockets.factory, logLevel: logLevel.NOTHING, logCreator: () => () => undefined }).admin();
    return new KafkaJsProducer(
      admin,
      kafka.producer({
        idempotent: true,
        maxInFlightRequests: 1,
        // kafkajs refuses an idempotent producer without retries; one quick retry, the rest is ours.
        retry: { retries: 1, initialRetryTime: 100, maxRetryTime: 1_000 },
        allowAutoTopicCreation: true,
        createPartitioner: Partitioners.DefaultPartitioner,
      }),
      this.#compression,
      this.#timeout,
      sockets,
    );
  }

  classify(error: unknown): KafkaFailureKind {
    return classifyKafkaJsError(error);
  }
}

/** Why the exporter closed a session's socket; kafkajs's own line about it is not passed on. */
const CLOSED_BY_US = 'the producer session was disconnected';

/**
 * The sockets of one producer session. kafkajs's disconnect waits for the requests in flight to be
 * answered or to time out (`requestTimeoutMs`) before it closes a connection, so a broker that stopped
 * answering would hold a disconnect (and with it the next session, and shutdown) that long. The
 * session's disconnect closes them at once instead: what is in flight fails, and kafkajs lets go.
 * The factory is kafkajs's own (TLS with the broker's host as server name unless `servername` says
 * otherwise, keep-alive after 60 s), plus the bookkeeping.
 */
class SessionSockets {
  readonly #open = new Set<Socket>();
  #closed = false;

  readonly factory: ISocketFactory = ({ host, port, ssl, onConnect }) => {
    const socket = ssl ? connectTls({ host, port, ...(isIP(host) === 0 ? { servername: host } : {}), ...ssl }, onConnect) : connectTcp({ host, port }, onConnect);
    socket.setKeepAlive(true, 60_000);
    if (this.#closed) {
      socket.destroy(new Error(CLOSED_BY_US));
      return socket;
    }
    this.#open.add(socket);
    socket.once('close', () => this.#open.delete(socket));
    return socket;
  };

  /** Closes every socket of the session (the requests on them fail), and any it opens later at once. */
  close(): void {
    this.#closed = true;
    for (const socket of this.#open) socket.destroy(new Error(CLOSED_BY_US));
  }
}

class KafkaJsProducer implements ProducerSeam {
  /** The session's admin client, connected on the first describeTopics. */
  #admin: Promise<Admin> | undefined;

  constructor(
    readonly admin: () => Admin,
    readonly producer: Producer,
    readonly compression: number,
    readonly timeout: number,
    readonly sockets: SessionSockets,
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

  /** Each topic's `cleanup.policy`, with a DescribeConfigs request of its own (one error answers for one topic). */
  async describeTopics(topics: readonly string[]): Promise<ReadonlyMap<string, KafkaTopicInfo>> {
    this.#admin ??= (async () => {
      const admin = this.admin();
      await admin.connect();
      return admin;
    })();
    const admin = await this.#admin;
    const infos = new Map<string, KafkaTopicInfo>();
    await Promise.all(
      topics.map(async (name) => {
        try {
          const { resources } = await admin.describeConfigs({
            includeSynonyms: false,
            resources: [{ type: ConfigResourceTypes.TOPIC, name, configNames: ['cleanup.policy'] }],
          });
          const policy = resources[0]?.configEntries.find((entry) => entry.configName === 'cleanup.policy')?.configValue;
          if (typeof policy === 'string') infos.set(name, { exists: true, compacted: isCompactPolicy(policy) });
        } catch (error) {
          // kafkajs throws the first resource error (after its retries, wrapped): a missing topic, or another answer.
          if (hasErrorType(error, 'UNKNOWN_TOPIC_OR_PARTITION')) infos.set(name, { exists: false, compacted: false });
        }
      }),
    );
    return infos;
  }

  disconnect(): Promise<void> {
    const leaving = Promise.all([
      this.producer.disconnect(),
      this.#admin?.then(
        (admin) => admin.disconnect(),
        () => undefined,
      ),
    ]).then(() => undefined);
    this.sockets.close();
    return leaving;
  }
}

/** True when `error` or an error it wraps (`cause`, kafkajs's retries) is a broker error of that type. */
function hasErrorType(error: unknown, type: string): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && typeof current === 'object' && current !== null; depth++) {
    if ((current as { type?: unknown }).type === type) return true;
    const cause: unknown = (current as { cause?: unknown }).cause;
    current = cause === current ? undefined : cause;
  }
  return false;
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
    if (message === IGNORED || message.includes(CLOSED_BY_US)) return;
    const fields: Record<string, unknown> = {};
    for (const field of FIELDS) {
      const value: unknown = entry.log[field];
      if (typeof value === 'number') fields[field] = value;
      else if (typeof value === 'string') fields[field] = redact(value, secrets);
    }
    logger.warn(`kafkajs ${entry.namespace ? `[${entry.namespace}] ` : ''}${redact(message, secrets)}`, fields);
  };
}
