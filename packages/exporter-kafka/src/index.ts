export { classifyKafkaJsError } from './classify.js';
export { type KafkaExporterConfig, kafkaExporterConfig } from './config.js';
export { KafkaExporter, type KafkaExporterOptions, defaultKafkaKey } from './exporter.js';
export { KafkaJsClient, type KafkaJsClientOptions } from './kafkajs-client.js';
export type { KafkaClient, KafkaFailureKind, KafkaRecord, KafkaTopicRecords, ProducerSeam } from './seam.js';
