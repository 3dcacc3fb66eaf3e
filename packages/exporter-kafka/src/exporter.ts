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
  redact,
} from '@trackpipe/core';
import { type KafkaClientOptions, kafkaSecrets } from './client-options.js';
import { KAFKA_TOPIC_RULE, type KafkaClientName, checkKafkaExporterOptions, isKafkaTopicName } from './config.js';
import { KafkaJsClient } from './kafkajs-client.js';
import { PlatformaticKafkaClient } from './platformatic-client.js';
import type { KafkaClient, KafkaFailureKind, KafkaRecord, KafkaTopicRecords } from './seam.js';
import { type OutgoingTopic, type Refused, type SendOutcome, SendPath } from './send-path.js';

/**
 * The client the exporter uses when `client` is not given: @platformatic/kafka, maintained, and
 * faster and lighter on CPU than kafkajs in the Kafka benchmark (see README, "Choosing a client").
 */
export const DEFAULT_KAFKA_CLIENT: KafkaClientName = 'platformatic';

/**
 * Options of a {@link KafkaExporter}: the connection options of the built-in clients (`brokers`,
 * `clientId`, `ssl`, `sasl`, `gzip`, timeouts — `brokers` required unless `client` is a client object),
 * plus:
 */
export interface KafkaExporterOptions<E extends TelemetryEvent = Recorded<TelemetryEvent>> extends Omit<KafkaClientOptions, 'brokers' | 'logger'> {
  /** Bootstrap brokers, `host:port`. Required (unless `client` is a client object), at least one. */
  brokers?: readonly string[];
  /** The topic: one name, or a function choosing it per event. Required. */
  topic: string | ((event: E) => string);
  /**
   * The record key, which picks the partition (events with one key stay in order). Return `null` for
   * no key. Default: the flag evaluation's `targetingKey`, else its `flagKey`, else the event `id`.
   */
  key?: (event: E) => string | null;
  /**
   * The Kafka library: `"platformatic"` (@platformatic/kafka) or `"kafkajs"`, built from the options
   * above; or a {@link KafkaClient} of your own (`brokers`, `ssl`, `sasl`, ... then do not apply).
   * Default `"platformatic"`.
   */
  client?: KafkaClientName | KafkaClient;
  /**
   * Records whose key and encoded value together are longer than this many bytes are answered `too_large` without being
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
  /**
   * When the cluster refuses the credentials or the permission to write (SASL authentication, topic or
   * cluster authorization): `true` answers `retry` (within the processor's retry budget: a rotated
   * credential or a fixed ACL loses nothing), `false` answers `reject` (the batch is dropped). Either way
   * the failure is flagged `auth`: the processor counts it and logs it at error level, at most once per
   * 30 s. Default `true`.
   */
  retryAuthFailures?: boolean;
  /** Name in logs and metric labels. Default `"kafka"`. */
  name?: string;
  /** Where the client's own warnings go, secrets masked, and the warning about a missing topic. Default: the console. */
  logger?: Logger;
}

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
 * type and the schema version. All exports go through one sequential send path: one request in flight,
 * the batches that arrive meanwhile sent together in the next request, nothing sent after a failed
 * batch — so records with one key keep their order (`ordered`). Connects on the first export; after
 * any failure it opens a new producer session. Classifies failures (retry, auth, reject, too large) and
 * leaves retrying to the processor.
 */
export class KafkaExporter<E extends TelemetryEvent = Recorded<TelemetryEvent>> implements Exporter<E> {
  readonly name: string;
  readonly encoder: Encoder<E> | undefined;
  /** Batches are delivered in the order they are exported; the processor keeps that order across retries. */
  readonly ordered = true;
  readonly #path: SendPath;
  readonly #topic: (event: E) => string;
  readonly #key: (event: E) => string | null;
  readonly #contentType: string;
  readonly #schemaVersion: string;
  readonly #maxRecordBytes: number;
  readonly #retryAuthFailures: boolean;
  readonly #secrets: readonly string[];
  #shutdown: Promise<void> | undefined;

  constructor(options: KafkaExporterOptions<E>) {
    checkKafkaExporterOptions(options);
    const { topic } = options;
    this.#topic = typeof topic === 'string' ? () => topic : topic;
    this.#key = options.key ?? defaultKafkaKey;
    this.#contentType = options.contentType ?? 'application/json';
    this.#schemaVersion = options.schemaVersion ?? '1';
    this.#maxRecordBytes = options.maxRecordBytes ?? 1_048_576;
    this.#retryAuthFailures = options.retryAuthFailures ?? true;
    this.#secrets = kafkaSecrets(options);
    this.encoder = options.encoder;
    this.name = options.name ?? 'kafka';
    const logger = options.logger ?? consoleLogger;
    this.#path = new SendPath(clientFor(options, logger), (topic) => {
      logger.warn(
        `exporter ${this.name}: topic "${topic}" does not exist, and the cluster did not create it on first use (auto.create.topics.enable is off, or this client may not create topics): its batches are retried until the topic is created or the retry budget runs out`,
        { exporter: this.name, topic },
      );
    });
  }

  async export(batch: ExportBatch<E>, signal: AbortSignal): Promise<ExportResult> {
    if (this.#shutdown !== undefined) {
      return ExportResults.reject({ error: new TrackpipeError('TRACKPIPE_ERR_EXPORT_REJECTED', `exporter ${this.name} is shut down`) });
    }
    if (signal.aborted) return ExportResults.retry({ error: signal.reason });
    const { topics, keyBytes, failed, failure } = this.#records(batch);
    const oversized = this.#oversized(topics, batch.bytes + keyBytes);
    if (oversized !== undefined) return ExportResults.tooLarge({ error: oversized });
    let error = failure;
    if (topics.length > 0) {
      const outcome = await this.#path.send(topics, batch.bytes + keyBytes, signal, batch.events[0] as E);
      if (outcome.status !== 'sent') return this.#unsent(outcome, signal);
      if (outcome.refused !== undefined) {
        failed.push(...outcome.refused.indexes);
        error = this.#refusal(outcome.refused, failure);
      }
    }
    return failed.length === 0 ? ExportResults.ok() : ExportResults.reject({ indexes: failed, error });
  }

  /** Why events without a key were not sent (after `earlier`, the batch's other refusal, if any). */
  #refusal({ indexes, topics }: Refused, earlier: unknown): TrackpipeError {
    const names = topics.map((topic) => `"${topic}"`).join(', ');
    const what =
      `${indexes.length} ${indexes.length === 1 ? 'event' : 'events'} without a key not sent: ` +
      `${topics.length === 1 ? `topic ${names} is` : `topics ${names} are`} compacted (cleanup.policy=compact), and Kafka refuses records without a key there (INVALID_RECORD)`;
    // The message of the batch's other refusal, without its code (the new error has the same).
    const before = earlier instanceof TrackpipeError ? `${earlier.message.slice(earlier.code.length + 2)}; ` : `exporter ${this.name}: `;
    return new TrackpipeError('TRACKPIPE_ERR_EXPORT_REJECTED', `${before}${what}`, { details: { exporter: this.name } });
  }

  /** Disconnects. Idempotent; later exports answer `reject`. */
  shutdown(): Promise<void> {
    this.#shutdown ??= this.#path.close();
    return this.#shutdown;
  }

  /** The result for a batch that was not (known to be) delivered. */
  #unsent(outcome: Exclude<SendOutcome, { status: 'sent' }>, signal: AbortSignal): ExportResult {
    switch (outcome.status) {
      case 'aborted':
        return ExportResults.retry({ error: signal.reason });
      case 'closed':
        return ExportResults.retry({ error: new TrackpipeError('TRACKPIPE_ERR_EXPORT_RETRYABLE', `exporter ${this.name} was shut down before sending`, { retriable: true }) });
      case 'behind':
        return ExportResults.retry({ error: this.#error('retry', outcome.error, 'not sent, because a batch before it was not delivered') });
      case 'failed':
        return this.#failed(outcome.kind, outcome.error, outcome.batches);
    }
  }

  #failed(kind: KafkaFailureKind, cause: unknown, batches: number): ExportResult {
    switch (kind) {
      case 'retry':
        return ExportResults.retry({ error: this.#error('retry', cause) });
      case 'reject':
        return ExportResults.reject({ error: this.#error('reject', cause) });
      case 'too_large':
        // A request of several batches says nothing about each one: send them again (the send path
        // coalesces less from now on), and let a batch refused alone be split.
        return batches > 1
          ? ExportResults.retry({ error: this.#error('retry', cause, `a request of ${batches} batches was too large; they are sent again in smaller requests`) })
          : ExportResults.tooLarge({ error: this.#error('too_large', cause) });
      case 'auth': {
        const error = this.#error(this.#retryAuthFailures ? 'retry' : 'reject', cause, 'the cluster refused the credentials or the permission to write', true);
        return this.#retryAuthFailures ? ExportResults.retry({ error, auth: true }) : ExportResults.reject({ error, auth: true });
      }
    }
  }

  /**
   * A TrackpipeError describing a client failure (the whole cause chain), secrets masked; the original
   * is not kept (it may hold them). `details.auth` flags an auth failure.
   */
  #error(kind: 'retry' | 'reject' | 'too_large', cause: unknown, context?: string, auth = false): TrackpipeError {
    const code = kind === 'retry' ? 'TRACKPIPE_ERR_EXPORT_RETRYABLE' : kind === 'reject' ? 'TRACKPIPE_ERR_EXPORT_REJECTED' : 'TRACKPIPE_ERR_EXPORT_TOO_LARGE';
    const what = redact(describeChain(cause), this.#secrets);
    return new TrackpipeError(code, `exporter ${this.name}: ${context === undefined ? '' : `${context}: `}${what}`, {
      retriable: kind === 'retry',
      details: auth ? { exporter: this.name, auth: true } : { exporter: this.name },
    });
  }

  /**
   * An error naming the first record whose key and value together are longer than `maxRecordBytes`, if
   * any. `bytes` (the values' and keys' bytes in all) spares the count when even all of them fit.
   */
  #oversized(topics: readonly KafkaTopicRecords[], bytes: number): Error | undefined {
    if (bytes <= this.#maxRecordBytes) return undefined;
    for (const { records } of topics) {
      for (const { key, value } of records) {
        const size = Buffer.byteLength(value) + (key === null ? 0 : Buffer.byteLength(key));
        if (size > this.#maxRecordBytes) {
          return new TrackpipeError(
            'TRACKPIPE_ERR_EXPORT_TOO_LARGE',
            `exporter ${this.name}: a record of ${size} bytes (key and value) exceeds maxRecordBytes (${this.#maxRecordBytes})`,
          );
        }
      }
    }
    return undefined;
  }

  /** Builds the records, grouped by topic. Events whose name, topic or key cannot be read are left out. */
  #records(batch: ExportBatch<E>): { topics: OutgoingTopic[]; keyBytes: number; failed: number[]; failure: unknown } {
    const byTopic = new Map<string, { records: KafkaRecord[]; keyless?: number[] }>();
    const failed: number[] = [];
    /** The names already checked (a batch usually has one or a few). */
    const valid = new Set<string>();
    let failure: unknown;
    /** The keys' bytes: a request carries them too (the coalescing limit counts them). */
    let keyBytes = 0;
    const { events, encoded } = batch;
    for (let i = 0; i < events.length; i++) {
      const event = events[i] as E;
      let topic: string;
      let key: string | null;
      let name: string;
      try {
        // Read again: a getter (or code that changed the event after record()) may give something else now.
        const read: unknown = event.name;
        if (typeof read !== 'string' || read === '') throw new TypeError("the event's name is no longer a non-empty string");
        name = read;
        topic = this.#topic(event);
        key = this.#key(event);
        if (typeof topic !== 'string' || topic === '') throw new TypeError('the topic function returned no topic name');
        // The cluster refuses a request naming an invalid topic as a whole: that event alone is rejected.
        if (!valid.has(topic)) {
          if (!isKafkaTopicName(topic)) throw new TypeError(`the topic function returned a name Kafka refuses (it ${KAFKA_TOPIC_RULE})`);
          valid.add(topic);
        }
        if (key !== null && typeof key !== 'string') throw new TypeError('the key function returned neither a string nor null');
      } catch (error) {
        failed.push(i);
        // Redacted like every client error; what the function threw is not kept (it may hold secrets).
        failure ??= new TrackpipeError('TRACKPIPE_ERR_EXPORT_REJECTED', `exporter ${this.name}: ${redact(describeError(error), this.#secrets)}`);
        continue;
      }
      if (key !== null) keyBytes += Buffer.byteLength(key);
      const record: KafkaRecord = {
        key,
        value: encoded[i] as string,
        headers: { 'event-name': name, 'content-type': this.#contentType, 'schema-version': this.#schemaVersion },
      };
      let forTopic = byTopic.get(topic);
      if (forTopic === undefined) byTopic.set(topic, (forTopic = { records: [] }));
      forTopic.records.push(record);
      // Left out by the send path when the topic is compacted (see SendPath).
      if (key === null) (forTopic.keyless ??= []).push(i);
    }
    const topics = Array.from(byTopic, ([topic, { records, keyless }]): OutgoingTopic => (keyless === undefined ? { topic, records } : { topic, records, keyless }));
    return { topics, keyBytes, failed, failure };
  }
}

/** The client the options ask for. */
function clientFor(options: KafkaExporterOptions<never>, logger: Logger): KafkaClient {
  const client = options.client ?? DEFAULT_KAFKA_CLIENT;
  if (typeof client === 'object') return client;
  const { clientId, ssl, sasl, gzip, connectionTimeoutMs, requestTimeoutMs } = options;
  // checkKafkaExporterOptions made sure brokers are given when the client is built here.
  const settings: KafkaClientOptions = { brokers: options.brokers ?? [], clientId, ssl, sasl, gzip, connectionTimeoutMs, requestTimeoutMs, logger };
  return client === 'platformatic' ? new PlatformaticKafkaClient(settings) : new KafkaJsClient(settings);
}

/** `Name: message ← cause ← ...`: an error with what it wraps (causes, and the last of aggregated errors). */
function describeChain(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== undefined && current !== null; depth++) {
    const part = describeOne(current);
    if (!parts.includes(part)) parts.push(part);
    if (current instanceof AggregateError && current.errors.length > 0) current = current.errors[current.errors.length - 1];
    else current = current instanceof Error && current.cause !== current ? current.cause : undefined;
  }
  return parts.join(' ← ');
}

function describeOne(error: unknown): string {
  const message = describeError(error);
  if (!(error instanceof Error)) return message;
  const code = (error as { code?: unknown }).code;
  const label = error.name !== 'Error' ? error.name : typeof code === 'string' ? code : '';
  return label === '' || message.startsWith(label) ? message : `${label}: ${message}`;
}
