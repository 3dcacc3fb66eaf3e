// The receivers' contract and how the service checks and builds them, apart from the receiver types
// it ships (receivers.ts): those are loaded only for a configuration that has receivers.
import { BATCH_OPTIONS, type Collector, FanoutCollector, type TelemetryEvent } from '@trackpipe/core';
import { type ConfigIssue, issuesFromZod, safeErrorMap } from '@trackpipe/core/config';
import type { TrackpipeCollector } from '@trackpipe/core/di';
import type * as z from 'zod';
import { type ReceiverConfig, type ServiceConfig, receiverName, receiverOptions } from './config.js';
import type { ServiceLogger } from './logger.js';

/** A receiver's figures (counters since it was built, gauges now), read by the service's metrics at scrape time. */
export interface ReceiverStats {
  /** Records taken from the source, by topic (or stream). */
  readonly consumed: Readonly<Record<string, number>>;
  /** Records dropped before the pipelines, by reason. */
  readonly dropped: Readonly<Record<string, number>>;
  /** Offset commits accepted. */
  readonly commits: number;
  /** Offset commits that failed. */
  readonly commitFailures: number;
  /** Times the receiver joined its group with a new assignment. */
  readonly rebalances: number;
  /** Times partitions were paused because a pipeline was full. */
  readonly pauses: number;
  /** Partitions owned now. */
  readonly assignedPartitions: number;
  /** Partitions paused now. */
  readonly pausedPartitions: number;
  /** Lag per owned partition, in records. */
  readonly lag: readonly { readonly topic: string; readonly partition: number; readonly records: number }[];
}

/** What stopping a receiver came to. */
export interface ReceiverStopReport {
  /** Everything the receiver handed over was settled within the deadline. */
  readonly drained: boolean;
  /** Its position was committed (read again otherwise: at least once). */
  readonly committed: boolean;
  readonly durationMs: number;
}

/** A running source of events for the pipelines. */
export interface Receiver {
  /** Names it in logs and metric labels. */
  readonly name: string;
  /** Connects and starts handing events over. Rejects when it cannot. */
  start(): Promise<void>;
  /** Stops taking events, drains and commits within the deadline, disconnects. Idempotent. */
  stop(options?: { timeoutMs?: number }): Promise<ReceiverStopReport>;
  stats(): ReceiverStats;
}

/** What a receiver factory is told about the receiver it builds. */
export interface ReceiverContext {
  /** Config path of the entry, e.g. `receivers[0]`. */
  readonly path: string;
  /** The entry's `name` (default its `type`). */
  readonly name: string;
  /** The pipelines the entry names (all by default), as one collector: its `headroom()` answers for the fullest queue. */
  readonly collector: Collector<TelemetryEvent>;
  /** Where the receiver reports. */
  readonly logger: ServiceLogger;
}

/** Builds receivers of one config `type`. */
export interface ReceiverFactory<O = unknown> {
  readonly type: string;
  /** The schema of the receiver's options: its entry without `type`, `name` and `pipelines`, `${env:...}` already substituted. */
  readonly options: z.ZodType<O>;
  create(options: O, context: ReceiverContext): Receiver;
}

/** A receiver entry with its factory and validated options. */
export interface CheckedReceiver {
  readonly entry: ReceiverConfig;
  readonly factory: ReceiverFactory;
  readonly options: unknown;
  readonly path: string;
}

/**
 * The receiver factories by type for `receivers` entries: the service's (`kafka`, see
 * `SERVICE_RECEIVER_FACTORIES`), then `extra`. The service's are imported only when there is an
 * entry: a configuration without receivers never loads `@trackpipe/receiver-kafka` (kafkajs).
 */
export async function loadReceiverFactories(
  receivers: readonly ReceiverConfig[],
  extra: readonly ReceiverFactory[] = [],
): Promise<Map<string, ReceiverFactory>> {
  if (receivers.length === 0) return new Map(extra.map((factory) => [factory.type, factory]));
  const { receiverFactories } = await import('./receivers.js');
  return receiverFactories(extra);
}

/** Each receiver entry's factory and validated options; or the issues, by path (never a value). */
export function checkReceivers(
  receivers: readonly ReceiverConfig[],
  factories: ReadonlyMap<string, ReceiverFactory>,
): { issues: ConfigIssue[]; checked: CheckedReceiver[] } {
  const issues: ConfigIssue[] = [];
  const checked: CheckedReceiver[] = [];
  const known = [...factories.keys()].sort().join(', ');
  receivers.forEach((entry, i) => {
    const path = `receivers[${i}]`;
    const factory = factories.get(entry.type);
    if (factory === undefined) {
      issues.push({ path: `${path}.type`, message: `unknown receiver type (known: ${known})` });
      return;
    }
    const parsed = factory.options.safeParse(receiverOptions(entry), { error: safeErrorMap });
    if (!parsed.success) {
      issues.push(...issuesFromZod(parsed.error, path));
      return;
    }
    checked.push({ entry, factory, options: parsed.data, path });
  });
  return { issues, checked };
}

/**
 * Builds the checked receivers, each fed with the pipelines its entry names (a fan-out over them),
 * or with `collector` (every pipeline) when it names none.
 */
export function buildReceivers(
  checked: readonly CheckedReceiver[],
  collector: TrackpipeCollector<TelemetryEvent>,
  logger: ServiceLogger,
): Receiver[] {
  return checked.map(({ entry, factory, options, path }) => {
    const target: Collector<TelemetryEvent> =
      entry.pipelines === undefined ? collector : new FanoutCollector(entry.pipelines.map((name) => collector.pipelines.get(name)!));
    return factory.create(options, { path, name: receiverName(entry), collector: target, logger });
  });
}

/** Receivers that feed a pipeline able to reorder batches, for a start-up warning: per-partition order then holds only up to the pipeline. */
export function reorderingPipelines(config: ServiceConfig): { receiver: string; pipeline: string }[] {
  const out: { receiver: string; pipeline: string }[] = [];
  for (const entry of config.receivers) {
    const names = entry.pipelines ?? config.core.pipelines.map((p) => p.name);
    for (const name of names) {
      const pipeline = config.core.pipelines.find((p) => p.name === name);
      const concurrent = pipeline?.batch?.maxConcurrentExports ?? BATCH_OPTIONS.maxConcurrentExports.default;
      if (pipeline !== undefined && concurrent > 1 && pipeline.exporters.some((e) => e.type !== 'kafka')) out.push({ receiver: receiverName(entry), pipeline: name });
    }
  }
  return out;
}
