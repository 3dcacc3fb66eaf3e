// Receivers: sources the service reads from besides its HTTP and gRPC ingest (Kafka today), each
// feeding the pipelines its configuration names. A receiver type is a factory, like an exporter type:
// `type`, a zod schema of its options, and `create`. The service checks every entry before building any.
import { kafkaReceiverFactory } from '@trackpipe/receiver-kafka';
import type { ReceiverFactory } from './receiving.js';

export {
  type Receiver,
  type ReceiverContext,
  type ReceiverFactory,
  type ReceiverStats,
  type ReceiverStopReport,
  checkReceivers,
} from './receiving.js';

/** The receiver types the service always knows: `kafka` (`@trackpipe/receiver-kafka`). Importing this loads it (kafkajs); `createService` and `checkServiceConfig` load it only for a configuration with receivers. */
export const SERVICE_RECEIVER_FACTORIES: readonly ReceiverFactory[] = [kafkaReceiverFactory];

/** The factories by type: the service's, then `extra` (which may replace one by type). */
export function receiverFactories(extra: readonly ReceiverFactory[] = []): Map<string, ReceiverFactory> {
  const byType = new Map<string, ReceiverFactory>();
  for (const factory of [...SERVICE_RECEIVER_FACTORIES, ...extra]) byType.set(factory.type, factory);
  return byType;
}
