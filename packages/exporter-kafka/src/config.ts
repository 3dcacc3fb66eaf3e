// One validation path for the exporter's options: the zod schemas below check both what a config file
// gives the DI factory and what code gives the KafkaExporter constructor. Errors name the path of the
// bad field and never its value (core's safeErrorMap words every issue without the input).
import { createSecureContext } from 'node:tls';
import { TrackpipeError } from '@trackpipe/core';
import { issuesFromZod, safeErrorMap, unreadableOptions } from '@trackpipe/core/config';
import { MAX_TIMER_MS } from '@trackpipe/core/internal';
import * as z from 'zod';

/** The Kafka libraries the exporter can use by name. */
export const KAFKA_CLIENTS = ['kafkajs', 'platformatic'] as const;

/** A Kafka library by name: `"kafkajs"` or `"platformatic"` (`@platformatic/kafka`). */
export type KafkaClientName = (typeof KAFKA_CLIENTS)[number];

/** SASL mechanisms both clients support with a username and a password. */
export const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;

/** SASL authentication with a username and a password. Never logged. */
export interface KafkaSaslOptions {
  readonly mechanism: (typeof SASL_MECHANISMS)[number];
  readonly username: string;
  readonly password: string;
}

const text = z.string().min(1);

/**
 * Kafka's own topics: a producer may not write them. The broker fails the whole request that names
 * one (INVALID_TOPIC_EXCEPTION for the first three; the KRaft metadata log is never a writable topic,
 * and its metadata is retried for ever), and @platformatic/kafka, which leaves internal topics out of
 * its metadata, throws an uncaught TypeError in a socket callback.
 */
const INTERNAL_TOPICS: ReadonlySet<string> = new Set(['__consumer_offsets', '__transaction_state', '__share_group_state', '__cluster_metadata']);

/** What Kafka allows as a topic name (its `Topic.validate`), in words for errors that never quote the name. */
export const KAFKA_TOPIC_RULE =
  'must be a Kafka topic name: 1 to 249 of the characters a-z A-Z 0-9 . _ -, not "." or "..", and not an internal topic (__consumer_offsets, __transaction_state, __share_group_state, __cluster_metadata)';
const TOPIC_NAME = /^[\w.-]{1,249}$/;

/** True when a producer may write to a topic named `name` (a name Kafka refuses fails the whole request that carries it). */
export function isKafkaTopicName(name: string): boolean {
  return TOPIC_NAME.test(name) && name !== '.' && name !== '..' && !INTERNAL_TOPICS.has(name);
}

/** A topic name Kafka accepts. */
// An empty string is refused by `text` already: one issue per field.
const kafkaTopicName = text.refine((name) => name === '' || isKafkaTopicName(name), { error: KAFKA_TOPIC_RULE });

const BROKER = /^([^\s:,/[\]]+):(\d{1,5})$/;
/** A bootstrap broker as both clients read it: `host:port` (they split at the colon: no scheme, no brackets). */
const broker = text.refine(
  (value) => {
    if (value === '') return true;
    const match = BROKER.exec(value);
    return match !== null && Number(match[2]) >= 1 && Number(match[2]) <= 65_535;
  },
  { error: 'must be "host:port" (a port from 1 to 65535, no scheme, one broker per entry)' },
);
/** The bootstrap brokers: at least one `host:port`. */
const kafkaBrokers = z.array(broker).min(1);

/** Milliseconds a timer can wait: longer ones fire at once in Node. */
const TIMER_RULE = `must be at most ${MAX_TIMER_MS} ms (about 24.8 days)`;
const milliseconds = z.number().positive().max(MAX_TIMER_MS, { error: TIMER_RULE });
const func = z.custom<(...args: never[]) => unknown>((value) => typeof value === 'function', { error: 'must be a function' });
const object = (what: string) =>
  z.custom<object>((value) => typeof value === 'object' && value !== null && !Array.isArray(value), { error: `must be ${what}` });

const sasl = z.strictObject(
  { mechanism: z.enum(SASL_MECHANISMS), username: text, password: text },
  { error: (issue) => (issue.code === 'invalid_type' ? 'must be an object { mechanism, username, password }' : undefined) },
);

// `ssl: true` means TLS with Node's defaults ({}), `false` plaintext (undefined).
const sslShorthand = (value: unknown): unknown => (value === true ? {} : value === false ? undefined : value);
const TLS_RULE = 'must be true, false or an object of TLS options';

/**
 * TLS options Node can use: a key, certificate or pfx that does not read, or a wrong passphrase, fails
 * at start (the clients would fail every connection: kafkajs retrying for ever, @platformatic/kafka
 * rejecting every batch). The issue says OpenSSL's code, never the content.
 */
function usableTls(value: unknown, ctx: z.RefinementCtx): void {
  if (typeof value !== 'object' || value === null) return;
  try {
    createSecureContext(value);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    ctx.addIssue({
      code: 'custom',
      message: `Node cannot use these TLS options (${typeof code === 'string' ? code : 'invalid'}): a key, certificate or pfx that does not read, or a wrong passphrase`,
    });
  }
}

const common = {
  /** Client id the brokers see in their logs and quotas. Default "trackpipe". */
  clientId: text.optional(),
  /** Compress record batches with gzip. Default true. */
  gzip: z.boolean().optional(),
  /** SASL authentication (plain, scram-sha-256, scram-sha-512). Default none. */
  sasl: sasl.optional(),
  /** Time to establish a connection, in ms. Default 3 000. */
  connectionTimeoutMs: milliseconds.optional(),
  /** Time to wait for a broker's answer, in ms. Default 30 000. */
  requestTimeoutMs: milliseconds.optional(),
  /** Records whose key and encoded value are longer together are answered `too_large` unsent. Default 1 048 576; `Infinity`: no check. */
  maxRecordBytes: z.union([z.number().int().min(1), z.literal(Infinity)], { error: 'must be an integer number of bytes >= 1' }).optional(),
  /** Value of the `content-type` header. Default "application/json". */
  contentType: text.optional(),
  /** Value of the `schema-version` header. Default "1". */
  schemaVersion: text.optional(),
  /** Retry (true) or drop (false) batches the cluster refuses for authentication or authorization. Default true. */
  retryAuthFailures: z.boolean().optional(),
};

/** A `type: "kafka"` config entry (without `type` and `name`). */
export const kafkaExporterConfigSchema = z.strictObject({
  ...common,
  /** Bootstrap brokers, `host:port`. Required. */
  brokers: kafkaBrokers,
  /** The topic of every record. Required. */
  topic: kafkaTopicName,
  /** The Kafka library. Default "platformatic". */
  client: z.enum(KAFKA_CLIENTS).optional(),
  /** TLS: true, false, or { ca, cert, key, passphrase, servername, rejectUnauthorized } (PEM strings). Default plaintext. */
  ssl: z
    .preprocess(
      sslShorthand,
      z
        .strictObject(
          { ca: text, cert: text, key: text, passphrase: text, servername: text, rejectUnauthorized: z.boolean() },
          { error: (issue) => (issue.code === 'invalid_type' ? TLS_RULE : undefined) },
        )
        .partial()
        .superRefine(usableTls)
        .optional(),
    )
    .optional(),
});

/** The exporter options a configuration file can set (functions and client objects need code). */
export type KafkaExporterConfig = z.output<typeof kafkaExporterConfigSchema>;

/**
 * The constructor's options: the config fields, and what only code can give (functions, a client
 * object, a logger). Checked at runtime too, for callers without types.
 */
const kafkaExporterOptionsSchema = z
  .strictObject({
    ...common,
    brokers: kafkaBrokers.optional(),
    topic: z.union([kafkaTopicName, func], { error: 'must be a non-empty topic name or a function' }),
    client: z.union([z.enum(KAFKA_CLIENTS), object('"kafkajs", "platformatic" or a KafkaClient')], {
      error: 'must be "kafkajs", "platformatic" or a KafkaClient',
    }).optional(),
    ssl: z.union([z.boolean(), object(TLS_RULE).superRefine(usableTls)], { error: TLS_RULE }).optional(),
    key: func.optional(),
    encoder: func.optional(),
    name: text.optional(),
    logger: object('a Logger').optional(),
  })
  .superRefine((options, ctx) => {
    if (options.brokers === undefined && (options.client === undefined || typeof options.client === 'string')) {
      ctx.addIssue({ code: 'custom', path: ['brokers'], message: 'is required (a list of "host:port"), unless client is a KafkaClient' });
    }
  });

/**
 * Checks a KafkaExporter's options; throws TRACKPIPE_ERR_OPTIONS_INVALID naming every bad field
 * (never its value), also when reading them threw (a getter, a revoked proxy, nesting too deep for
 * the stack). Internal.
 */
export function checkKafkaExporterOptions(options: unknown): void {
  let result: ReturnType<typeof kafkaExporterOptionsSchema.safeParse>;
  try {
    result = kafkaExporterOptionsSchema.safeParse(options, { error: safeErrorMap });
  } catch (error) {
    // What was thrown is not kept (no cause): a getter's message may quote a value (a password).
    const issue = unreadableOptions(error);
    throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', `KafkaExporter: ${issue.message}`, { details: { issues: [issue] } });
  }
  if (result.success) return;
  const issues = issuesFromZod(result.error);
  throw new TrackpipeError(
    'TRACKPIPE_ERR_OPTIONS_INVALID',
    `KafkaExporter: ${issues.map((i) => `${i.path === '' ? '(options)' : i.path}: ${i.message}`).join('; ')}`,
    { details: { issues } },
  );
}
