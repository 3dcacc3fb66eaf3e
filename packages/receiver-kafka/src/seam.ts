// The Kafka consumer behind a small interface of ours, like the exporter's producer seam: the
// receiver talks only to these types, so the library (kafkajs today) can be replaced, and unit tests
// drive the receiver through a hand-written fake.

/** A partition of a topic. */
export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

/** A partition and an offset: the next record to read (what Kafka stores as a group's committed offset). */
export interface TopicPartitionOffset extends TopicPartition {
  /** A Kafka offset (int64) as a decimal string. */
  readonly offset: string;
}

/** A header value as the client hands it over: `null` for a header without a value (Kafka allows it), a list when the header repeats. */
export type HeaderValue = Buffer | string | null | readonly (Buffer | string | null)[] | undefined;

/** One record of a fetched batch. */
export interface FetchedRecord {
  /** Its offset, a decimal string. */
  readonly offset: string;
  /** The value; `null` for a tombstone. */
  readonly value: Buffer | null;
  readonly headers?: Readonly<Record<string, HeaderValue>> | undefined;
  /** One header's value, as `headers[name]` gives it, where the client can read one without building `headers` (optional). */
  header?(name: string): HeaderValue;
  /**
   * Set on a marker that stands for a record batch the client could not decode (its offset is the
   * batch's last): the receiver drops it (reason `corrupt`) and moves past the batch.
   */
  readonly damaged?: DamagedBatch | undefined;
}

/** What a marker record of a damaged batch carries. */
export interface DamagedBatch {
  /** The batch's first offset (the marker's `offset` is its last). */
  readonly firstOffset: string;
  /** Why it could not be decoded (the client's or the codec's error). */
  readonly problem: string;
}

/** Records of one partition, in offset order, as one fetch returned them. */
export interface FetchedBatch {
  readonly topic: string;
  readonly partition: number;
  /** The partition's high watermark (log end offset) when fetched, a decimal string. */
  readonly highWatermark: string;
  readonly records: readonly FetchedRecord[];
}

/** What the consumer tells the receiver. Called by one consumer, never concurrently with itself. */
export interface ConsumerListener {
  /**
   * A fetched batch. Resolves with how many of its records (from the first) were taken; the consumer
   * moves its fetch position past those only, and the rest are fetched again (after the receiver
   * resumes the partition, which it paused while taking fewer than all). While it waits for room the
   * receiver calls `heartbeat`, which keeps the member in its group and rejects when the group is
   * rebalancing (after the consumer ran `revoke()`): the rejection must reach the client.
   */
  batch(batch: FetchedBatch, heartbeat: () => Promise<void>): Promise<number>;
  /**
   * The partition's records below `offset` hold nothing to hand over (transaction markers, records of
   * aborted transactions), and the consumer's fetch position moved there by itself. Comes after the
   * batches of the records before them.
   */
  skipped(position: TopicPartitionOffset): void;
  /**
   * The group is rebalancing and this member is about to rejoin (its partitions may move). Resolves
   * when the receiver has drained and committed what it could; a consumer that can, waits for it
   * before rejoining.
   */
  revoke(): Promise<void>;
  /** The member joined (or rejoined) the group: its partitions now. Synchronous, before any fetch of the new generation. */
  assigned(partitions: readonly TopicPartition[]): void;
  /** The consumer stopped on an error; `restarting` says whether it reconnects by itself. */
  crashed(error: unknown, restarting: boolean): void;
}

/** How a consumer joins its group and reads. */
export interface ConsumerSettings {
  readonly groupId: string;
  /** The topics to read. */
  readonly topics: readonly string[];
  /** Where a partition without a committed offset starts: its first record, or the next one written. */
  readonly initialOffset: 'earliest' | 'latest';
  /** The group drops a member it has not heard from for this long. */
  readonly sessionTimeoutMs: number;
  /** How long the group waits for members to rejoin during a rebalance. */
  readonly rebalanceTimeoutMs: number;
  /** Heartbeats are sent at most this often. */
  readonly heartbeatIntervalMs: number;
  /** Most bytes one fetch returns per partition. */
  readonly maxBytesPerPartition: number;
  /** How long the broker holds a fetch open waiting for records. */
  readonly maxWaitTimeMs: number;
}

/**
 * One consumer-group member: connect, run (join and fetch), pause and resume partitions, commit
 * offsets, disconnect (leave the group). The receiver calls `pause`, `resume` and `seek` from the
 * listener's callbacks too.
 */
export interface ConsumerSeam {
  /** Connects (and authenticates). Rejects when the cluster cannot be reached or refuses the client. */
  connect(): Promise<void>;
  /**
   * Subscribes to the settings' topics, joins the group and starts fetching into `listener`. Resolves
   * once it joined the group (or once it was disconnected; a consumer may also resolve after a bounded
   * wait while it keeps trying); rejects when the client gave up joining (the broker refused the
   * settings, the group or the credentials).
   */
  run(listener: ConsumerListener): Promise<void>;
  /** Stops fetching these partitions (records already fetched for them are not handed over). */
  pause(partitions: readonly TopicPartition[]): void;
  /** Fetches these partitions again, from the position after the last record taken. */
  resume(partitions: readonly TopicPartition[]): void;
  /** Makes the next fetch of the partition start at `offset` (used after a rejoin, for partitions kept). */
  seek(position: TopicPartitionOffset): void;
  /**
   * Leaves the group and joins it again (the listener's `assigned` follows), so that the group
   * rebalances: the way to have partitions added to a topic assigned (a group assigns only when it
   * rebalances). The receiver drains and commits first. Resolves once the join started; does nothing
   * once disconnected.
   */
  rejoin(): Promise<void>;
  /** Commits these offsets for the group (each the next record to read). Rejects when the group refused them. */
  commit(offsets: readonly TopicPartitionOffset[]): Promise<void>;
  /** Stops fetching, leaves the group and closes the connections. */
  disconnect(): Promise<void>;
}

/** The offsets of one partition, as an admin request reads them. */
export interface PartitionOffsets extends TopicPartition {
  /** The log start offset: the first record still stored. */
  readonly start: string;
  /** The log end offset (high watermark): the offset the next record written gets. */
  readonly end: string;
  /** The group's committed offset, or `undefined` when it has none. */
  readonly committed: string | undefined;
}

/** Reads offsets, for the lag figures. */
export interface AdminSeam {
  connect(): Promise<void>;
  /** The start, end and committed offsets of every partition of `topics` for `groupId`. */
  offsets(groupId: string, topics: readonly string[]): Promise<PartitionOffsets[]>;
  disconnect(): Promise<void>;
}

/** A Kafka library behind the seam: makes consumers and admin clients. */
export interface KafkaConsumerClient {
  /** A new, not yet connected group member. */
  consumer(settings: ConsumerSettings): ConsumerSeam;
  /** A new, not yet connected admin client. */
  admin(): AdminSeam;
}
