// The one sequential send path of a KafkaExporter: one request in flight at a time, the batches that
// arrive meanwhile coalesced into the next request in arrival order, and nothing sent after a failure
// that came before it. This is what keeps records with one key in order across concurrent exports,
// retries and reconnects (see README, "Order").
import type { KafkaClient, KafkaFailureKind, KafkaRecord, KafkaTopicInfo, KafkaTopicRecords, ProducerSeam } from './seam.js';

/**
 * Uncompressed bytes (the sum of the batches' `bytes`) one coalesced request may carry at most. A
 * single batch always goes, whatever its size. Lowered for good when the cluster refuses a coalesced
 * request as too large.
 */
export const MAX_COALESCED_BYTES = 1_048_576;

/** The records of one batch that go to one topic, with the batch indexes of those without a key. */
export interface OutgoingTopic extends KafkaTopicRecords {
  /** Batch indexes of the records whose key is `null`, in record order; absent when there are none. */
  readonly keyless?: readonly number[];
}

/** Records of a batch left out of the request: they had no key, and their topic is compacted. */
export interface Refused {
  /** Their batch indexes. */
  readonly indexes: readonly number[];
  /** Their topics. */
  readonly topics: readonly string[];
}

/** How one batch's send came out. */
export type SendOutcome =
  /** The cluster acknowledged every record of the batch sent; `refused` were not sent (see {@link Refused}). */
  | { readonly status: 'sent'; readonly refused?: Refused }
  /** Its signal aborted before the request carrying it was answered; the batch may or may not have been written. */
  | { readonly status: 'aborted' }
  /** Not sent: a batch before it failed or was aborted unsent, and nothing may overtake a batch going back to the processor. */
  | { readonly status: 'behind'; readonly error: unknown }
  /** Not sent: the path was closed (shutdown). */
  | { readonly status: 'closed' }
  /**
   * The request carrying it (with `batches` batches in all) failed. `kind` is the client's
   * classification, or `retry` when the session had been abandoned under the request (its failure
   * then says nothing about the records).
   */
  | { readonly status: 'failed'; readonly kind: KafkaFailureKind; readonly error: unknown; readonly batches: number };

interface Entry {
  readonly topics: readonly OutgoingTopic[];
  /** What the request carrying it sends of it: `topics`, less the records refused (see #prepare). */
  sending: readonly KafkaTopicRecords[];
  refused: Refused | undefined;
  readonly bytes: number;
  /** The batch's first event: the same object starts the batch (or its first half) when it is sent again. */
  readonly first: object;
  readonly signal: AbortSignal;
  readonly resolve: (outcome: SendOutcome) => void;
  readonly onAbort: () => void;
  settled: boolean;
}

/** A producer session: connected once, abandoned (and disconnected) after any failure. */
interface Session {
  readonly producer: ProducerSeam;
  readonly connected: Promise<void>;
  abandoned: boolean;
  /** Topics this session could not describe: not asked again through it. */
  readonly undescribable: Set<string>;
}

const SENT: SendOutcome = Object.freeze({ status: 'sent' });
const ABORTED: SendOutcome = Object.freeze({ status: 'aborted' });
const CLOSED: SendOutcome = Object.freeze({ status: 'closed' });

/**
 * Sends batches through one producer session at a time, one request at a time. Internal to
 * KafkaExporter; exported for tests.
 */
export class SendPath {
  readonly #client: KafkaClient;
  /** Batches waiting for the next request, in arrival order. */
  #waiting: Entry[] = [];
  /** The batches of the request in flight. */
  #inFlight: Entry[] = [];
  #running = false;
  #closed = false;
  #session: Session | undefined;
  /** Settles once the last abandoned session is disconnected; a new session connects only after it. */
  #disconnected: Promise<void> = Promise.resolve();
  #coalesceLimit = MAX_COALESCED_BYTES;
  /** Why batches are refused until the end of this turn of the event loop, or until one comes back (see #sendBack). */
  #refusal: SendOutcome | undefined;
  /** The first events of the batches going back to the processor since the refusal began, and of those it refused (see #sendBack). */
  #returned = new WeakSet<object>();
  /** The topics described as existing: true when compacted (their records without a key are refused). */
  readonly #compacted = new Map<string, boolean>();
  /** The topics known to exist: described so, or delivered to. */
  readonly #existing = new Set<string>();
  /** Topics of failed requests not known to exist: described before the next request. */
  readonly #suspects = new Set<string>();
  /**
   * Suspects described as missing: how many times in a row (reported to `onMissingTopic` at the second:
   * the first may be a topic the cluster is still creating), or `reported`.
   */
  readonly #missing = new Map<string, number | 'reported'>();
  /** Topics described again after a refused request (see #recheck), until a request to them is delivered. */
  readonly #rechecked = new Set<string>();
  readonly #onMissingTopic: ((topic: string) => void) | undefined;

  /**
   * `onMissingTopic` hears of a topic that failed requests went to and that the cluster then described
   * as missing twice in a row (once per topic, until it is seen to exist).
   */
  constructor(client: KafkaClient, onMissingTopic?: (topic: string) => void) {
    this.#client = client;
    this.#onMissingTopic = onMissingTopic;
  }

  /** Bytes a coalesced request may carry now (see {@link MAX_COALESCED_BYTES}). */
  get coalesceLimit(): number {
    return this.#coalesceLimit;
  }

  /**
   * Queues one batch's records for the next request. Resolves (never rejects) with what became of
   * them. A batch whose `signal` aborts while it waits is removed unsent, and so are the batches
   * behind it (`behind`); one whose signal aborts while its request is in flight is answered at once,
   * and that session is not used again. `first` is the batch's first event (any object that starts the
   * batch, and its first half, each time the batch is sent again).
   */
  send(topics: readonly OutgoingTopic[], bytes: number, signal: AbortSignal, first: object): Promise<SendOutcome> {
    if (this.#closed) return Promise.resolve(CLOSED);
    if (signal.aborted) return Promise.resolve(ABORTED);
    if (this.#refusal !== undefined) {
      if (!this.#returned.has(first)) {
        this.#returned.add(first);
        return Promise.resolve(this.#refusal);
      }
      this.#refusal = undefined;
    }
    return new Promise<SendOutcome>((resolve) => {
      const entry: Entry = { topics, sending: topics, refused: undefined, bytes, first, signal, resolve, onAbort: () => this.#aborted(entry), settled: false };
      signal.addEventListener('abort', entry.onAbort, { once: true });
      this.#waiting.push(entry);
      if (!this.#running) {
        this.#running = true;
        // One microtask later: exports started in the same tick (the processor starts several at
        // once) go out together in the first request.
        void Promise.resolve().then(() => this.#run());
      }
    });
  }

  /** Answers the waiting batches `closed`, abandons the session and waits until it is disconnected. Idempotent. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const entry of this.#waiting.splice(0)) this.#settle(entry, CLOSED);
    if (this.#session !== undefined) this.#abandon(this.#session);
    await this.#disconnected;
  }

  async #run(): Promise<void> {
    try {
      while (this.#waiting.length > 0 && !this.#closed) {
        const group = this.#take();
        this.#inFlight = group;
        let session: Session | undefined;
        let records: readonly KafkaTopicRecords[] | undefined;
        let failure: { error: unknown } | undefined;
        try {
          session = this.#open();
          await session.connected;
          records = await this.#prepare(group, session);
          if (records.length > 0) await session.producer.send(records);
        } catch (error) {
          failure = { error };
        }
        this.#inFlight = [];
        if (failure === undefined) {
          for (const { topic } of records ?? []) {
            this.#existing.add(topic);
            this.#suspects.delete(topic);
            this.#missing.delete(topic);
            this.#rechecked.delete(topic);
          }
          for (const entry of group) this.#settle(entry, entry.refused === undefined ? SENT : { status: 'sent', refused: entry.refused });
          continue;
        }
        const abandoned = session?.abandoned === true;
        if (session !== undefined) this.#abandon(session);
        let kind = abandoned ? 'retry' : this.#classify(failure.error);
        if (kind === 'reject' && records !== undefined && this.#recheck(group)) kind = 'retry';
        // A request that reached the cluster and failed: its topics not known to exist are described
        // before the next one (a missing topic, on a cluster that does not create topics, is reported).
        if (!abandoned && records !== undefined) {
          for (const { topic } of records) if (!this.#existing.has(topic)) this.#suspects.add(topic);
        }
        if (kind === 'too_large') {
          // Coalesce less from now on (strictly less than what was refused): the batches of a refused
          // request may each fit, and the halves of a refused batch, sent together again, would make
          // the same request.
          const bytes = group.reduce((sum, entry) => sum + entry.bytes, 0);
          this.#coalesceLimit = Math.max(1, Math.min(this.#coalesceLimit, bytes - 1));
        }
        const failed: SendOutcome = { status: 'failed', kind, error: failure.error, batches: group.length };
        for (const entry of group) this.#settle(entry, failed);
        // Nothing may be written after a batch that failed before it: the waiting batches go back
        // to the processor, which retries them after the failed ones, in order.
        this.#sendBack(group, this.#waiting.splice(0), failure.error);
      }
    } finally {
      this.#running = false;
    }
  }

  /**
   * The records of the next request. Asks the cluster first (when the session can) about the topics it
   * does not know yet and that matter: those this request sends records without a key to (a compacted
   * topic refuses them, failing every record of their partition), and its suspects not yet reported
   * (see #run). Records without a key to a compacted topic are left out, and noted in their entry's
   * `refused`.
   */
  async #prepare(group: readonly Entry[], session: Session): Promise<readonly KafkaTopicRecords[]> {
    if (session.producer.describeTopics !== undefined) {
      const wanted = new Set<string>();
      for (const entry of group) {
        for (const { topic, keyless } of entry.topics) {
          if (session.undescribable.has(topic)) continue;
          const suspect = this.#suspects.has(topic) && this.#missing.get(topic) !== 'reported';
          if (suspect || (keyless !== undefined && keyless.length > 0 && !this.#compacted.has(topic))) wanted.add(topic);
        }
      }
      if (wanted.size > 0) await this.#describe(session, [...wanted]);
    }
    for (const entry of group) {
      let indexes: number[] | undefined;
      const topics: string[] = [];
      const sending: KafkaTopicRecords[] = [];
      for (const outgoing of entry.topics) {
        const { topic, records, keyless } = outgoing;
        if (keyless === undefined || keyless.length === 0 || this.#compacted.get(topic) !== true) {
          sending.push(outgoing);
          continue;
        }
        (indexes ??= []).push(...keyless);
        topics.push(topic);
        const keyed = records.filter((record) => record.key !== null);
        if (keyed.length > 0) sending.push({ topic, records: keyed });
      }
      if (indexes !== undefined) {
        entry.sending = sending;
        entry.refused = { indexes, topics };
      }
    }
    return merge(group);
  }

  /**
   * After a request was refused for good: when it sent records without a key to topics described as
   * not compacted, forgets what they were, so that they are described again before the next request,
   * and says so (the batches are then retried rather than dropped). A topic switched to compact since
   * refuses those records (INVALID_RECORD); once described again, they are left out. Once per topic
   * until a request to it is delivered: a refusal for another reason comes back, and is final then.
   */
  #recheck(group: readonly Entry[]): boolean {
    let again = false;
    for (const entry of group) {
      for (const { topic, keyless } of entry.topics) {
        if (keyless === undefined || keyless.length === 0 || this.#compacted.get(topic) !== false || this.#rechecked.has(topic)) continue;
        this.#compacted.delete(topic);
        this.#rechecked.add(topic);
        again = true;
      }
    }
    return again;
  }

  /** Asks the cluster about `topics` through the session, and notes what it says. */
  async #describe(session: Session, topics: readonly string[]): Promise<void> {
    let infos: ReadonlyMap<string, KafkaTopicInfo>;
    try {
      infos = (await session.producer.describeTopics?.(topics)) ?? new Map<string, KafkaTopicInfo>();
    } catch {
      // The cluster could not be asked: the records go as they are; the send says the rest.
      infos = new Map<string, KafkaTopicInfo>();
    }
    for (const topic of topics) {
      const info = infos.get(topic);
      if (info === undefined) {
        session.undescribable.add(topic);
      } else if (info.exists) {
        this.#compacted.set(topic, info.compacted);
        this.#existing.add(topic);
        this.#suspects.delete(topic);
        this.#missing.delete(topic);
      } else if (this.#suspects.has(topic)) {
        const times = this.#missing.get(topic) ?? 0;
        if (times === 'reported') continue;
        this.#missing.set(topic, times + 1 >= 2 ? 'reported' : times + 1);
        // Once reported, not asked about again: the first request delivered to it clears the report.
        if (times + 1 >= 2) this.#onMissingTopic?.(topic);
      }
    }
  }

  /** The next request's batches: the first waiting one, and those behind it within the coalescing limit. */
  #take(): Entry[] {
    const first = this.#waiting.shift() as Entry;
    const group = [first];
    let bytes = first.bytes;
    while (this.#waiting.length > 0) {
      const next = this.#waiting[0] as Entry;
      if (bytes + next.bytes > this.#coalesceLimit) break;
      this.#waiting.shift();
      group.push(next);
      bytes += next.bytes;
    }
    return group;
  }

  #open(): Session {
    if (this.#session !== undefined && !this.#session.abandoned) return this.#session;
    const producer = this.#client.producer();
    const connected = this.#disconnected.then(() => producer.connect());
    connected.catch(() => undefined); // awaited by #run
    this.#session = { producer, connected, abandoned: false, undescribable: new Set() };
    return this.#session;
  }

  /**
   * Drops a session after a failure or an abort. An idempotent producer whose request failed may have
   * had some partitions written and others not: only a new producer (a new producer id) goes on
   * safely. A new session also reconnects after a connection loss.
   */
  #abandon(session: Session): void {
    if (session.abandoned) return;
    session.abandoned = true;
    if (this.#session === session) this.#session = undefined;
    this.#disconnected = Promise.resolve()
      .then(() => session.producer.disconnect())
      .catch(() => undefined);
  }

  #aborted(entry: Entry): void {
    const waiting = this.#waiting.indexOf(entry);
    if (waiting >= 0) {
      // Going back to the processor, it may not be overtaken: the batches behind it go back too.
      this.#waiting.splice(waiting, 1);
      this.#sendBack([entry], this.#waiting.splice(waiting), entry.signal.reason);
    } else if (this.#inFlight.includes(entry) && this.#session !== undefined) {
      // The request goes on (#run still waits for it before the next one), but a session that made a
      // batch wait this long is not trusted with another request.
      this.#abandon(this.#session);
    }
    this.#settle(entry, ABORTED);
  }

  /**
   * After `returning` went back to the processor (failed, or aborted while waiting), answers `entries`
   * (all waiting behind them) `behind`, and
   * refuses the batches that arrive next the same way: the processor may have started them before it
   * heard of the failure (it hears in promise callbacks, within this turn of the event loop), and they
   * must not overtake the batch going back. The refusal ends with this turn, or as soon as a batch
   * answered unsent or failed comes back (its first event is known): the processor heard of that answer,
   * so the batches it started before hearing have all arrived (exports arrive in the order they were
   * started), and an ordered processor sends the batches going back first. Coming back within the turn
   * is what a split batch's halves do, and any batch retried with no backoff: refused, each would be
   * retried again, and with a backoff of 0 ms the processor would loop in promise callbacks for ever.
   */
  #sendBack(returning: readonly Entry[], entries: readonly Entry[], error: unknown): void {
    if (this.#refusal === undefined) {
      this.#returned = new WeakSet();
      setImmediate(() => {
        this.#refusal = undefined;
      });
    }
    for (const entry of returning) this.#returned.add(entry.first);
    const behind: SendOutcome = { status: 'behind', error };
    for (const entry of entries) {
      this.#returned.add(entry.first);
      this.#settle(entry, behind);
    }
    this.#refusal = behind;
  }

  #classify(error: unknown): KafkaFailureKind {
    try {
      return this.#client.classify(error);
    } catch {
      return 'reject';
    }
  }

  #settle(entry: Entry, outcome: SendOutcome): void {
    if (entry.settled) return;
    entry.settled = true;
    entry.signal.removeEventListener('abort', entry.onAbort);
    entry.resolve(outcome);
  }
}

/** The records of several batches in one request: per topic, in arrival order. */
function merge(group: readonly Entry[]): readonly KafkaTopicRecords[] {
  if (group.length === 1) return (group[0] as Entry).sending;
  const byTopic = new Map<string, KafkaRecord[]>();
  for (const entry of group) {
    for (const { topic, records } of entry.sending) {
      const list = byTopic.get(topic);
      if (list === undefined) byTopic.set(topic, [...records]);
      else for (const record of records) list.push(record);
    }
  }
  return Array.from(byTopic, ([topic, records]) => ({ topic, records }));
}
