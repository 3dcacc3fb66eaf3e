import type { ConnectionOptions } from 'node:tls';
import { type Collector, type Logger, type TelemetryEvent, TrackpipeError, consoleLogger, describeError, redact } from '@trackpipe/core';
import { callerTimeout, within } from '@trackpipe/core/internal';
import { type KafkaSaslOptions, kafkaSecrets } from '@trackpipe/exporter-kafka';
import { resolveReceiverOptions, type ResolvedReceiverOptions } from './config.js';
import { type RecordDropReason, decodeRecord } from './decode.js';
import { KafkaJsConsumerClient } from './kafkajs-consumer.js';
import type {
  AdminSeam,
  ConsumerListener,
  ConsumerSeam,
  FetchedBatch,
  FetchedRecord,
  KafkaConsumerClient,
  TopicPartition,
  TopicPartitionOffset,
} from './seam.js';

/** A {@link Logger} that may also take `info` lines (a service logger does; core's loggers drop them). */
export interface ReceiverLogger extends Logger {
  info?(message: string, fields?: Record<string, unknown>): void;
}

/** Options of a {@link KafkaReceiver}. `topic` (or `topics`) is required, and `brokers` unless `client` is a client object. */
export interface KafkaReceiverOptions {
  /** Bootstrap brokers, `host:port`. Required unless `client` is a client object. */
  brokers?: readonly string[];
  /** The topic to read. Give this or `topics`. */
  topic?: string;
  /** The topics to read. Give this or `topic`. */
  topics?: readonly string[];
  /** The consumer group: instances with the same one share the partitions. Default `"trackpipe"`. */
  groupId?: string;
  /** `"kafkajs"`, or a {@link KafkaConsumerClient} (another library behind the seam; a fake in tests). Default `"kafkajs"`. */
  client?: 'kafkajs' | KafkaConsumerClient;
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
  /** Where a partition the group never committed starts. Default `"earliest"`. */
  initialOffset?: 'earliest' | 'latest';
  /** How often settled offsets are committed, in ms (each commit flushes the pipelines first). Default 1 000. */
  commitIntervalMs?: number;
  /** On a rebalance, how long to wait for what was handed over to settle before rejoining, in ms. Default 10 000. */
  drainTimeoutMs?: number;
  /** Pause partitions when a pipeline queue is this full (share of capacity). Default 0.9. */
  highWaterMark?: number;
  /** Resume once every pipeline queue is below this share (less than `highWaterMark`). Default 0.5. */
  lowWaterMark?: number;
  /** The group drops a member it has not heard from for this long, in ms. Default 30 000. */
  sessionTimeoutMs?: number;
  /** Heartbeats at most this often, in ms. Default 3 000. */
  heartbeatIntervalMs?: number;
  /** How long the group waits for members to rejoin in a rebalance, in ms. Default 60 000. */
  rebalanceTimeoutMs?: number;
  /** Most bytes one fetch brings per partition. Default 131 072. */
  maxBytesPerPartition?: number;
  /** How long the broker holds an empty fetch open, in ms. Default 1 000. */
  maxWaitTimeMs?: number;
  /** How often the lag figures are read from the cluster (and partitions added to a topic noticed), in ms. Default 5 000. */
  lagIntervalMs?: number;
  /** Names the receiver in logs and metric labels. Default `"kafka"`. */
  name?: string;
  /** Where the receiver reports (secrets masked). Default core's `consoleLogger`. */
  logger?: ReceiverLogger;
}

/** The lag of one partition the receiver owns. */
export interface PartitionLag {
  readonly topic: string;
  readonly partition: number;
  /** Records written to the partition and not yet committed by the group: log end offset − committed offset. */
  readonly records: number;
}

/** A receiver's figures: counters since it was built, gauges now. */
export interface KafkaReceiverStats {
  /** Records taken from fetched batches (handed over or dropped), by topic. */
  readonly consumed: Readonly<Record<string, number>>;
  /** Of those: records handed to the pipelines as events. */
  readonly handed: number;
  /** Of those: records dropped, by reason (their offsets are committed all the same). */
  readonly dropped: Readonly<Record<RecordDropReason, number>>;
  /** Offset commits the group accepted. */
  readonly commits: number;
  /** Offset commits that failed (the offsets are committed with a later one). */
  readonly commitFailures: number;
  /** Times this member joined the group with a new assignment (the first join included). */
  readonly rebalances: number;
  /** Times partitions were paused because a pipeline was full. */
  readonly pauses: number;
  /** Partitions this member owns now. */
  readonly assignedPartitions: number;
  /** Of those, paused now. */
  readonly pausedPartitions: number;
  /** Lag per owned partition (once its offsets are known). */
  readonly lag: readonly PartitionLag[];
}

/** What {@link KafkaReceiver.stop} answers. */
export interface ReceiverStopReport {
  /** True when everything handed over was settled (exported or dropped with a reason) within the deadline. */
  readonly drained: boolean;
  /** True when the offsets of everything handed over were committed (nothing to commit counts as true). */
  readonly committed: boolean;
  /** How long the stop took, in ms. */
  readonly durationMs: number;
}

interface PartitionState extends TopicPartition {
  readonly key: string;
  /** The offset after the last record handed over or dropped. */
  handed: bigint | undefined;
  /** The offset of the next record to hand over (the first one fetched, until one is handed over). */
  position: bigint | undefined;
  /** Fetched records waiting for room in the pipelines, in offset order, from `pendingHead`. */
  pending: FetchedRecord[];
  pendingHead: number;
  /** Where the position moves once the waiting records are handed over: past records with nothing to hand over. */
  skipTo: bigint | undefined;
  /** The offset this member last committed. */
  committed: bigint | undefined;
  /** The group's committed offset as the cluster last said. */
  groupCommitted: bigint | undefined;
  start: bigint | undefined;
  end: bigint | undefined;
  paused: boolean;
}

/** A partition's offset to commit: everything below it was handed over before the flush that settled it. */
interface Mark {
  readonly state: PartitionState;
  readonly offset: bigint;
}

/** How often paused partitions check for room, at most, in ms. */
const RESUME_CHECK_MS = 50;
/** How often fetched records waiting for room are offered to the pipelines again, in ms. */
const ROOM_CHECK_MS = 5;
/**
 * Fetched records that may wait in memory for room in the pipelines (plus at most one fetch). Past
 * it the receiver stops taking fetched batches (the client fetches nothing more) until they drain.
 */
const MAX_PENDING = 10_000;
/** When no record found room for this long, the partitions holding records are paused, in ms. */
const PAUSE_AFTER_MS = 1_000;
/** Repeated warnings of one kind (drops, commit failures, unsettled flushes) are logged at most this often, in ms. */
const WARN_INTERVAL_MS = 30_000;
/** Pause and resume lines are logged at most this often, in ms (counts say what happened in between). */
const PAUSE_LOG_INTERVAL_MS = 5_000;

function keyOf(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

/** A warning logged at once, then at most once per interval with the number of occurrences in between. */
class Throttled {
  #at = Number.NEGATIVE_INFINITY;
  #suppressed = 0;
  constructor(readonly intervalMs: number) {}
  /** Calls `write(suppressed)` when a line is due; counts the occurrence otherwise. */
  hit(write: (suppressed: number) => void): void {
    const now = Date.now();
    if (now - this.#at < this.intervalMs) {
      this.#suppressed++;
      return;
    }
    const suppressed = this.#suppressed;
    this.#at = now;
    this.#suppressed = 0;
    write(suppressed);
  }
  /** The occurrences not logged since the last line (and forgets them). */
  take(): number {
    const suppressed = this.#suppressed;
    this.#suppressed = 0;
    return suppressed;
  }
}

/**
 * Reads the records `@trackpipe/exporter-kafka` writes from Kafka topics, as one member of a consumer
 * group, and records each event into a collector (the pipelines). Any number of instances with the
 * same `groupId` share the partitions.
 *
 * - **At least once.** A partition's offset is committed only after every record below it was
 *   settled: every `commitIntervalMs` it notes the offsets handed over, flushes the collector, and
 *   commits them once the flush reports `complete` (everything recorded before it exported or dropped
 *   with a counted reason); an incomplete flush commits nothing.
 * - **Backpressure.** It hands records over only as far as `collector.headroom(highWaterMark)`
 *   allows; the rest waits in memory (bounded: past 10 000 records the client fetches nothing more)
 *   and goes over as room appears. When nothing found room for a second, the partitions holding
 *   records are paused (the rest stays in Kafka) until `collector.headroom(lowWaterMark)` says the
 *   fullest queue is below the low-water mark. Nothing is dropped for a full queue.
 * - **Order.** One partition's records are recorded in offset order (the pipelines keep that order
 *   to an exporter that keeps it: see the README).
 * - **Rebalance and stop.** It stops handing records over, flushes within `drainTimeoutMs` (or the
 *   stop deadline), commits what settled, then rejoins (or leaves the group).
 * - **Records not in our encoding** are dropped with a counted reason and committed past.
 */
export class KafkaReceiver {
  /** Names the receiver in logs and metric labels. */
  readonly name: string;
  /** The group the receiver joins. */
  readonly groupId: string;
  /** The topics it reads. */
  readonly topics: readonly string[];
  readonly #options: ResolvedReceiverOptions;
  readonly #collector: Collector<TelemetryEvent>;
  readonly #client: KafkaConsumerClient;
  readonly #logger: ReceiverLogger;
  readonly #secrets: readonly string[];
  #consumer: ConsumerSeam | undefined;
  #admin: AdminSeam | undefined;
  #adminConnected = false;
  #state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  #stopping: Promise<ReceiverStopReport> | undefined;
  /** Settles once start() connected and joined, or failed to. */
  #startup: Promise<void> = Promise.resolve();
  /** The consumer crashed after start and does not reconnect. */
  #failed = false;
  /** False while revoking or stopping: fetched records are left in Kafka. */
  #handOver = false;
  #partitions = new Map<string, PartitionState>();
  #revoking: Promise<void> | undefined;
  /** Commits go out one after another, so an older mark never overwrites a newer one. */
  #commitChain: Promise<unknown> = Promise.resolve();
  #ticking = false;
  #refreshing = false;
  /** Partitions per topic, as the last lag reading said (to notice a topic that grew). */
  readonly #partitionCounts = new Map<string, number>();
  #commitTimer: NodeJS.Timeout | undefined;
  #lagTimer: NodeJS.Timeout | undefined;
  #resumeTimer: NodeJS.Timeout | undefined;
  #pausedSince: number | undefined;
  /** Fetched records waiting for room, all partitions. */
  #pendingTotal = 0;
  #pumpTimer: NodeJS.Timeout | undefined;
  /** Where the next pump starts, so that no partition waits behind the others for ever. */
  #pumpStart = 0;
  /** When the pipelines last took a record (for the pause decision). */
  #progressAt = 0;
  // Figures.
  readonly #consumed = new Map<string, number>();
  #handed = 0;
  readonly #dropped: Record<RecordDropReason, number> = { undecodable: 0, invalid: 0, corrupt: 0 };
  #commits = 0;
  #commitFailures = 0;
  #rebalances = 0;
  #pauses = 0;
  // Logging.
  readonly #dropLog = new Throttled(WARN_INTERVAL_MS);
  readonly #commitLog = new Throttled(WARN_INTERVAL_MS);
  readonly #settleLog = new Throttled(WARN_INTERVAL_MS);
  readonly #lagLog = new Throttled(WARN_INTERVAL_MS);
  readonly #crashLog = new Throttled(WARN_INTERVAL_MS);
  readonly #corruptLog = new Throttled(WARN_INTERVAL_MS);
  #pauseLogAt = Number.NEGATIVE_INFINITY;
  #pausesSinceLine = 0;

  /**
   * @param options see {@link KafkaReceiverOptions}; checked at once (TRACKPIPE_ERR_OPTIONS_INVALID names every bad option, never its value).
   * @param collector where the events go: the pipelines (a fan-out answers `headroom` for its fullest queue).
   */
  constructor(options: KafkaReceiverOptions, collector: Collector<TelemetryEvent>) {
    const resolved = resolveReceiverOptions(options);
    this.#options = resolved;
    this.name = resolved.name;
    this.groupId = resolved.groupId;
    this.topics = resolved.topics ?? [resolved.topic!];
    this.#collector = collector;
    this.#logger = (resolved.logger as ReceiverLogger | undefined) ?? consoleLogger;
    this.#secrets = kafkaSecrets({ sasl: resolved.sasl, ssl: resolved.ssl });
    this.#client =
      typeof resolved.client === 'string'
        ? new KafkaJsConsumerClient({
            brokers: resolved.brokers!,
            ...(resolved.clientId === undefined ? {} : { clientId: resolved.clientId }),
            ...(resolved.ssl === undefined ? {} : { ssl: resolved.ssl }),
            ...(resolved.sasl === undefined ? {} : { sasl: resolved.sasl }),
            ...(resolved.connectionTimeoutMs === undefined ? {} : { connectionTimeoutMs: resolved.connectionTimeoutMs }),
            ...(resolved.requestTimeoutMs === undefined ? {} : { requestTimeoutMs: resolved.requestTimeoutMs }),
            logger: this.#logger,
          })
        : (resolved.client as KafkaConsumerClient);
  }

  /** True between {@link start} and {@link stop}, unless the consumer crashed on an error it does not recover from. */
  get running(): boolean {
    return this.#state === 'running' && !this.#failed;
  }

  /**
   * Connects, joins the group and starts handing records over; resolves once the member joined (or,
   * while the client keeps retrying, after sessionTimeoutMs + rebalanceTimeoutMs). Rejects
   * (TRACKPIPE_ERR_RECEIVER_UNAVAILABLE, the cause redacted) when the cluster cannot be reached or
   * refuses the member for good (e.g. `sessionTimeoutMs` outside the broker's range, the group or the
   * credentials refused); the receiver is then stopped.
   */
  async start(): Promise<void> {
    if (this.#state !== 'new') throw new Error(`KafkaReceiver ${this.name}: start() can be called once`);
    this.#state = 'running';
    this.#handOver = true;
    const o = this.#options;
    const consumer = this.#client.consumer({
      groupId: o.groupId,
      topics: this.topics,
      initialOffset: o.initialOffset,
      sessionTimeoutMs: o.sessionTimeoutMs,
      rebalanceTimeoutMs: o.rebalanceTimeoutMs,
      heartbeatIntervalMs: o.heartbeatIntervalMs,
      maxBytesPerPartition: o.maxBytesPerPartition,
      maxWaitTimeMs: o.maxWaitTimeMs,
    });
    this.#consumer = consumer;
    const startup = (async () => {
      await consumer.connect();
      if (this.#state === 'running') await consumer.run(this.#listener);
    })();
    // stop() waits for it (within its deadline) before it disconnects: a client still connecting when
    // told to disconnect may connect and join the group after all, and one cut off in the middle of
    // joining leaves a member the group waits for until its session times out.
    this.#startup = startup.then(
      () => undefined,
      () => undefined,
    );
    let failure: { error: unknown } | undefined;
    try {
      await startup;
    } catch (error) {
      failure = { error };
    }
    if (this.#state !== 'running') {
      // stop() came while starting: it reports; this makes sure the consumer is out of the group, even
      // when it finished connecting after stop()'s deadline.
      await consumer.disconnect().catch(() => undefined);
      return;
    }
    if (failure !== undefined) {
      this.#state = 'stopped';
      this.#handOver = false;
      await consumer.disconnect().catch(() => undefined);
      throw new TrackpipeError('TRACKPIPE_ERR_RECEIVER_UNAVAILABLE', `receiver ${this.name}: could not join group ${o.groupId}: ${this.#describe(failure.error)}`, {
        retriable: true,
        details: { receiver: this.name },
      });
    }
    this.#commitTimer = setInterval(() => this.#tick(), o.commitIntervalMs);
    this.#commitTimer.unref();
    this.#lagTimer = setInterval(() => void this.#refreshLag(), o.lagIntervalMs);
    this.#lagTimer.unref();
    void this.#refreshLag();
  }

  /**
   * Stops handing records over, flushes the collector within the deadline, commits what settled,
   * then leaves the group and disconnects. Idempotent. Does not close the collector. Called while
   * start() is still connecting, it waits for that (within the deadline) and start() resolves
   * without the receiver running; the consumer never stays in the group. `timeoutMs`: default 10 000;
   * `Infinity` waits as long as it takes.
   */
  stop(options: { timeoutMs?: number } = {}): Promise<ReceiverStopReport> {
    // As core's flush() and close() read it: not a number (NaN too) is the default, Infinity (or more than a timer can wait) no deadline.
    this.#stopping ??= this.#stop(callerTimeout(options.timeoutMs) ?? 10_000);
    return this.#stopping;
  }

  /** The receiver's figures; see {@link KafkaReceiverStats}. */
  stats(): KafkaReceiverStats {
    const lag: PartitionLag[] = [];
    let paused = 0;
    for (const p of this.#partitions.values()) {
      if (p.paused) paused++;
      const records = this.#lagOf(p);
      if (records !== undefined) lag.push({ topic: p.topic, partition: p.partition, records });
    }
    return {
      consumed: Object.fromEntries(this.#consumed),
      handed: this.#handed,
      dropped: { ...this.#dropped },
      commits: this.#commits,
      commitFailures: this.#commitFailures,
      rebalances: this.#rebalances,
      pauses: this.#pauses,
      assignedPartitions: this.#partitions.size,
      pausedPartitions: paused,
      lag,
    };
  }

  // ---- what the consumer calls -------------------------------------------------------------------

  readonly #listener: ConsumerListener = {
    batch: (batch, heartbeat) => this.#take(batch, heartbeat),
    skipped: (position) => this.#skipped(position),
    revoke: () => this.#revoke(),
    assigned: (partitions) => this.#assigned(partitions),
    crashed: (error, restarting) => {
      // While stopping, the consumer's connections close under it: no news.
      if (this.#state !== 'running') return;
      const line = (suppressed: number): void =>
        this.#logger.error(`receiver ${this.name}: the Kafka consumer stopped on an error${restarting ? '; it reconnects' : ' and does not reconnect'}`, {
          receiver: this.name,
          error: this.#describe(error),
          ...(suppressed > 0 ? { restartsSinceLastLine: suppressed } : {}),
        });
      // A client that fails the same way on every restart (a batch it cannot decode) restarts every few
      // hundred ms: one line per interval, with the count. The crash it does not recover from is always said.
      if (restarting) {
        this.#crashLog.hit(line);
        return;
      }
      line(this.#crashLog.take());
      // Out of the group for good: it owns nothing (what it handed over and did not commit is read
      // again by the next owner), and says so (running false, no partitions) until stop().
      this.#failed = true;
      this.#handOver = false;
      this.#discardPending();
      this.#partitions = new Map();
    },
  };

  /**
   * Takes a fetched batch: what fits below the high-water mark goes to the pipelines at once, the
   * rest waits in memory (in order, per partition) and is handed over by the pump as room appears,
   * so that the client fetches the next records while the pipelines export these. While more than
   * MAX_PENDING records wait, it holds the client (heartbeating); when no record found room for
   * PAUSE_AFTER_MS, it pauses the partitions holding records instead.
   */
  async #take(batch: FetchedBatch, heartbeat: () => Promise<void>): Promise<number> {
    const p = this.#partitions.get(keyOf(batch.topic, batch.partition));
    if (p === undefined || !this.#handOver) return 0;
    const records = batch.records;
    if (batch.highWatermark !== '') p.end = BigInt(batch.highWatermark);
    if (records.length === 0) return 0;
    // Records before the position were taken already (a client may fetch from the start of a compressed batch).
    let from = 0;
    if (p.position === undefined) p.position = BigInt(records[0]!.offset);
    else while (from < records.length && BigInt(records[from]!.offset) < p.position) from++;
    for (let i = from; i < records.length; i++) p.pending.push(records[i]!);
    this.#pendingTotal += records.length - from;
    this.#pump();
    let waitingSince: number | undefined;
    while (this.#pendingTotal > MAX_PENDING && this.#handOver && this.#partitions.get(p.key) === p) {
      const now = Date.now();
      waitingSince ??= now;
      if (this.#pausedSince !== undefined || now - Math.max(waitingSince, this.#progressAt) >= PAUSE_AFTER_MS) {
        for (const q of this.#partitions.values()) if (q.pendingHead < q.pending.length) this.#pause(q);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, ROOM_CHECK_MS));
      this.#pump();
      await heartbeat();
    }
    return records.length;
  }

  /**
   * The client moved past records with nothing to hand over (transaction markers, aborted records):
   * the mark follows once the records fetched before them were handed over, so that the offset is
   * committed to the end of a partition that ends in them.
   */
  #skipped(position: TopicPartitionOffset): void {
    const p = this.#partitions.get(keyOf(position.topic, position.partition));
    if (p === undefined || !this.#handOver) return;
    const to = BigInt(position.offset);
    if (p.position !== undefined && to <= p.position) return;
    if (p.pendingHead < p.pending.length) p.skipTo = to;
    else this.#moveTo(p, to);
  }

  #moveTo(p: PartitionState, offset: bigint): void {
    p.skipTo = undefined;
    if (p.position !== undefined && offset <= p.position) return;
    p.handed = offset;
    p.position = offset;
  }

  /** Hands waiting records to the pipelines while they have room below the high-water mark; comes back while records wait. */
  #pump(): void {
    clearTimeout(this.#pumpTimer);
    this.#pumpTimer = undefined;
    if (this.#pendingTotal === 0 || !this.#handOver) return;
    const waiting = [...this.#partitions.values()].filter((q) => q.pendingHead < q.pending.length);
    const n = waiting.length;
    for (let k = 0; k < n; k++) {
      const q = waiting[(this.#pumpStart + k) % n]!;
      const room = Math.floor(this.#collector.headroom(this.#options.highWaterMark));
      if (!(room > 0)) break;
      const count = Math.min(room, q.pending.length - q.pendingHead);
      this.#handOverRecords(q, count);
      this.#progressAt = Date.now();
    }
    this.#pumpStart++;
    if (this.#pendingTotal > 0) {
      this.#pumpTimer = setTimeout(() => this.#pump(), ROOM_CHECK_MS);
      this.#pumpTimer.unref();
    }
  }

  /** Forgets the records waiting for room (revoke, stop): they were never handed over, so they are fetched again from `position`. */
  #discardPending(): void {
    clearTimeout(this.#pumpTimer);
    this.#pumpTimer = undefined;
    for (const q of this.#partitions.values()) {
      q.pending = [];
      q.pendingHead = 0;
      q.skipTo = undefined;
    }
    this.#pendingTotal = 0;
  }

  /** Records the next `count` waiting records of the partition (decoding each; dropping what is not an event) and moves its mark past them. */
  #handOverRecords(p: PartitionState, count: number): void {
    const records = p.pending;
    const collector = this.#collector;
    const from = p.pendingHead;
    let handed = 0;
    for (let i = from; i < from + count; i++) {
      const record = records[i]!;
      const decoded = decodeRecord(record);
      if (decoded.ok) {
        collector.record(decoded.event);
        handed++;
      } else if (decoded.reason === 'corrupt') {
        this.#dropped.corrupt++;
        this.#corruptLog.hit((suppressed) =>
          this.#logger.error(`receiver ${this.name}: skipped a record batch that cannot be decoded (its records are lost; its offsets are committed)`, {
            receiver: this.name,
            problem: decoded.message,
            topic: p.topic,
            partition: p.partition,
            ...(suppressed > 0 ? { skippedSinceLastLine: suppressed } : {}),
          }),
        );
      } else {
        this.#dropped[decoded.reason]++;
        this.#dropLog.hit((suppressed) =>
          this.#logger.warn(`receiver ${this.name}: dropped a record that is not a Trackpipe event (its offset is committed)`, {
            receiver: this.name,
            reason: decoded.reason,
            problem: decoded.message,
            topic: p.topic,
            partition: p.partition,
            offset: record.offset,
            ...(suppressed > 0 ? { droppedSinceLastLine: suppressed } : {}),
          }),
        );
      }
    }
    this.#handed += handed;
    this.#consumed.set(p.topic, (this.#consumed.get(p.topic) ?? 0) + count);
    p.handed = BigInt(records[from + count - 1]!.offset) + 1n;
    p.position = p.handed;
    this.#pendingTotal -= count;
    if (from + count === records.length) {
      p.pending = [];
      p.pendingHead = 0;
      if (p.skipTo !== undefined) this.#moveTo(p, p.skipTo);
    } else {
      p.pendingHead = from + count;
    }
  }

  /** The group rebalances: stop handing over, settle what was handed over (within drainTimeoutMs), commit it. */
  #revoke(): Promise<void> {
    this.#handOver = false;
    this.#discardPending();
    this.#revoking ??= (async () => {
      const started = Date.now();
      const marks = this.#marks();
      if (marks.length === 0) return;
      const report = await this.#flush(this.#options.drainTimeoutMs);
      if (!report.complete) {
        this.#logger.warn(
          `receiver ${this.name}: rebalance: what was handed over did not settle within drainTimeoutMs; its offsets are not committed, so the next owner reads it again (duplicates)`,
          { receiver: this.name, drainTimeoutMs: this.#options.drainTimeoutMs, remaining: report.remaining },
        );
        return;
      }
      const committed = await this.#commit(marks);
      this.#logger.info?.(`receiver ${this.name}: rebalance: drained and ${committed ? 'committed' : 'could not commit'}`, {
        receiver: this.name,
        partitions: marks.length,
        durationMs: Date.now() - started,
      });
    })().finally(() => {
      this.#revoking = undefined;
    });
    return this.#revoking;
  }

  /** The member (re)joined: keep the state of partitions it still owns, start the new ones fresh. */
  #assigned(partitions: readonly TopicPartition[]): void {
    const consumer = this.#consumer;
    if (consumer === undefined) return;
    this.#rebalances++;
    // Records fetched and not handed over are fetched again from each kept partition's position (a
    // rejoin after a crash of the client comes without a revoke).
    this.#discardPending();
    const previous = this.#partitions;
    const next = new Map<string, PartitionState>();
    const fresh: TopicPartition[] = [];
    const toPause: TopicPartition[] = [];
    for (const { topic, partition } of partitions) {
      const key = keyOf(topic, partition);
      const kept = previous.get(key);
      if (kept !== undefined) {
        next.set(key, kept);
        // The group's committed offset may be older than what this member handed over already, and the
        // client's position newer (records fetched and then discarded): go on from the next record to hand over.
        if (kept.position !== undefined) consumer.seek({ topic, partition, offset: kept.position.toString() });
        if (kept.paused) toPause.push(kept);
      } else {
        next.set(key, {
          topic,
          partition,
          key,
          handed: undefined,
          position: undefined,
          pending: [],
          pendingHead: 0,
          skipTo: undefined,
          committed: undefined,
          groupCommitted: undefined,
          start: undefined,
          end: undefined,
          paused: false,
        });
        fresh.push({ topic, partition });
      }
    }
    const revoked = [...previous.values()].filter((p) => !next.has(p.key));
    // A pause outlives the assignment in some clients: clear it for partitions gone or new.
    const unpause = [...revoked.filter((p) => p.paused), ...fresh];
    if (unpause.length > 0) consumer.resume(unpause);
    if (toPause.length > 0) consumer.pause(toPause);
    this.#partitions = next;
    if (this.#state === 'running') this.#handOver = true;
    if (revoked.some((p) => p.paused) && ![...next.values()].some((p) => p.paused)) this.#pausedSince = undefined;
    this.#logger.info?.(`receiver ${this.name}: joined group ${this.groupId}`, {
      receiver: this.name,
      partitions: [...next.values()].map((p) => `${p.topic}[${p.partition}]`),
      added: fresh.length,
      removed: revoked.length,
    });
    void this.#refreshLag();
  }

  // ---- backpressure ------------------------------------------------------------------------------

  #pause(p: PartitionState): void {
    if (p.paused) return;
    p.paused = true;
    this.#pauses++;
    this.#pausesSinceLine++;
    this.#consumer?.pause([p]);
    if (this.#pausedSince === undefined) {
      this.#pausedSince = Date.now();
      this.#pauseLine(`receiver ${this.name}: a pipeline queue is above its high-water mark: pausing partitions (records wait in Kafka)`, 'warn', {});
    }
    if (this.#resumeTimer === undefined) {
      this.#resumeTimer = setInterval(() => this.#maybeResume(), RESUME_CHECK_MS);
      this.#resumeTimer.unref();
    }
  }

  #maybeResume(): void {
    const paused = [...this.#partitions.values()].filter((p) => p.paused);
    // Resume once the records waiting in memory found room and the pipelines are below the low-water mark.
    if (paused.length > 0 && (this.#pendingTotal > 0 || this.#collector.headroom(this.#options.lowWaterMark) <= 0)) return;
    clearInterval(this.#resumeTimer);
    this.#resumeTimer = undefined;
    if (paused.length === 0) return;
    for (const p of paused) p.paused = false;
    if (this.#state === 'running') this.#consumer?.resume(paused);
    const pausedMs = this.#pausedSince === undefined ? 0 : Date.now() - this.#pausedSince;
    this.#pausedSince = undefined;
    this.#pauseLine(`receiver ${this.name}: the pipelines have room again: resuming partitions`, 'info', { partitions: paused.length, pausedMs });
  }

  /** Pause and resume lines, at most one per interval; the counts say what happened in between. */
  #pauseLine(message: string, level: 'warn' | 'info', fields: Record<string, unknown>): void {
    const now = Date.now();
    if (now - this.#pauseLogAt < PAUSE_LOG_INTERVAL_MS) return;
    this.#pauseLogAt = now;
    const line = { receiver: this.name, pauses: this.#pausesSinceLine, ...fields };
    this.#pausesSinceLine = 0;
    if (level === 'warn') this.#logger.warn(message, line);
    else this.#logger.info?.(message, line);
  }

  // ---- commits -----------------------------------------------------------------------------------

  /** The offsets handed over and not yet committed, partition by partition. */
  #marks(): Mark[] {
    const marks: Mark[] = [];
    for (const state of this.#partitions.values()) {
      if (state.handed !== undefined && (state.committed === undefined || state.handed > state.committed)) marks.push({ state, offset: state.handed });
    }
    return marks;
  }

  #flush(timeoutMs: number): ReturnType<Collector['flush']> {
    return this.#collector.flush({ timeoutMs }).catch((error: unknown) => {
      this.#logger.error(`receiver ${this.name}: flushing the pipelines failed`, { receiver: this.name, error: describeError(error) });
      return { complete: false, exported: 0, dropped: 0, droppedByReason: {}, remaining: 0 };
    });
  }

  /** Every commitIntervalMs: flush, and commit what the flush settled. One at a time. */
  #tick(): void {
    if (this.#ticking || this.#state !== 'running') return;
    const marks = this.#marks();
    if (marks.length === 0) return;
    this.#ticking = true;
    void (async () => {
      try {
        // A bounded wait, so that a dead destination does not keep a flush (and its timers) pending for ever.
        const report = await this.#flush(Math.max(10_000, 5 * this.#options.commitIntervalMs));
        if (!report.complete) {
          this.#settleLog.hit((suppressed) =>
            this.#logger.warn(`receiver ${this.name}: the pipelines have not settled what was handed over yet; its offsets wait (nothing is lost)`, {
              receiver: this.name,
              remaining: report.remaining,
              ...(suppressed > 0 ? { timesSinceLastLine: suppressed } : {}),
            }),
          );
          return;
        }
        if (this.#state === 'running') await this.#commit(marks);
      } finally {
        this.#ticking = false;
      }
    })();
  }

  /** Commits the marks (after older commits), skipping what a newer commit already covered. Resolves whether the group accepted them. */
  #commit(marks: readonly Mark[]): Promise<boolean> {
    const run = this.#commitChain.then(async () => {
      const consumer = this.#consumer;
      // A partition this member no longer owns is its new owner's to commit: an older offset from here
      // (a flush that settled after the rebalance) would move the group's offset back.
      const due = marks.filter((m) => this.#partitions.get(m.state.key) === m.state && (m.state.committed === undefined || m.offset > m.state.committed));
      if (consumer === undefined || due.length === 0) return true;
      const offsets: TopicPartitionOffset[] = due.map((m) => ({ topic: m.state.topic, partition: m.state.partition, offset: m.offset.toString() }));
      try {
        await consumer.commit(offsets);
      } catch (error) {
        this.#commitFailures++;
        this.#commitLog.hit((suppressed) =>
          this.#logger.warn(`receiver ${this.name}: committing offsets failed; they are committed with a later commit`, {
            receiver: this.name,
            error: this.#describe(error),
            ...(suppressed > 0 ? { failuresSinceLastLine: suppressed } : {}),
          }),
        );
        return false;
      }
      this.#commits++;
      for (const m of due) if (m.state.committed === undefined || m.offset > m.state.committed) m.state.committed = m.offset;
      return true;
    });
    this.#commitChain = run.catch(() => undefined);
    return run;
  }

  // ---- lag ---------------------------------------------------------------------------------------

  #lagOf(p: PartitionState): number | undefined {
    if (p.end === undefined) return undefined;
    let committed = p.committed;
    if (p.groupCommitted !== undefined && (committed === undefined || p.groupCommitted > committed)) committed = p.groupCommitted;
    const from = committed ?? (this.#options.initialOffset === 'earliest' ? p.start : p.end);
    if (from === undefined) return undefined;
    const lag = p.end - from;
    return lag > 0n ? Number(lag) : 0;
  }

  async #refreshLag(): Promise<void> {
    if (this.#refreshing || this.#state !== 'running' || this.#partitions.size === 0) return;
    this.#refreshing = true;
    try {
      this.#admin ??= this.#client.admin();
      if (!this.#adminConnected) {
        await this.#admin.connect();
        this.#adminConnected = true;
      }
      const offsets = await this.#admin.offsets(this.groupId, this.topics);
      this.#watchPartitionCounts(offsets);
      for (const o of offsets) {
        const p = this.#partitions.get(keyOf(o.topic, o.partition));
        if (p === undefined) continue;
        p.start = BigInt(o.start);
        p.end = BigInt(o.end);
        p.groupCommitted = o.committed === undefined ? undefined : BigInt(o.committed);
      }
    } catch (error) {
      this.#lagLog.hit(() =>
        this.#logger.warn(`receiver ${this.name}: could not read the partitions' offsets (lag figures wait)`, {
          receiver: this.name,
          error: this.#describe(error),
        }),
      );
    } finally {
      this.#refreshing = false;
    }
  }

  /**
   * A group assigns partitions only when it rebalances, and nothing rebalances it when a topic grows:
   * the records written to new partitions would wait unread until a member joins or leaves. When a
   * topic has more partitions than the last reading said, the member drains, commits and rejoins.
   */
  #watchPartitionCounts(offsets: readonly TopicPartition[]): void {
    const counts = new Map<string, number>();
    for (const o of offsets) counts.set(o.topic, (counts.get(o.topic) ?? 0) + 1);
    const grown = [...counts].filter(([topic, count]) => count > (this.#partitionCounts.get(topic) ?? count));
    for (const [topic, count] of counts) this.#partitionCounts.set(topic, count);
    if (grown.length === 0 || this.#state !== 'running' || this.#failed) return;
    this.#logger.info?.(`receiver ${this.name}: partitions were added; rejoining the group so that they are assigned`, {
      receiver: this.name,
      topics: Object.fromEntries(grown),
    });
    void this.#rejoin();
  }

  async #rejoin(): Promise<void> {
    const consumer = this.#consumer;
    if (consumer === undefined) return;
    try {
      await this.#revoke();
      if (this.#state !== 'running' || this.#failed) return;
      await consumer.rejoin();
    } catch (error) {
      // The client's own retries and restarts go on; what it fetches is handed over again meanwhile.
      this.#logger.warn(`receiver ${this.name}: rejoining the group failed`, { receiver: this.name, error: this.#describe(error) });
      if (this.#state === 'running' && !this.#failed) this.#handOver = true;
    }
  }

  // ---- stopping ----------------------------------------------------------------------------------

  async #stop(timeoutMs: number): Promise<ReceiverStopReport> {
    const started = Date.now();
    const deadline = started + Math.max(0, timeoutMs);
    const wasRunning = this.#state === 'running';
    this.#state = 'stopping';
    this.#handOver = false;
    this.#discardPending();
    clearInterval(this.#commitTimer);
    clearInterval(this.#lagTimer);
    clearInterval(this.#resumeTimer);
    this.#resumeTimer = undefined;
    const consumer = this.#consumer;
    let drained = true;
    let committed = true;
    if (wasRunning && consumer !== undefined) {
      // A start() still connecting or joining finishes first (within the deadline), so that the disconnect below is the last word.
      const reserve = Math.min(this.#options.maxWaitTimeMs + 1_000, timeoutMs / 2);
      await within(this.#startup, deadline - reserve - Date.now(), undefined);
      // Stop fetching first: nothing more is handed over while the pipelines drain.
      const owned = [...this.#partitions.values()];
      if (owned.length > 0) consumer.pause(owned);
      // Leave time to leave the group: a fetch in flight may hold the disconnect for maxWaitTimeMs.
      const marks = this.#marks();
      if (marks.length > 0) {
        const report = await this.#flush(Math.max(0, deadline - reserve - Date.now()));
        drained = report.complete;
        committed = drained && (await within(this.#commit(marks), Math.max(0, deadline - Date.now()), false));
      }
      if (!drained) {
        this.#logger.warn(`receiver ${this.name}: stopping: what was handed over did not settle in time; its offsets are not committed, so it is read again (duplicates)`, {
          receiver: this.name,
        });
      }
      await within(
        consumer.disconnect().then(
          () => undefined,
          (error: unknown) => this.#logger.warn(`receiver ${this.name}: leaving the group failed`, { receiver: this.name, error: this.#describe(error) }),
        ),
        Math.max(0, deadline - Date.now()),
        undefined,
      );
    }
    if (this.#adminConnected) await within(this.#admin!.disconnect().catch(() => undefined), 1_000, undefined);
    this.#state = 'stopped';
    this.#partitions = new Map();
    const report = { drained, committed, durationMs: Date.now() - started };
    this.#logger.info?.(`receiver ${this.name}: stopped`, { receiver: this.name, ...report });
    return report;
  }

  #describe(error: unknown): string {
    return redact(describeError(error), this.#secrets);
  }
}

