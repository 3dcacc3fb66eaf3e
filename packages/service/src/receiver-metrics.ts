import { Counter, Gauge } from 'prom-client';
import type { Receiver } from './receiving.js';
import type { PromRegistry } from './service-metrics.js';

/** The receivers' metrics, by name. Labels are bounded: receiver (configured names), topic, partition (partitions are few per topic), reason, outcome. */
export const RECEIVER_METRICS = {
  consumed: 'trackpipe_receiver_records_consumed_total',
  dropped: 'trackpipe_receiver_records_dropped_total',
  commits: 'trackpipe_receiver_commits_total',
  rebalances: 'trackpipe_receiver_rebalances_total',
  pauses: 'trackpipe_receiver_pauses_total',
  assigned: 'trackpipe_receiver_assigned_partitions',
  paused: 'trackpipe_receiver_paused_partitions',
  lag: 'trackpipe_receiver_lag_records',
} as const;

/**
 * Registers the receivers' metrics in `registry`. Every figure is read from `receiver.stats()` when
 * the registry is collected: nothing is counted on the path of a record.
 */
export function instrumentReceivers(registry: PromRegistry, receivers: readonly Receiver[]): void {
  const registers = [registry];
  const each = <T>(read: (receiver: Receiver) => T, write: (name: string, value: T) => void): void => {
    for (const receiver of receivers) write(receiver.name, read(receiver));
  };
  new Counter({
    name: RECEIVER_METRICS.consumed,
    help: 'Records taken from the source (handed to the pipelines or dropped), by receiver and topic.',
    labelNames: ['receiver', 'topic'],
    registers,
    collect() {
      this.reset();
      each((r) => r.stats().consumed, (receiver, consumed) => {
        for (const [topic, n] of Object.entries(consumed)) this.inc({ receiver, topic }, n);
      });
    },
  });
  new Counter({
    name: RECEIVER_METRICS.dropped,
    help: 'Records dropped before the pipelines (their offsets are committed all the same), by receiver and reason: undecodable (not our encoding), invalid (JSON but not an event), corrupt (a record batch that cannot be decoded, one per batch).',
    labelNames: ['receiver', 'reason'],
    registers,
    collect() {
      this.reset();
      each((r) => r.stats().dropped, (receiver, dropped) => {
        for (const [reason, n] of Object.entries(dropped)) this.inc({ receiver, reason }, n);
      });
    },
  });
  new Counter({
    name: RECEIVER_METRICS.commits,
    help: 'Offset commits, by receiver and outcome (ok, failed). A failed commit is covered by a later one.',
    labelNames: ['receiver', 'outcome'],
    registers,
    collect() {
      this.reset();
      each((r) => r.stats(), (receiver, s) => {
        this.inc({ receiver, outcome: 'ok' }, s.commits);
        this.inc({ receiver, outcome: 'failed' }, s.commitFailures);
      });
    },
  });
  new Counter({
    name: RECEIVER_METRICS.rebalances,
    help: 'Times the receiver joined its consumer group with a new assignment (the first join included), by receiver.',
    labelNames: ['receiver'],
    registers,
    collect() {
      this.reset();
      each((r) => r.stats().rebalances, (receiver, n) => this.inc({ receiver }, n));
    },
  });
  new Counter({
    name: RECEIVER_METRICS.pauses,
    help: 'Times a partition was paused because a pipeline queue was above its high-water mark, by receiver.',
    labelNames: ['receiver'],
    registers,
    collect() {
      this.reset();
      each((r) => r.stats().pauses, (receiver, n) => this.inc({ receiver }, n));
    },
  });
  new Gauge({
    name: RECEIVER_METRICS.assigned,
    help: 'Partitions the receiver owns now (its share of the group), by receiver.',
    labelNames: ['receiver'],
    registers,
    collect() {
      this.reset();
      each((r) => r.stats().assignedPartitions, (receiver, n) => this.set({ receiver }, n));
    },
  });
  new Gauge({
    name: RECEIVER_METRICS.paused,
    help: 'Partitions paused now because a pipeline is full (records wait in Kafka), by receiver.',
    labelNames: ['receiver'],
    registers,
    collect() {
      this.reset();
      each((r) => r.stats().pausedPartitions, (receiver, n) => this.set({ receiver }, n));
    },
  });
  new Gauge({
    name: RECEIVER_METRICS.lag,
    help: 'Consumer lag of each partition the receiver owns: records written and not yet committed (log end offset minus the group committed offset), by receiver, topic and partition.',
    labelNames: ['receiver', 'topic', 'partition'],
    registers,
    collect() {
      this.reset();
      each((r) => r.stats().lag, (receiver, lag) => {
        for (const l of lag) this.set({ receiver, topic: l.topic, partition: String(l.partition) }, l.records);
      });
    },
  });
}
