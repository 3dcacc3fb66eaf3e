// A hand-written fake of the consumer seam (our own contract): partitions are arrays of records, a
// fetch hands each unpaused partition's records from its position to the listener, and every call the
// receiver makes is written down in order.
import type {
  AdminSeam,
  ConsumerListener,
  ConsumerSeam,
  ConsumerSettings,
  FetchedRecord,
  HeaderValue,
  KafkaConsumerClient,
  PartitionOffsets,
  TopicPartition,
  TopicPartitionOffset,
} from '../../src/index.js';

export interface FakeRecord extends FetchedRecord {
  readonly offset: string;
}

/** A record whose value is `event` as JSON, with the exporter's headers. */
export function eventRecord(offset: number, event: Record<string, unknown>): FakeRecord {
  return {
    offset: String(offset),
    value: Buffer.from(JSON.stringify(event)),
    headers: { 'event-name': Buffer.from(String(event.name)), 'content-type': Buffer.from('application/json'), 'schema-version': Buffer.from('1') },
  };
}

/** A record with these raw bytes and headers. */
export function rawRecord(offset: number, value: Buffer | null, headers: Record<string, HeaderValue> = {}): FakeRecord {
  return { offset: String(offset), value, headers };
}

const key = (topic: string, partition: number) => `${topic}/${partition}`;

export class FakeConsumer implements ConsumerSeam {
  readonly calls: string[] = [];
  readonly commits: TopicPartitionOffset[][] = [];
  readonly paused = new Set<string>();
  /** Records per partition, and the position of the next fetch. */
  readonly logs = new Map<string, FakeRecord[]>();
  readonly positions = new Map<string, number>();
  assignment: TopicPartition[] = [];
  listener: ConsumerListener | undefined;
  /** Makes the next `commit` calls reject. */
  failCommits = 0;
  /** Makes `connect` reject with this error. */
  connectError: Error | undefined;
  disconnected = false;

  constructor(readonly settings: ConsumerSettings) {}

  /** Appends records to a partition's log (offsets follow on). */
  append(topic: string, partition: number, make: (offset: number) => FakeRecord, count: number): void {
    const log = this.logs.get(key(topic, partition)) ?? [];
    for (let i = 0; i < count; i++) log.push(make(log.length));
    this.logs.set(key(topic, partition), log);
  }

  /** Makes `connect` wait for this (a cluster slow to answer). */
  connectGate: Promise<void> | undefined;

  async connect(): Promise<void> {
    this.calls.push('connect');
    await this.connectGate;
    if (this.connectError !== undefined) throw this.connectError;
  }

  async run(listener: ConsumerListener): Promise<void> {
    this.calls.push('run');
    this.listener = listener;
  }

  /** The group assigns these partitions (a join or rejoin). */
  assign(partitions: TopicPartition[]): void {
    this.assignment = partitions;
    this.listener!.assigned(partitions);
  }

  /** Heartbeats the receiver sent while waiting for room. */
  heartbeats = 0;
  /** Makes the next heartbeat reject as a rebalance does (after `revoke()`, as the kafkajs adapter does). */
  rebalanceOnHeartbeat = false;

  /** One fetch: every assigned, unpaused partition with records from its position, up to `max` each, one after another. Answers the records taken. */
  async fetch(max = Number.POSITIVE_INFINITY): Promise<number> {
    let taken = 0;
    const heartbeat = async (): Promise<void> => {
      this.heartbeats++;
      if (this.rebalanceOnHeartbeat) {
        this.rebalanceOnHeartbeat = false;
        await this.listener!.revoke();
        throw Object.assign(new Error('The group is rebalancing, so a rejoin is needed'), { type: 'REBALANCE_IN_PROGRESS' });
      }
    };
    for (const { topic, partition } of this.assignment) {
      const k = key(topic, partition);
      if (this.paused.has(k)) continue;
      const log = this.logs.get(k) ?? [];
      const from = this.positions.get(k) ?? 0;
      const records = log.slice(from, from + max);
      if (records.length === 0) continue;
      const n = await this.listener!.batch({ topic, partition, highWatermark: String(log.length), records }, heartbeat);
      if (!(n >= 0 && n <= records.length)) throw new Error(`the listener took ${n} of ${records.length}`);
      this.positions.set(k, from + n);
      taken += n;
    }
    return taken;
  }

  pause(partitions: readonly TopicPartition[]): void {
    this.calls.push(`pause ${partitions.map((p) => key(p.topic, p.partition)).join(',')}`);
    for (const p of partitions) this.paused.add(key(p.topic, p.partition));
  }

  resume(partitions: readonly TopicPartition[]): void {
    this.calls.push(`resume ${partitions.map((p) => key(p.topic, p.partition)).join(',')}`);
    for (const p of partitions) this.paused.delete(key(p.topic, p.partition));
  }

  seek(position: TopicPartitionOffset): void {
    this.calls.push(`seek ${key(position.topic, position.partition)}@${position.offset}`);
    this.positions.set(key(position.topic, position.partition), Number(position.offset));
  }

  /** Times the receiver asked to leave and join the group again. */
  rejoins = 0;

  async rejoin(): Promise<void> {
    this.calls.push('rejoin');
    this.rejoins++;
  }

  /** How long `commit` and `disconnect` take, in ms (a round trip to the cluster). */
  answerDelayMs = 0;

  async commit(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    this.calls.push(`commit ${offsets.map((o) => `${key(o.topic, o.partition)}@${o.offset}`).join(',')}`);
    if (this.answerDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.answerDelayMs));
    if (this.failCommits > 0) {
      this.failCommits--;
      throw Object.assign(new Error('The coordinator is not aware of this member'), { type: 'UNKNOWN_MEMBER_ID' });
    }
    this.commits.push([...offsets]);
  }

  async disconnect(): Promise<void> {
    this.calls.push('disconnect');
    if (this.answerDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.answerDelayMs));
    this.disconnected = true;
  }

  /** The last committed offset of a partition (the next record to read), or undefined. */
  committed(topic: string, partition: number): string | undefined {
    let found: string | undefined;
    for (const commit of this.commits) for (const o of commit) if (o.topic === topic && o.partition === partition) found = o.offset;
    return found;
  }
}

export class FakeAdmin implements AdminSeam {
  offsetsAnswer: PartitionOffsets[] = [];
  async connect(): Promise<void> {}
  async offsets(_groupId: string, _topics: readonly string[]): Promise<PartitionOffsets[]> {
    return this.offsetsAnswer;
  }
  async disconnect(): Promise<void> {}
}

/** A client handing out one FakeConsumer (the last one built) and one FakeAdmin. */
export class FakeClient implements KafkaConsumerClient {
  consumers: FakeConsumer[] = [];
  readonly adminClient = new FakeAdmin();
  connectError: Error | undefined;
  connectGate: Promise<void> | undefined;

  get last(): FakeConsumer {
    const consumer = this.consumers.at(-1);
    if (consumer === undefined) throw new Error('no consumer was built');
    return consumer;
  }

  consumer(settings: ConsumerSettings): ConsumerSeam {
    const consumer = new FakeConsumer(settings);
    consumer.connectError = this.connectError;
    consumer.connectGate = this.connectGate;
    this.consumers.push(consumer);
    return consumer;
  }

  admin(): AdminSeam {
    return this.adminClient;
  }
}
