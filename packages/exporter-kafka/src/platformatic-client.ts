import type * as Platformatic from '@platformatic/kafka';
import type { Admin, BaseOptions, Producer, ProducerOptions } from '@platformatic/kafka';
import { type KafkaClientOptions, isCompactPolicy } from './client-options.js';
import { classifyPlatformaticError, hasBrokerError } from './platformatic-classify.js';
import type { KafkaClient, KafkaFailureKind, KafkaTopicInfo, KafkaTopicRecords, ProducerSeam } from './seam.js';

/** Options of a {@link PlatformaticKafkaClient}. @platformatic/kafka has no logger of its own: `logger` is not used. */
export type PlatformaticKafkaClientOptions = KafkaClientOptions;

type Library = typeof Platformatic;
type StringProducer = Producer<string, string, string, string>;

const SASL_MECHANISMS = { plain: 'PLAIN', 'scram-sha-256': 'SCRAM-SHA-256', 'scram-sha-512': 'SCRAM-SHA-512' } as const;

// Importing @platformatic/kafka takes about a second (it compiles its option validators): load it on
// the first connect, and only when this client is used.
let library: Promise<Library> | undefined;
function load(): Promise<Library> {
  library ??= import('@platformatic/kafka');
  return library;
}

/**
 * @platformatic/kafka behind the {@link KafkaClient} seam. Each producer session is an idempotent
 * producer (acks all, one request in flight per broker), gzip-compressed unless `gzip: false`, with
 * the library's own retries cut to two quick ones (the processor owns retry), and Java's default
 * partitioner for keyed records (murmur2 of the key, as kafkajs and the Java client place them).
 */
export class PlatformaticKafkaClient implements KafkaClient {
  readonly #options: ProducerOptions<string, string, string, string>;

  constructor(options: PlatformaticKafkaClientOptions) {
    const { brokers, clientId, ssl, sasl, gzip, connectionTimeoutMs, requestTimeoutMs } = options;
    const timeout = requestTimeoutMs ?? 30_000;
    const tls = ssl === true ? {} : ssl === false ? undefined : ssl;
    this.#options = {
      clientId: clientId ?? 'trackpipe',
      bootstrapBrokers: [...brokers],
      idempotent: true,
      acks: -1,
      compression: gzip === false ? 'none' : 'gzip',
      connectTimeout: connectionTimeoutMs ?? 3_000,
      // `timeout` is what the broker may wait for the in-sync replicas; `requestTimeout` what we wait for it.
      timeout,
      requestTimeout: timeout,
      // 0 or 1 would mean "forever" for an idempotent producer; 2 quick retries, the rest is the processor's.
      retries: 2,
      retryDelay: 100,
      autocreateTopics: true,
      // Only an explicit server name: Node's TLS already sends the broker's host name (never an IP,
      // which Node 26 refuses as a server name) and checks the certificate against it.
      ...(tls === undefined ? {} : { tls, ...(typeof tls.servername === 'string' ? { tlsServerName: tls.servername } : {}) }),
      ...(sasl === undefined ? {} : { sasl: { mechanism: SASL_MECHANISMS[sasl.mechanism], username: sasl.username, password: sasl.password } }),
    };
  }

  producer(): ProducerSeam {
    return new PlatformaticProducer(this.#options);
  }

  classify(error: unknown): KafkaFailureKind {
    return classifyPlatformaticError(error);
  }
}

class PlatformaticProducer implements ProducerSeam {
  readonly #options: ProducerOptions<string, string, string, string>;
  #producer: StringProducer | undefined;
  /** The session's admin client, made on the first describeTopics. */
  #admin: Admin | undefined;
  #disconnected = false;

  constructor(options: ProducerOptions<string, string, string, string>) {
    this.#options = options;
  }

  /** Creates the producer, connects and authenticates, and obtains a producer id (InitProducerId). */
  async connect(): Promise<void> {
    const { Producer, compatibilityPartitioner, stringSerializers } = await load();
    // Disconnected while the library loaded: a producer made now would connect with no one to close it.
    if (this.#disconnected) throw new Error('the producer session was disconnected before it connected');
    let roundRobin = 0;
    this.#producer = new Producer<string, string, string, string>({
      ...this.#options,
      serializers: stringSerializers,
      // Keyed records: murmur2(key) & 0x7fffffff, like Java and kafkajs (the library's own default drops
      // the mask, so some keys would land elsewhere). Records without a key: round robin.
      partitioner: (message, key) => (key === undefined ? roundRobin++ : compatibilityPartitioner(message, key)),
    });
    await this.#producer.initIdempotentProducer({});
  }

  async send(records: readonly KafkaTopicRecords[]): Promise<void> {
    const producer = this.#producer;
    if (producer === undefined) throw new Error('the producer is not connected');
    const messages = [];
    for (const { topic, records: list } of records) {
      for (const { key, value, headers } of list) messages.push({ topic, key: key ?? undefined, value, headers });
    }
    await producer.send({ messages });
  }

  /**
   * Each topic's `cleanup.policy`, with a DescribeConfigs request of its own (one error answers for one
   * topic), through an admin client with the producer's connection options.
   */
  async describeTopics(topics: readonly string[]): Promise<ReadonlyMap<string, KafkaTopicInfo>> {
    const { Admin, ConfigResourceTypes } = await load();
    if (this.#disconnected) throw new Error('the producer session was disconnected');
    if (this.#admin === undefined) {
      const { clientId, bootstrapBrokers, connectTimeout, timeout, requestTimeout, retries, retryDelay, tls, tlsServerName, sasl } = this.#options;
      const options: BaseOptions = { clientId, bootstrapBrokers, connectTimeout, timeout, requestTimeout, retries, retryDelay, tls, tlsServerName, sasl };
      for (const key of Object.keys(options) as (keyof BaseOptions)[]) if (options[key] === undefined) delete options[key];
      this.#admin = new Admin(options);
    }
    const admin = this.#admin;
    const infos = new Map<string, KafkaTopicInfo>();
    await Promise.all(
      topics.map(async (name) => {
        try {
          const [result] = await admin.describeConfigs({
            resources: [{ resourceType: ConfigResourceTypes.TOPIC, resourceName: name, configurationKeys: ['cleanup.policy'] }],
          });
          const policy = result?.configs.find((config) => config.name === 'cleanup.policy')?.value;
          if (typeof policy === 'string') infos.set(name, { exists: true, compacted: isCompactPolicy(policy) });
        } catch (error) {
          if (hasBrokerError(error, 'UNKNOWN_TOPIC_OR_PARTITION')) infos.set(name, { exists: false, compacted: false });
        }
      }),
    );
    return infos;
  }

  async disconnect(): Promise<void> {
    this.#disconnected = true;
    // Closes their connections; requests in flight fail with a NetworkError.
    await Promise.all([this.#producer?.close(), this.#admin?.close()]);
  }
}
