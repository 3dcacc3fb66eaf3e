import type { Collector, TelemetryEvent } from '@trackpipe/core';
import type * as z from 'zod';
import { kafkaReceiverConfigSchema } from './config.js';
import { KafkaReceiver, type ReceiverLogger } from './receiver.js';

/** What a receiver factory is told about the receiver it builds (the service's receiver context). */
export interface KafkaReceiverContext {
  /** Config path of the receiver entry, e.g. `receivers[0]`. */
  readonly path: string;
  /** The name the configuration gives the receiver (its entry's `name`, default its `type`). */
  readonly name: string;
  /** Where the events go: the pipelines the entry names. */
  readonly collector: Collector<TelemetryEvent>;
  /** Where the receiver reports. Never log secrets. */
  readonly logger: ReceiverLogger;
}

/**
 * Builds `type: "kafka"` receivers from a service configuration. The service validates each entry
 * with `options` ({@link kafkaReceiverConfigSchema}) first, naming every bad path, never a value.
 */
export const kafkaReceiverFactory = {
  type: 'kafka',
  options: kafkaReceiverConfigSchema,
  create(options: z.output<typeof kafkaReceiverConfigSchema>, context: KafkaReceiverContext): KafkaReceiver {
    return new KafkaReceiver({ ...options, name: context.name, logger: context.logger }, context.collector);
  },
} as const;
