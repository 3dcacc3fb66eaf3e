// A hand-written fake of the KafkaClient seam: producers whose connect/send answer what the test scripts.
import type { KafkaClient, KafkaFailureKind, KafkaRecord, KafkaTopicInfo, KafkaTopicRecords, ProducerSeam } from '@trackpipe/exporter-kafka';

/** An error the fake client classifies as `kind`. */
export class FakeKafkaError extends Error {
  constructor(
    readonly kind: KafkaFailureKind,
    message = `fake ${kind} failure`,
  ) {
    super(message);
  }
}

/** The records were written, but the answer says otherwise (a lost acknowledgement). */
export class WrittenThenFailed {
  constructor(readonly error: Error) {}
}

/** What a scripted call does: resolve, throw, write and throw, or wait for the test to settle it. */
export type Step = 'ok' | Error | WrittenThenFailed | Deferred;

export class Deferred {
  readonly promise: Promise<void>;
  resolve!: () => void;
  reject!: (error: Error) => void;
  constructor() {
    this.promise = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }
}

export class FakeProducer implements ProducerSeam {
  connects = 0;
  disconnects = 0;
  /** Every request this producer was asked to send, whatever became of it. */
  readonly requests: KafkaTopicRecords[][] = [];
  /** The requests whose records were written. */
  readonly sent: KafkaTopicRecords[][] = [];

  /** Present when the client has `topics`: answers from them (a topic absent there is left out; `error` throws). */
  readonly describeTopics?: (topics: readonly string[]) => Promise<ReadonlyMap<string, KafkaTopicInfo>>;

  constructor(private readonly client: FakeKafkaClient) {
    const known = client.topics;
    if (known !== undefined) {
      this.describeTopics = (topics) => {
        client.described.push([...topics]);
        if (known.get('*') === 'error') return Promise.reject(new FakeKafkaError('retry', 'fake describe failure'));
        const infos = new Map<string, KafkaTopicInfo>();
        for (const topic of topics) {
          const info = known.get(topic);
          if (info !== undefined && info !== 'error') infos.set(topic, info);
        }
        return Promise.resolve(infos);
      };
    }
  }

  connect(): Promise<void> {
    this.connects++;
    return this.client.play(this.client.connectSteps.shift());
  }

  async send(records: readonly KafkaTopicRecords[]): Promise<void> {
    const client = this.client;
    this.requests.push([...records]);
    client.active++;
    client.maxActive = Math.max(client.maxActive, client.active);
    try {
      const step = client.sendSteps.shift() ?? client.nextStep?.();
      if (step instanceof WrittenThenFailed) {
        this.written(records);
        throw step.error;
      }
      await client.play(step);
      this.written(records);
    } finally {
      client.active--;
    }
  }

  disconnect(): Promise<void> {
    this.disconnects++;
    return Promise.resolve();
  }

  private written(records: readonly KafkaTopicRecords[]): void {
    this.sent.push([...records]);
    for (const { records: list } of records) this.client.log.push(...list);
  }
}

/** Each new producer takes the next scripts from `connectSteps` and `sendSteps` (shared queues). */
export class FakeKafkaClient implements KafkaClient {
  readonly producers: FakeProducer[] = [];
  readonly connectSteps: Step[] = [];
  readonly sendSteps: Step[] = [];
  /** Decides the step of a send when `sendSteps` is empty (default: ok). */
  nextStep: (() => Step) | undefined;
  /** Every record written, in the order the "broker" wrote them. */
  readonly log: KafkaRecord[] = [];
  /** What producers' describeTopics answer (see FakeProducer); without it, they have none. `'*': 'error'` makes it throw. */
  topics: Map<string, KafkaTopicInfo | 'error'> | undefined;
  /** The topics of every describeTopics call, in order. */
  readonly described: string[][] = [];
  /** Sends in progress now, and the most there ever were at once. */
  active = 0;
  maxActive = 0;

  producer(): ProducerSeam {
    const producer = new FakeProducer(this);
    this.producers.push(producer);
    return producer;
  }

  classify(error: unknown): KafkaFailureKind {
    return error instanceof FakeKafkaError ? error.kind : 'reject';
  }

  play(step: Step | undefined): Promise<void> {
    if (step === undefined || step === 'ok') return Promise.resolve();
    if (step instanceof Deferred) return step.promise;
    if (step instanceof WrittenThenFailed) return Promise.reject(step.error);
    return Promise.reject(step);
  }

  /** Every record written through any producer, in order. */
  records(): KafkaRecord[] {
    return [...this.log];
  }

  /** Every request sent through any producer (written or not), in order. */
  requests(): KafkaTopicRecords[][] {
    return this.producers.flatMap((p) => p.requests);
  }
}
