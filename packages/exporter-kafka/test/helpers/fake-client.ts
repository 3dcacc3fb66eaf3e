// A hand-written fake of the KafkaClient seam: producers whose connect/send answer what the test scripts.
import type { KafkaClient, KafkaFailureKind, KafkaTopicRecords, ProducerSeam } from '@trackpipe/exporter-kafka';

/** An error the fake client classifies as `kind`. */
export class FakeKafkaError extends Error {
  constructor(readonly kind: KafkaFailureKind) {
    super(`fake ${kind} failure`);
  }
}

/** What a scripted call does: resolve, throw, or wait for the test to settle it. */
export type Step = 'ok' | Error | Deferred;

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

function play(step: Step | undefined): Promise<void> {
  if (step === undefined || step === 'ok') return Promise.resolve();
  if (step instanceof Deferred) return step.promise;
  return Promise.reject(step);
}

export class FakeProducer implements ProducerSeam {
  connects = 0;
  disconnects = 0;
  readonly sent: KafkaTopicRecords[][] = [];

  constructor(
    private readonly connectSteps: Step[],
    private readonly sendSteps: Step[],
  ) {}

  connect(): Promise<void> {
    this.connects++;
    return play(this.connectSteps.shift());
  }

  async send(records: readonly KafkaTopicRecords[]): Promise<void> {
    await play(this.sendSteps.shift());
    this.sent.push([...records]);
  }

  disconnect(): Promise<void> {
    this.disconnects++;
    return Promise.resolve();
  }
}

/** Each new producer takes the next scripts from `connectSteps` and `sendSteps` (shared queues). */
export class FakeKafkaClient implements KafkaClient {
  readonly producers: FakeProducer[] = [];
  readonly connectSteps: Step[] = [];
  readonly sendSteps: Step[] = [];

  producer(): ProducerSeam {
    const producer = new FakeProducer(this.connectSteps, this.sendSteps);
    this.producers.push(producer);
    return producer;
  }

  classify(error: unknown): KafkaFailureKind {
    return error instanceof FakeKafkaError ? error.kind : 'reject';
  }

  /** Every record sent through any producer, in order. */
  records(): KafkaTopicRecords['records'][number][] {
    return this.producers.flatMap((p) => p.sent.flatMap((send) => send.flatMap((t) => [...t.records])));
  }
}
