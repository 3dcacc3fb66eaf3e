import type { ConnectionOptions } from 'node:tls';
import type { Logger } from '@trackpipe/core';
import { type KafkaSaslOptions, kafkaJsLogCreator, kafkaSecrets } from '@trackpipe/exporter-kafka';
import kafkajs, { type Admin, type Consumer, type SASLOptions } from 'kafkajs';
import { registerCodecs } from './codecs.js';
import { installDamagedBatchDecoder, skippingDamagedBatches } from './damaged-batches.js';
import type {
  AdminSeam,
  ConsumerListener,
  ConsumerSeam,
  ConsumerSettings,
  KafkaConsumerClient,
  PartitionOffsets,
  TopicPartition,
  TopicPartitionOffset,
} from './seam.js';

const { Kafka, logLevel } = kafkajs;

/** Options of a {@link KafkaJsConsumerClient}: the connection options of the Kafka exporter's clients. */
export interface KafkaJsConsumerClientOptions {
  /** Bootstrap brokers, `host:port`. Required. */
  brokers: readonly string[];
  /** Client id the brokers see. Default `"trackpipe"`. */
  clientId?: string;
  /** TLS: `true`, or Node TLS options. Never logged. Default plaintext. */
  ssl?: boolean | ConnectionOptions;
  /** SASL (plain, scram-sha-256, scram-sha-512). Never logged. Default none. */
  sasl?: KafkaSaslOptions;
  /** Time to establish a connection, in ms. Default 3 000. */
  connectionTimeoutMs?: number;
  /** Time to wait for a broker's answer, in ms. Default 30 000. */
  requestTimeoutMs?: number;
  /** Where kafkajs's own errors and warnings go (as warnings, secrets masked). Default: dropped. */
  logger?: Logger;
}

/** kafkajs's test for "the group is rebalancing" (its `isRebalancing`, not exported): by broker error type. */
function isRebalancing(error: unknown): boolean {
  const type = (error as { type?: unknown } | null)?.type;
  return type === 'REBALANCE_IN_PROGRESS' || type === 'NOT_COORDINATOR_FOR_GROUP' || type === 'ILLEGAL_GENERATION';
}

function grouped(partitions: readonly TopicPartition[]): { topic: string; partitions: number[] }[] {
  const byTopic = new Map<string, number[]>();
  for (const { topic, partition } of partitions) {
    const list = byTopic.get(topic);
    if (list === undefined) byTopic.set(topic, [partition]);
    else list.push(partition);
  }
  return [...byTopic].map(([topic, list]) => ({ topic, partitions: list }));
}

/**
 * kafkajs behind the {@link KafkaConsumerClient} seam. Consumers run with `autoCommit: false` (the
 * receiver commits what settled) and `eachBatchAutoResolve: false` (the fetch position moves past
 * the records taken only), one partition at a time, and kafkajs's own retries and restarts.
 *
 * kafkajs has no rebalance listener: it rejoins as soon as a heartbeat reports the rebalance. The
 * consumer heartbeats at the end of every batch it hands over; when that heartbeat reports it, the
 * listener's `revoke()` runs (drain, commit) before kafkajs rejoins. When kafkajs's fetch loop sees
 * it first (no records to fetch, or every partition paused), `revoke()` runs from the `REBALANCING`
 * event, beside the rejoin.
 */
export class KafkaJsConsumerClient implements KafkaConsumerClient {
  readonly #kafka: InstanceType<typeof Kafka>;

  constructor(options: KafkaJsConsumerClientOptions) {
    registerCodecs();
    installDamagedBatchDecoder();
    this.#kafka = new Kafka({
      brokers: [...options.brokers],
      clientId: options.clientId ?? 'trackpipe',
      ssl: options.ssl,
      // Our three mechanisms are named as kafkajs names them.
      sasl: options.sasl as SASLOptions | undefined,
      connectionTimeout: options.connectionTimeoutMs ?? 3_000,
      requestTimeout: options.requestTimeoutMs ?? 30_000,
      logLevel: logLevel.WARN,
      logCreator: kafkaJsLogCreator(options.logger, kafkaSecrets(options)),
    });
  }

  consumer(settings: ConsumerSettings): ConsumerSeam {
    return new KafkaJsConsumer(
      (restartOnFailure) =>
        this.#kafka.consumer({
          groupId: settings.groupId,
          sessionTimeout: settings.sessionTimeoutMs,
          rebalanceTimeout: settings.rebalanceTimeoutMs,
          heartbeatInterval: settings.heartbeatIntervalMs,
          maxBytesPerPartition: settings.maxBytesPerPartition,
          maxWaitTimeInMs: settings.maxWaitTimeMs,
          allowAutoTopicCreation: false,
          // Merged with the client's retry options by kafkajs.
          retry: { restartOnFailure },
        }),
      settings,
    );
  }

  admin(): AdminSeam {
    return new KafkaJsAdmin(this.#kafka.admin());
  }
}

/** Broker errors that name one of the receiver's options: the option, for the error message. */
const OPTION_OF_ERROR: Readonly<Record<string, string>> = { INVALID_SESSION_TIMEOUT: 'sessionTimeoutMs' };

/** The crash error, prefixed with the option it is about when the broker refused one. */
function joinFailure(error: unknown): unknown {
  const option = OPTION_OF_ERROR[String((error as { type?: unknown } | null)?.type)];
  if (option === undefined || !(error instanceof Error)) return error;
  return new Error(`${option}: the broker refuses it: ${error.message}`, { cause: error });
}

class KafkaJsConsumer implements ConsumerSeam {
  readonly #consumer: Consumer;
  readonly #settings: ConsumerSettings;
  #disconnected = false;
  /** What run() gave kafkajs's run(), for a rejoin. */
  #runConfig: Parameters<Consumer['run']>[0] | undefined;
  /** True while a rejoin has stopped kafkajs's run and not started it again: kafkajs then refuses pause and resume. */
  #rejoining = false;
  /** Ends run()'s wait for the first join: joined (or disconnected), or the error kafkajs gave up on. */
  #joinOutcome: ((failure: { error: unknown } | undefined) => void) | undefined;

  constructor(make: (restartOnFailure: () => Promise<boolean>) => Consumer, settings: ConsumerSettings) {
    // After a crash kafkajs restarts the consumer (and joins the group again) a moment later: never once it was told to disconnect.
    this.#consumer = make(() => Promise.resolve(!this.#disconnected));
    this.#settings = settings;
  }

  connect(): Promise<void> {
    return this.#consumer.connect();
  }

  async run(listener: ConsumerListener): Promise<void> {
    const consumer = this.#consumer;
    const { REBALANCING, GROUP_JOIN, CRASH, END_BATCH_PROCESS } = consumer.events;
    // kafkajs resolves a fetch that holds only control records or aborted ones itself, without
    // calling eachBatch; this event (batchSize 0) is the only word of it.
    consumer.on(END_BATCH_PROCESS, (event) => {
      const { topic, partition, batchSize, lastOffset } = event.payload;
      if (batchSize === 0) listener.skipped({ topic, partition, offset: (BigInt(lastOffset) + 1n).toString() });
    });
    consumer.on(REBALANCING, () => void listener.revoke());
    consumer.on(GROUP_JOIN, (event) => {
      const assignment = event.payload.memberAssignment;
      listener.assigned(Object.entries(assignment).flatMap(([topic, partitions]) => partitions.map((partition) => ({ topic, partition }))));
      this.#joinOutcome?.(undefined);
    });
    consumer.on(CRASH, (event) => {
      listener.crashed(event.payload.error, event.payload.restart);
      if (!event.payload.restart) this.#joinOutcome?.({ error: joinFailure(event.payload.error) });
    });
    // kafkajs's run() resolves before the member joins; a broker that refuses the session timeout, the
    // group or the credentials makes it crash for good a moment later. Wait for the first join (while
    // kafkajs retries what it retries, within a session and a rebalance timeout), so that start() says so.
    const { sessionTimeoutMs, rebalanceTimeoutMs } = this.#settings;
    const joined = new Promise<{ error: unknown } | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), Math.min(sessionTimeoutMs + rebalanceTimeoutMs, 2_147_483_647));
      timer.unref();
      this.#joinOutcome = (failure) => {
        clearTimeout(timer);
        this.#joinOutcome = undefined;
        resolve(failure);
      };
    });
    await consumer.subscribe({ topics: [...this.#settings.topics], fromBeginning: this.#settings.initialOffset === 'earliest' });
    // Disconnected meanwhile: a run started now would join the group with no one to stop it.
    if (this.#disconnected) return;
    this.#runConfig = {
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: async (payload) => {
        if (!payload.isRunning() || payload.isStale()) return;
        const { batch } = payload;
        const messages = batch.messages;
        const heartbeat = async (): Promise<void> => {
          try {
            await payload.heartbeat();
          } catch (error) {
            // Our heartbeat heard of the rebalance first: drain and commit before kafkajs rejoins.
            if (isRebalancing(error)) await listener.revoke();
            throw error;
          }
        };
        const taken = await listener.batch({ topic: batch.topic, partition: batch.partition, highWatermark: batch.highWatermark, records: messages }, heartbeat);
        if (taken > 0) payload.resolveOffset(messages[taken - 1]!.offset);
        // The fetch ended in records with nothing to hand over (a transaction's marker, its aborted
        // records): once every message was taken, the position moves past them too.
        const last = batch.lastOffset();
        if (taken > 0 && taken === messages.length && BigInt(last) > BigInt(messages[taken - 1]!.offset)) {
          payload.resolveOffset(last);
          listener.skipped({ topic: batch.topic, partition: batch.partition, offset: (BigInt(last) + 1n).toString() });
        }
        await heartbeat();
      },
    };
    const config = this.#runConfig;
    // Its fetches (and the restarts after a crash) run in the scope that turns damaged batches into marker records.
    await skippingDamagedBatches(() => consumer.run(config));
    // Disconnected while kafkajs started running: stop what it started after the disconnect.
    if (this.#disconnected) await consumer.disconnect();
    const failure = await joined;
    if (failure !== undefined) throw failure.error;
  }

  pause(partitions: readonly TopicPartition[]): void {
    // While rejoining nothing is fetched; the join that follows says which partitions to pause again.
    if (!this.#rejoining) this.#consumer.pause(grouped(partitions));
  }

  resume(partitions: readonly TopicPartition[]): void {
    if (!this.#rejoining) this.#consumer.resume(grouped(partitions));
  }

  async rejoin(): Promise<void> {
    if (this.#disconnected || this.#runConfig === undefined || this.#rejoining) return;
    this.#rejoining = true;
    try {
      // kafkajs's stop() leaves the group (and ends the run); run() joins it again, the leader
      // assigning the topics' partitions as the metadata it refreshes says.
      await this.#consumer.stop();
    } finally {
      this.#rejoining = false;
    }
    const config = this.#runConfig;
    if (!this.#disconnected) await skippingDamagedBatches(() => this.#consumer.run(config));
  }

  seek(position: TopicPartitionOffset): void {
    this.#consumer.seek({ topic: position.topic, partition: position.partition, offset: position.offset });
  }

  commit(offsets: readonly TopicPartitionOffset[]): Promise<void> {
    return this.#consumer.commitOffsets(offsets.map(({ topic, partition, offset }) => ({ topic, partition, offset })));
  }

  disconnect(): Promise<void> {
    this.#disconnected = true;
    this.#joinOutcome?.(undefined);
    return this.#consumer.disconnect();
  }
}

class KafkaJsAdmin implements AdminSeam {
  readonly #admin: Admin;

  constructor(admin: Admin) {
    this.#admin = admin;
  }

  connect(): Promise<void> {
    return this.#admin.connect();
  }

  async offsets(groupId: string, topics: readonly string[]): Promise<PartitionOffsets[]> {
    const [ends, committed] = await Promise.all([
      Promise.all(topics.map(async (topic) => ({ topic, partitions: await this.#admin.fetchTopicOffsets(topic) }))),
      this.#admin.fetchOffsets({ groupId, topics: [...topics] }),
    ]);
    const group = new Map<string, string>();
    for (const { topic, partitions } of committed) for (const p of partitions) group.set(`${topic}:${p.partition}`, p.offset);
    return ends.flatMap(({ topic, partitions }) =>
      partitions.map((p) => {
        const offset = group.get(`${topic}:${p.partition}`);
        return { topic, partition: p.partition, start: p.low, end: p.high, committed: offset === undefined || Number(offset) < 0 ? undefined : offset };
      }),
    );
  }

  disconnect(): Promise<void> {
    return this.#admin.disconnect();
  }
}
