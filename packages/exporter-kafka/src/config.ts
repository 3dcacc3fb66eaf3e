import { TrackpipeError } from '@trackpipe/core';
import type { KafkaExporterOptions } from './exporter.js';

/** The exporter options a configuration file can set (functions and clients cannot come from config). */
export type KafkaExporterConfig = Pick<
  KafkaExporterOptions,
  | 'brokers'
  | 'clientId'
  | 'gzip'
  | 'ssl'
  | 'sasl'
  | 'connectionTimeoutMs'
  | 'requestTimeoutMs'
  | 'maxRecordBytes'
  | 'contentType'
  | 'schemaVersion'
> & { topic: string };

const SASL_MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'];
const SSL_STRINGS = ['ca', 'cert', 'key', 'passphrase', 'servername'];

type Check = (value: unknown, path: string) => unknown;

// A problem names the path and the rule, never the value: it may be a password.
function invalid(path: string, rule: string): never {
  throw new TrackpipeError('TRACKPIPE_ERR_CONFIG_INVALID', `${path} must be ${rule}`, { details: { path } });
}

const nonEmptyString: Check = (value, path) => (typeof value === 'string' && value !== '' ? value : invalid(path, 'a non-empty string'));
const boolean: Check = (value, path) => (typeof value === 'boolean' ? value : invalid(path, 'true or false'));
const positive: Check = (value, path) =>
  typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : invalid(path, 'a positive number of milliseconds');
const bytes: Check = (value, path) =>
  typeof value === 'number' && Number.isInteger(value) && value >= 1 ? value : invalid(path, 'an integer number of bytes >= 1');

const brokers: Check = (value, path) =>
  Array.isArray(value) && value.length > 0 && value.every((b) => typeof b === 'string' && b !== '')
    ? [...(value as string[])]
    : invalid(path, 'a non-empty array of "host:port" strings');

const ssl: Check = (value, path) => {
  if (typeof value === 'boolean') return value;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return invalid(path, 'true, false or an object of TLS options');
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    if (key === 'rejectUnauthorized') out[key] = boolean(field, `${path}.${key}`);
    else if (SSL_STRINGS.includes(key)) out[key] = nonEmptyString(field, `${path}.${key}`);
    else invalid(`${path}.${key}`, `one of rejectUnauthorized, ${SSL_STRINGS.join(', ')} (unknown TLS option)`);
  }
  return out;
};

const sasl: Check = (value, path) => {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return invalid(path, 'an object { mechanism, username, password }');
  const { mechanism, username, password, ...rest } = value as Record<string, unknown>;
  const unknown = Object.keys(rest)[0];
  if (unknown !== undefined) invalid(`${path}.${unknown}`, 'one of mechanism, username, password (unknown SASL option)');
  if (typeof mechanism !== 'string' || !SASL_MECHANISMS.includes(mechanism)) invalid(`${path}.mechanism`, `one of ${SASL_MECHANISMS.join(', ')}`);
  return { mechanism, username: nonEmptyString(username, `${path}.username`), password: nonEmptyString(password, `${path}.password`) };
};

const FIELDS: Record<keyof KafkaExporterConfig, Check> = {
  brokers,
  topic: nonEmptyString,
  clientId: nonEmptyString,
  gzip: boolean,
  ssl,
  sasl,
  connectionTimeoutMs: positive,
  requestTimeoutMs: positive,
  maxRecordBytes: bytes,
  contentType: nonEmptyString,
  schemaVersion: nonEmptyString,
};

/**
 * Validates a `type: "kafka"` config entry (without `type` and `name`). Throws
 * TRACKPIPE_ERR_CONFIG_INVALID naming `<path>.<field>` for the first problem; never echoes a value.
 */
export function kafkaExporterConfig(options: Readonly<Record<string, unknown>>, path: string): KafkaExporterConfig {
  const config: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(options)) {
    const check = Object.hasOwn(FIELDS, field) ? FIELDS[field as keyof KafkaExporterConfig] : undefined;
    if (check === undefined) invalid(`${path}.${field}`, `one of ${Object.keys(FIELDS).join(', ')} (unknown kafka exporter option)`);
    if (value !== undefined) config[field] = check(value, `${path}.${field}`);
  }
  if (config.brokers === undefined) invalid(`${path}.brokers`, 'set: a non-empty array of "host:port" strings');
  if (config.topic === undefined) invalid(`${path}.topic`, 'set: a non-empty string');
  return config as KafkaExporterConfig;
}
