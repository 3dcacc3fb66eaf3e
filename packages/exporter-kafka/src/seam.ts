/** One Kafka record as the exporter hands it to the client. */
export interface KafkaRecord {
  /** Partitioning key; `null` lets the client spread records over partitions. */
  readonly key: string | null;
  /** The encoded event, exactly as the processor serialized it. */
  readonly value: string;
  readonly headers: Readonly<Record<string, string>>;
}

/** The records of one send that go to one topic. */
export interface KafkaTopicRecords {
  readonly topic: string;
  readonly records: readonly KafkaRecord[];
}

/**
 * One producer session of a {@link KafkaClient}: connected once, used for many sends, disconnected
 * once. The exporter sends one request at a time through a session (never two `send` calls at once),
 * and abandons a session after any failed send, opening a new one for the next.
 */
export interface ProducerSeam {
  /** Connects (and authenticates). Rejects when the cluster cannot be reached or refuses the client. */
  connect(): Promise<void>;
  /**
   * Sends the records, in order, and resolves once the cluster acknowledged all of them; rejects
   * otherwise. Must settle: at the latest when the request times out, or when `disconnect` is called.
   */
  send(records: readonly KafkaTopicRecords[]): Promise<void>;
  /**
   * Optional: what the cluster says of each topic (does it exist, is it compacted), asked over the
   * session's connections, at most once at a time and never while `send` runs. A topic the cluster
   * could not describe (no DescribeConfigs permission, an error) is left out of the map. The exporter
   * asks only about topics it sends records without a key to (a compacted topic refuses those), and
   * about topics of a failed request it never delivered to (a missing topic is reported once). Without
   * it, records are sent as they are.
   */
  describeTopics?(topics: readonly string[]): Promise<ReadonlyMap<string, KafkaTopicInfo>>;
  /** Closes the session's connections. Never called twice. */
  disconnect(): Promise<void>;
}

/** What the cluster says of one topic (see {@link ProducerSeam.describeTopics}). */
export interface KafkaTopicInfo {
  /** False when the cluster does not know the topic (UNKNOWN_TOPIC_OR_PARTITION). */
  readonly exists: boolean;
  /**
   * True when the topic's `cleanup.policy` includes `compact`: the broker then refuses a record batch
   * holding a record without a key (INVALID_RECORD), failing every record of it.
   */
  readonly compacted: boolean;
}

/**
 * What a failure of `connect` or `send` means for the batches being sent:
 * - `retry`: transient (connection loss, timeouts, leader changes);
 * - `auth`: the cluster refused the credentials or the permission (SASL authentication, topic or
 *   cluster authorization) — retried within the processor's budget unless `retryAuthFailures` is off;
 * - `too_large`: a record or record batch exceeds the broker's or topic's size limit;
 * - `reject`: anything else permanent, and every unknown error.
 */
export type KafkaFailureKind = 'retry' | 'auth' | 'reject' | 'too_large';

/**
 * The Kafka client behind {@link KafkaExporter}: a small seam, so that a Kafka library
 * ({@link KafkaJsClient}, {@link PlatformaticKafkaClient}) can be replaced by another, and so that unit
 * tests can use a fake.
 */
export interface KafkaClient {
  /** A new, not yet connected producer session. */
  producer(): ProducerSeam;
  /** Classifies an error thrown by `connect` or `send`. Unknown errors should be `reject`. */
  classify(error: unknown): KafkaFailureKind;
}
