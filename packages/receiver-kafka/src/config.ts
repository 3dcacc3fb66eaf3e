// One validation path for the receiver's options: the schemas below check what a config file gives the
// factory and what code gives the KafkaReceiver constructor, and hold every default. The connection
// options are the Kafka exporter's own (brokers, clientId, ssl, sasl, timeouts): same names, same rules.
// Errors name the path of the bad field and never its value (core's safeErrorMap words every issue).
import { TrackpipeError } from '@trackpipe/core';
import { issuesFromZod, safeErrorMap, unreadableOptions } from '@trackpipe/core/config';
import { MAX_TIMER_MS } from '@trackpipe/core/internal';
import { kafkaExporterConfigSchema } from '@trackpipe/exporter-kafka';
import * as z from 'zod';

/** The Kafka libraries the receiver can use by name. */
export const KAFKA_CONSUMER_CLIENTS = ['kafkajs'] as const;

const text = z.string().min(1);
// Longer timers fire at once in Node.
const MS_RULE = (min: number): string => `must be an integer number of ms from ${min} to ${MAX_TIMER_MS}`;
const ms = (min: number) =>
  z
    .int({ error: MS_RULE(min) })
    .min(min, { error: MS_RULE(min) })
    .max(MAX_TIMER_MS, { error: MS_RULE(min) });
/** A fetch size: Kafka's fetch request carries it as an int32. */
const BYTES_RULE = 'must be an integer number of bytes from 1 to 2147483647';
/** A topic name Kafka accepts, by the exporter's rule. */
const topicName = kafkaExporterConfigSchema.shape.topic;
const share = z.number({ error: 'must be a number in (0, 1]' }).gt(0, { error: 'must be a number in (0, 1]' }).max(1, { error: 'must be a number in (0, 1]' });

/** The connection options, exactly as the Kafka exporter declares them. */
const connection = kafkaExporterConfigSchema.pick({
  brokers: true,
  clientId: true,
  ssl: true,
  sasl: true,
  connectionTimeoutMs: true,
  requestTimeoutMs: true,
}).shape;

const settings = {
  /** One topic to read. Give `topic` or `topics`. */
  topic: topicName.optional(),
  /** Several topics to read. Give `topic` or `topics`. */
  topics: z.array(topicName).min(1).optional(),
  /** The consumer group: instances with the same one share the partitions. Default "trackpipe". */
  groupId: text.default('trackpipe'),
  /** Where a partition the group never committed starts: "earliest" (its first record) or "latest". Default "earliest". */
  initialOffset: z.enum(['earliest', 'latest']).default('earliest'),
  /** How often settled offsets are committed (a flush of the pipelines first), in ms. Default 1 000. */
  commitIntervalMs: ms(10).default(1_000),
  /** On a rebalance, how long the receiver waits for the pipelines to settle what it handed over before it rejoins, in ms. Default 10 000. */
  drainTimeoutMs: ms(0).default(10_000),
  /** Pause partitions when a pipeline queue is this full (share of its capacity); hand over only what fits below it. Default 0.9. */
  highWaterMark: share.default(0.9),
  /** Resume paused partitions once every pipeline queue is below this share of its capacity (less than highWaterMark). Default 0.5. */
  lowWaterMark: share.default(0.5),
  /** The group drops a member it has not heard from for this long, in ms (the broker allows 6 000 to 300 000 by default). Default 30 000. */
  sessionTimeoutMs: ms(1).default(30_000),
  /** Heartbeats are sent at most this often, in ms (less than sessionTimeoutMs; a third of it or less). Default 3 000. */
  heartbeatIntervalMs: ms(1).default(3_000),
  /** How long the group waits for its members to rejoin in a rebalance, in ms (more than drainTimeoutMs). Default 60 000. */
  rebalanceTimeoutMs: ms(1).default(60_000),
  /** Most bytes one fetch brings per partition. Default 131 072 (see the README: smaller fetches overlap, and bound memory). */
  maxBytesPerPartition: z
    .int({ error: BYTES_RULE })
    .min(1, { error: BYTES_RULE })
    .max(2_147_483_647, { error: BYTES_RULE })
    .default(131_072),
  /** How long the broker holds an empty fetch open, in ms (also how long a disconnect may wait for it). Default 1 000. */
  maxWaitTimeMs: ms(0).default(1_000),
  /** How often the lag figures are read from the cluster, in ms. Default 5 000. */
  lagIntervalMs: ms(100).default(5_000),
};

function crossChecks(options: Record<string, unknown>, ctx: z.core.$RefinementCtx): void {
  const { topic, topics, highWaterMark, lowWaterMark, heartbeatIntervalMs, sessionTimeoutMs, drainTimeoutMs, rebalanceTimeoutMs } = options as Record<string, number | undefined>;
  if ((topic === undefined) === (topics === undefined)) ctx.addIssue({ code: 'custom', path: ['topic'], message: 'give either topic or topics (one of them)' });
  if (lowWaterMark !== undefined && highWaterMark !== undefined && !(lowWaterMark < highWaterMark)) {
    ctx.addIssue({ code: 'custom', path: ['lowWaterMark'], message: 'must be less than highWaterMark' });
  }
  if (heartbeatIntervalMs !== undefined && sessionTimeoutMs !== undefined && !(heartbeatIntervalMs < sessionTimeoutMs)) {
    ctx.addIssue({ code: 'custom', path: ['heartbeatIntervalMs'], message: 'must be less than sessionTimeoutMs' });
  }
  if (drainTimeoutMs !== undefined && rebalanceTimeoutMs !== undefined && !(drainTimeoutMs < rebalanceTimeoutMs)) {
    ctx.addIssue({ code: 'custom', path: ['drainTimeoutMs'], message: 'must be less than rebalanceTimeoutMs (the group would drop this member while it drains)' });
  }
}

/** A `type: "kafka"` receiver entry of a service configuration (without `type`, `name` and `pipelines`). */
export const kafkaReceiverConfigSchema = z
  .strictObject({
    ...connection,
    ...settings,
    /** The Kafka library. Default "kafkajs". */
    client: z.enum(KAFKA_CONSUMER_CLIENTS).default('kafkajs'),
  })
  .superRefine(crossChecks);

/** The receiver options a configuration file can set, defaults applied. */
export type KafkaReceiverConfig = z.output<typeof kafkaReceiverConfigSchema>;
/** The receiver options as written in a configuration file. */
export type KafkaReceiverConfigInput = z.input<typeof kafkaReceiverConfigSchema>;

const object = (what: string) =>
  z.custom<object>((value) => typeof value === 'object' && value !== null && !Array.isArray(value), { error: `must be ${what}` });

/** The constructor's options: the config fields, and what only code can give (a client object, a logger). */
const kafkaReceiverOptionsSchema = z
  .strictObject({
    ...connection,
    brokers: connection.brokers.optional(),
    ssl: z.union([z.boolean(), object('true, false or an object of TLS options')], { error: 'must be true, false or an object of TLS options' }).optional(),
    ...settings,
    client: z.union([z.enum(KAFKA_CONSUMER_CLIENTS), object('"kafkajs" or a KafkaConsumerClient')], { error: 'must be "kafkajs" or a KafkaConsumerClient' }).default('kafkajs'),
    name: text.default('kafka'),
    logger: object('a Logger').optional(),
  })
  .superRefine((options, ctx) => {
    crossChecks(options, ctx);
    if (options.brokers === undefined && typeof options.client === 'string') {
      ctx.addIssue({ code: 'custom', path: ['brokers'], message: 'is required (a list of "host:port"), unless client is a KafkaConsumerClient' });
    }
  });

/** The constructor's options after the check, defaults applied. Internal. */
export type ResolvedReceiverOptions = z.output<typeof kafkaReceiverOptionsSchema>;

/**
 * Checks a KafkaReceiver's options and applies the defaults; throws TRACKPIPE_ERR_OPTIONS_INVALID
 * naming every bad field (never its value), also when reading them threw (a getter, a revoked proxy,
 * nesting too deep for the stack). Internal.
 */
export function resolveReceiverOptions(options: unknown): ResolvedReceiverOptions {
  let result: ReturnType<typeof kafkaReceiverOptionsSchema.safeParse>;
  try {
    result = kafkaReceiverOptionsSchema.safeParse(options, { error: safeErrorMap });
  } catch (error) {
    // What was thrown is not kept (no cause): a getter's message may quote a value (a password).
    const issue = unreadableOptions(error);
    throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', `KafkaReceiver: ${issue.message}`, { details: { issues: [issue] } });
  }
  if (result.success) return result.data;
  const issues = issuesFromZod(result.error);
  throw new TrackpipeError(
    'TRACKPIPE_ERR_OPTIONS_INVALID',
    `KafkaReceiver: ${issues.map((i) => `${i.path === '' ? '(options)' : i.path}: ${i.message}`).join('; ')}`,
    { details: { issues } },
  );
}
