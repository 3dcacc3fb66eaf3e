// @trackpipe/receiver-kafka: reads what @trackpipe/exporter-kafka writes, as a consumer-group member, into pipelines.
export {
  KAFKA_CONSUMER_CLIENTS,
  type KafkaReceiverConfig,
  type KafkaReceiverConfigInput,
  kafkaReceiverConfigSchema,
} from './config.js';
export { MAX_BATCH_BYTES } from './bounds.js';
export { type Decoded, RECORD_DROP_REASONS, type RecordDropReason, decodeRecord } from './decode.js';
export { type KafkaReceiverContext, kafkaReceiverFactory } from './factory.js';
export { KafkaJsConsumerClient, type KafkaJsConsumerClientOptions } from './kafkajs-consumer.js';
export {
  KafkaReceiver,
  type KafkaReceiverOptions,
  type KafkaReceiverStats,
  type PartitionLag,
  type ReceiverLogger,
  type ReceiverStopReport,
} from './receiver.js';
export type {
  AdminSeam,
  ConsumerListener,
  ConsumerSeam,
  ConsumerSettings,
  DamagedBatch,
  FetchedBatch,
  FetchedRecord,
  HeaderValue,
  KafkaConsumerClient,
  PartitionOffsets,
  TopicPartition,
  TopicPartitionOffset,
} from './seam.js';
