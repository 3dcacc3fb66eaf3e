export { type KafkaClientOptions, kafkaSecrets } from './client-options.js';
export {
  KAFKA_CLIENTS,
  type KafkaClientName,
  type KafkaExporterConfig,
  type KafkaSaslOptions,
  SASL_MECHANISMS,
  kafkaExporterConfigSchema,
} from './config.js';
export { DEFAULT_KAFKA_CLIENT, KafkaExporter, type KafkaExporterOptions, defaultKafkaKey } from './exporter.js';
export { classifyKafkaJsError } from './kafkajs-classify.js';
export { KafkaJsClient, type KafkaJsClientOptions, kafkaJsLogCreator } from './kafkajs-client.js';
export { classifyPlatformaticError } from './platformatic-classify.js';
export { PlatformaticKafkaClient, type PlatformaticKafkaClientOptions } from './platformatic-client.js';
export type { KafkaClient, KafkaFailureKind, KafkaRecord, KafkaTopicInfo, KafkaTopicRecords, ProducerSeam } from './seam.js';
