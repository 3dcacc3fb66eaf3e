import type { ConnectionOptions } from 'node:tls';
import { type Logger, secretsOf } from '@trackpipe/core';
import type { KafkaSaslOptions } from './config.js';

/** Connection options both built-in clients take (see {@link KafkaJsClient}, {@link PlatformaticKafkaClient}). */
export interface KafkaClientOptions {
  /** Bootstrap brokers, `host:port`. Required, at least one. */
  brokers: readonly string[];
  /** Client id the brokers see in their logs and quotas. Default `"trackpipe"`. */
  clientId?: string;
  /** TLS: `true`, or Node TLS options (ca, cert, key, ...). Never logged. Default: plaintext. */
  ssl?: boolean | ConnectionOptions;
  /** SASL authentication (plain, scram-sha-256, scram-sha-512). Never logged. Default: none. */
  sasl?: KafkaSaslOptions;
  /** Compress record batches with gzip. Default `true`. */
  gzip?: boolean;
  /** Time to establish a connection, in ms. Default 3 000. */
  connectionTimeoutMs?: number;
  /** Time to wait for a broker's answer, in ms (also how long the broker may wait for acks). Default 30 000. */
  requestTimeoutMs?: number;
  /** Where the client library's own warnings go (secrets masked), when it has any. Default: dropped. */
  logger?: Logger;
}

/**
 * The configured strings that must never appear in a log line, an error or a metric: SASL passwords
 * (and kafkajs's AWS secret key, session token and OAuth token when given), TLS keys and passphrases.
 */
export function kafkaSecrets(options: { readonly sasl?: object | undefined; readonly ssl?: boolean | ConnectionOptions | undefined }): string[] {
  const candidates: unknown[] = [];
  if (options.sasl !== undefined) {
    const sasl = options.sasl as Record<string, unknown>;
    candidates.push(sasl.password, sasl.secretAccessKey, sasl.sessionToken, sasl.token);
  }
  if (typeof options.ssl === 'object') {
    candidates.push(options.ssl.passphrase);
    // Keys and pfx: text or Buffers, or lists of them and of { pem | buf, passphrase } objects (Node's forms).
    for (const item of [options.ssl.key, options.ssl.pfx].flat()) {
      if (typeof item === 'object' && item !== null && !Buffer.isBuffer(item)) {
        const { pem, buf, passphrase } = item as { pem?: unknown; buf?: unknown; passphrase?: unknown };
        candidates.push(pem, buf, passphrase);
      } else {
        candidates.push(item);
      }
    }
  }
  return secretsOf(candidates.map((value) => (Buffer.isBuffer(value) ? value.toString('utf8') : value)));
}

/**
 * True when a topic's `cleanup.policy` (`delete`, `compact`, or both, comma-separated) includes
 * compaction. Internal.
 */
export function isCompactPolicy(policy: string): boolean {
  return policy.split(',').some((part) => part.trim() === 'compact');
}
