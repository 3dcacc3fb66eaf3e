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
 * once. The exporter abandons a session after any failed send and opens a new one for the next.
 */
export interface ProducerSeam {
  /** Connects. Rejects when the cluster cannot be reached or refuses the client. */
  connect(): Promise<void>;
  /** Sends the records and resolves once the cluster acknowledged all of them; rejects otherwise. */
  send(records: readonly KafkaTopicRecords[]): Promise<void>;
  /** Closes the session's connections. Never called twice. */
  disconnect(): Promise<void>;
}

/** What a failure of `connect` or `send` means for the batch being sent. */
export type KafkaFailureKind = 'retry' | 'reject' | 'too_large';

/**
 * The Kafka client behind {@link KafkaExporter}: a small seam, so that kafkajs (the default,
 * {@link KafkaJsClient}) can be replaced by another client, and so that unit tests can use a fake.
 */
export interface KafkaClient {
  /** A new, not yet connected producer session. */
  producer(): ProducerSeam;
  /** Classifies an error thrown by `connect` or `send`. Unknown errors should be `reject`. */
  classify(error: unknown): KafkaFailureKind;
}
