import { DEFAULT_KAFKA_CLIENT } from '@trackpipe/exporter-kafka';
import { RawKafkaClient, TrackpipeKafkaClient, type TrackpipeKafkaVariant } from '../clients/kafka.js';
import type { BenchClient, ClientSettings } from '../clients/types.js';
import { type Metrics, type Scenario, processFigures } from '../harness.js';
import { BATCH_SIZE, BURST } from '../workload.js';
import { heldBroker, kafkaAt } from './broker.js';
import { orNull, recordInBursts } from './common.js';

/** The Trackpipe clients of this scenario by name (the default one, each Kafka library, and an experiment). */
const TRACKPIPE_VARIANTS: Readonly<Record<string, TrackpipeKafkaVariant>> = {
  'trackpipe-kafka': {},
  'trackpipe-kafka-kafkajs': { client: 'kafkajs' },
  'trackpipe-kafka-platformatic': { client: 'platformatic' },
  'trackpipe-kafka-c8': { concurrency: 8 },
};

/** Parameters of the Kafka scenario. */
export interface KafkaParams {
  /** Events per run. */
  readonly events: number;
  /** Deadline of the client's shutdown, in ms. */
  readonly deadlineMs: number;
  /** Runs only with a broker given in KAFKA_BROKERS (quick runs start none). */
  readonly onlyExternal: boolean;
}

/** The broker of this run (parent process only). */
let brokers: string | undefined;

/** Sum of the topic's partition high watermarks: the records written to it. */
async function recordsIn(address: string, topic: string): Promise<number> {
  const admin = kafkaAt(address, 'bench-check').admin();
  await admin.connect();
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((sum, partition) => sum + Number(partition.high), 0);
  } finally {
    await admin.disconnect();
  }
}

async function createTopic(address: string, topic: string): Promise<void> {
  const admin = kafkaAt(address, 'bench-check').admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true });
  } finally {
    await admin.disconnect();
  }
}

/** Scenario 6, Kafka: Trackpipe's Kafka exporter against a raw kafkajs producer, same batches, real broker. */
export const kafka: Scenario<KafkaParams> = {
  id: 'kafka',
  title: '6. Kafka: events per second to a real broker',
  params: (quick) => (quick ? { events: 20_000, deadlineMs: 60_000, onlyExternal: true } : { events: 200_000, deadlineMs: 120_000, onlyExternal: false }),
  clients: () => ['kafkajs-raw', 'trackpipe-kafka', `trackpipe-kafka-${DEFAULT_KAFKA_CLIENT === 'kafkajs' ? 'platformatic' : 'kafkajs'}`],
  accepts: (client) => client === 'kafkajs-raw' || Object.hasOwn(TRACKPIPE_VARIANTS, client),
  timeoutMs: (p) => p.deadlineMs + 120_000,
  describe: (p) =>
    `${p.events.toLocaleString('en')} events recorded in bursts of ${BURST.toLocaleString('en')} and sent in batches of ${BATCH_SIZE} to a single-node Apache Kafka 3.9 broker on 127.0.0.1 (tools/kafka; KRaft, a fresh 3-partition topic per run). ` +
    'Both clients write the same records (key = targeting key, value = the event as JSON, the same three headers), gzip-compressed, acks = all. ' +
    'The raw producer sends each batch as soon as it is full without waiting for the previous one; Trackpipe runs its defaults (2 exports in flight; idempotent producer, one request in flight, the batches that arrive meanwhile sent together in the next request), ' +
    `with its default Kafka library (${DEFAULT_KAFKA_CLIENT}) as \`trackpipe-kafka\` and each library by name as \`trackpipe-kafka-kafkajs\` and \`trackpipe-kafka-platformatic\` (@platformatic/kafka). ` +
    '**events/s** = events ÷ time from `go` until shutdown returned (everything acknowledged); **records in topic** checks that every event was written.',
  columns: [
    { key: 'eventsPerSec', label: 'events/s', digits: 0, ratio: true },
    { key: 'cpuUsPerEvent', label: 'CPU µs/event', digits: 2, ratio: true },
    { key: 'maxRssMb', label: 'peak RSS MB', digits: 0 },
    { key: 'recordsInTopic', label: 'records in topic', digits: 0 },
  ],

  setup: (params, log) => heldBroker('kafka', params.onlyExternal, log, (address) => (brokers = address)),

  async createClient(name: string, settings: ClientSettings): Promise<BenchClient> {
    if (name === 'kafkajs-raw') return RawKafkaClient.create(settings);
    const variant = Object.hasOwn(TRACKPIPE_VARIANTS, name) ? TRACKPIPE_VARIANTS[name] : undefined;
    if (variant === undefined) throw new Error(`unknown Kafka client ${name}`);
    return TrackpipeKafkaClient.create(name, settings, variant);
  },

  async runOne({ spawn, params, idPrefix }) {
    if (brokers === undefined) throw new Error('no broker');
    const topic = `bench-${idPrefix.replace(/[^A-Za-z0-9]/g, '')}`;
    await createTopic(brokers, topic);
    const child = await spawn({ sinkUrl: 'http://127.0.0.1:9', queueSize: params.events, batchSize: BATCH_SIZE, kafka: { brokers, topic } });
    child.send({ type: 'go' });
    const metrics = await child.result();
    const recordsInTopic = await recordsIn(brokers, topic);
    const elapsed = metrics.totalMs as number;
    return {
      ...metrics,
      recordsInTopic,
      eventsPerSec: recordsInTopic >= params.events ? params.events / (elapsed / 1000) : null,
      cpuUsPerEvent: ((metrics.cpuMs as number) * 1000) / params.events,
    };
  },

  async child({ client, params, idPrefix }) {
    const cpu = process.cpuUsage();
    const t0 = performance.now();
    const recorded = await recordInBursts(client, params.events, idPrefix);
    const outcome = await client.shutdown(params.deadlineMs);
    const metrics: Metrics = {
      events: params.events,
      recorded,
      totalMs: performance.now() - t0,
      shutdownReturned: outcome.returned,
      reportedDrops: orNull(outcome.reportedDrops),
      ...processFigures(cpu),
    };
    return metrics;
  },
};
