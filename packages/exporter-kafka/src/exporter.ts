import {
  type Encoder,
  type ExportBatch,
  type ExportResult,
  type Exporter,
  ExportResults,
  type FlagEvaluationEvent,
  type Logger,
  type Recorded,
  type TelemetryEvent,
  TrackpipeError,
  consoleLogger,
  describeError,
} from '@trackpipe/core';
import { KafkaJsClient, type KafkaJsClientOptions } from './kafkajs-client.js';
import type { KafkaClient, KafkaFailureKind, KafkaRecord, KafkaTopicRecords, ProducerSeam } from './seam.js';

/**
 * Options of a {@link KafkaExporter}: the connection options of a {@link KafkaJsClient} (`brokers`,
 * `clientId`, `ssl`, `sasl`, `gzip`, timeouts — `brokers` required unless `client` is given), plus:
 */
export interface KafkaExporterOptions<E extends TelemetryEvent = Recorded<TelemetryEvent>>
  extends Omit<KafkaJsClientOptions, 'brokers' | 'logger'> {
  /** Bootstrap brokers, `host:port`. Required (unless `client` is given), at least one. */
  brokers?: readonly string[];
  /** The topic: one name, or a function choosing it per event. Required. */
  topic: string | ((event: E) => string);
  /**
   * The record key, which picks the partition (events with one key stay in order). Return `null` for
   * no key. Default: the flag evaluation's `targetingKey`, else its `flagKey`, else the event `id`.
   */
  key?: (event: E) => string | null;
  /**
   * Records whose encoded value is longer than this many bytes are answered `too_large` without being
   * sent (the processor splits the batch and drops such an event alone). Set it to the topic's
   * `max.message.bytes` to spare the round trips and the duplicates of a broker-side rejection; `Infinity`
   * leaves the check to the broker. Default 1 048 576 (about Kafka's default `message.max.bytes`).
   */
  maxRecordBytes?: number;
  /** Value of the `content-type` header; say what `encoder` produces. Default `"application/json"`. */
  contentType?: string;
  /** Value of the `schema-version` header. Default `"1"`. */
  schemaVersion?: string;
  /** How the processor serializes each event into a record value. Default: JSON. */
  encoder?: Encoder<E>;
  /** Name in logs and metric labels. Default `"kafka"`. */
  name?: string;
  /** Where the client's own warnings go (secrets masked). Default: the console. */
  logger?: Logger;
  /** The Kafka client to use instead of kafkajs (`brokers`, `ssl`, `sasl` ... then do not apply). Default: a {@link KafkaJsClient}. */
  client?: KafkaClient;
}

/** A producer session, shared by concurrent exports until a failure abandons it. */
interface Session {
  readonly producer: ProducerSeam;
  readonly connected: Promise<void>;
  abandoned: boolean;
}

const SENT = Symbol('sent');
const ABORTED = Symbol('aborted');

/** Default record key: who the flag was evaluated for, else the flag, else the event itself. */
export function defaultKafkaKey(event: TelemetryEvent): string | null {
  const { targetingKey, flagKey } = event as Partial<FlagEvaluationEvent>;
  if (typeof targetingKey === 'string' && targetingKey !== '') return targetingKey;
  if (typeof flagKey === 'string' && flagKey !== '') return flagKey;
  return typeof event.id === 'string' ? event.id : null;
}

/**
 * Sends each batch to a Kafka topic, one record per event: the value is the event as the processor
 * encoded it, the key and topic come from the options, the headers say the event name, the content
 * type and the schema version. Connects on the first export; after any failure it drops the producer
 * session and opens a new one on the next export. Classifies failures (retry, reject, too large) and
 * leaves retrying to the processor.
 */
export class KafkaExporter<E extends TelemetryEvent = Recorded<TelemetryEvent>> implements Exporter<E> {
  readonly name: string;
  readonly encoder: Encoder<E> | undefined;
  readonly #client: KafkaClient;
  readonly #topic: (event: E) => string;
  readonly #key: (event: E) => string | null;
  readonly #contentType: string;
  readonly #schemaVersion: string;
  readonly #maxRecordBytes: number;
  #session: Session | undefined;
  #shutdown: Promise<void> | undefined;

  constructor(options: KafkaExporterOptions<E>) {
    const topic = options.topic;
    if (typeof topic === 'string') {
      if (topic === '') throw optionError('topic must be a non-empty string or a function');
      this.#topic = () => topic;
    } else if (typeof topic === 'function') {
      this.#topic = topic;
    } else {
      throw optionError('topic must be a non-empty string or a function');
    }
    if (options.client !== undefined) {
      this.#client = options.client;
    } else {
      const brokers = options.brokers;
      if (!Array.isArray(brokers) || brokers.length === 0 || !brokers.every((b) => typeof b === 'string' && b !== '')) {
        throw optionError('brokers must be a non-empty array of "host:port" strings');
      }
      this.#client = new KafkaJsClient({
        brokers,
        clientId: options.clientId,
        ssl: options.ssl,
        sasl: options.sasl,
        gzip: options.gzip,
        connectionTimeoutMs: options.connectionTimeoutMs,
        requestTimeoutMs: options.requestTimeoutMs,
        logger: options.logger ?? consoleLogger,
      });
    }
    this.#key = options.key ?? defaultKafkaKey;
    this.#contentType = options.contentType ?? 'application/json';
    this.#schemaVersion = options.schemaVersion ?? '1';
    const maxRecordBytes = options.maxRecordBytes ?? 1_048_576;
    if (typeof maxRecordBytes !== 'number' || Number.isNaN(maxRecordBytes) || maxRecordBytes < 1) {
      throw optionError('maxRecordBytes must be a number >= 1 (or Infinity)');
    }
    this.#maxRecordBytes = maxRecordBytes;
    this.encoder = options.encoder;
    this.name = options.name ?? 'kafka';
  }

  async export(batch: ExportBatch<E>, signal: AbortSignal): Promise<ExportResult> {
    if (this.#shutdown !== undefined) {
      return ExportResults.reject({ error: new Error(`exporter ${this.name} is shut down`) });
    }
    if (signal.aborted) return ExportResults.retry({ error: signal.reason });
    const oversized = this.#oversized(batch);
    if (oversized !== undefined) return ExportResults.tooLarge({ error: oversized });
    const { topics, failed, failure } = this.#records(batch);
    if (topics.length > 0) {
      let session: Session;
      try {
        session = this.#session ??= this.#open();
      } catch (error) {
        return this.#failure(error); // the client could not even create a producer
      }
      const outcome = await settleOrAbort(
        session.connected.then(() => session.producer.send(topics)),
        signal,
      );
      if (outcome === ABORTED) {
        this.#abandon(session);
        return ExportResults.retry({ error: signal.reason });
      }
      if (outcome !== SENT) {
        // A session abandoned under us (by another export or shutdown) says nothing about this batch.
        const abandoned = session.abandoned;
        this.#abandon(session);
        return abandoned ? ExportResults.retry({ error: outcome.error }) : this.#failure(outcome.error);
      }
    }
    return failed.length === 0 ? ExportResults.ok() : ExportResults.reject({ indexes: failed, error: failure });
  }

  /** Disconnects. Idempotent; later exports answer `reject`. */
  shutdown(): Promise<void> {
    this.#shutdown ??= (async () => {
      const session = this.#session;
      this.#session = undefined;
      if (session === undefined) return;
      session.abandoned = true;
      await Promise.resolve()
        .then(() => session.producer.disconnect())
        .catch(() => undefined);
    })();
    return this.#shutdown;
  }

  /** An error naming the first record above `maxRecordBytes`, if any. */
  #oversized(batch: ExportBatch<E>): Error | undefined {
    if (batch.bytes <= this.#maxRecordBytes) return undefined;
    for (let i = 0; i < batch.encoded.length; i++) {
      const bytes = Buffer.byteLength(batch.encoded[i] as string);
      if (bytes > this.#maxRecordBytes) {
        return new Error(`exporter ${this.name}: a record of ${bytes} bytes exceeds maxRecordBytes (${this.#maxRecordBytes})`);
      }
    }
    return undefined;
  }

  /** Builds the records, grouped by topic. Events whose topic or key function throws are left out. */
  #records(batch: ExportBatch<E>): { topics: KafkaTopicRecords[]; failed: number[]; failure: unknown } {
    const byTopic = new Map<string, KafkaRecord[]>();
    const failed: number[] = [];
    let failure: unknown;
    const { events, encoded } = batch;
    for (let i = 0; i < events.length; i++) {
      const event = events[i] as E;
      let topic: string;
      let key: string | null;
      try {
        topic = this.#topic(event);
        key = this.#key(event);
        if (typeof topic !== 'string' || topic === '') throw new TypeError('the topic function returned no topic name');
        if (key !== null && typeof key !== 'string') throw new TypeError('the key function returned neither a string nor null');
      } catch (error) {
        failed.push(i);
        failure ??= new TrackpipeError('TRACKPIPE_ERR_EXPORT_REJECTED', `exporter ${this.name}: ${describeError(error)}`, { cause: error });
        continue;
      }
      const record: KafkaRecord = {
        key,
        value: encoded[i] as string,
        headers: { 'event-name': event.name, 'content-type': this.#contentType, 'schema-version': this.#schemaVersion },
      };
      const records = byTopic.get(topic);
      if (records === undefined) byTopic.set(topic, [record]);
      else records.push(record);
    }
    return { topics: Array.from(byTopic, ([topic, records]) => ({ topic, records })), failed, failure };
  }

  #open(): Session {
    const producer = this.#client.producer();
    const connected = Promise.resolve().then(() => producer.connect());
    connected.catch(() => undefined); // observed by the exports that await it
    return { producer, connected, abandoned: false };
  }

  /** The result for a failure, as the client classifies it (a throwing classifier counts as `reject`). */
  #failure(error: unknown): ExportResult {
    let kind: KafkaFailureKind;
    try {
      kind = this.#client.classify(error);
    } catch {
      kind = 'reject';
    }
    if (kind === 'too_large') return ExportResults.tooLarge({ error });
    return kind === 'retry' ? ExportResults.retry({ error }) : ExportResults.reject({ error });
  }

  /**
   * Drops a session after a failure. kafkajs's idempotent producer rolls back the sequence numbers of
   * every partition of a failed request, although some partitions may have been written: only a new
   * producer (a new producer id) can go on safely. A new session also reconnects after connection loss.
   */
  #abandon(session: Session): void {
    if (session.abandoned) return;
    session.abandoned = true;
    if (this.#session === session) this.#session = undefined;
    Promise.resolve()
      .then(() => session.producer.disconnect())
      .catch(() => undefined);
  }
}

function optionError(message: string): TrackpipeError {
  return new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', `KafkaExporter: ${message}`);
}

/** Waits for `work`: SENT, or the error it failed with, or ABORTED as soon as `signal` aborts (whatever `work` does later is ignored). */
function settleOrAbort(work: Promise<void>, signal: AbortSignal): Promise<typeof SENT | typeof ABORTED | { error: unknown }> {
  return new Promise((resolve) => {
    const onAbort = (): void => resolve(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
    void work.then(
      () => resolve(SENT),
      (error: unknown) => resolve({ error }),
    ).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
