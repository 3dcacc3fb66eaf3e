import { consoleLogger, type Logger, TrackpipeError } from '@trackpipe/core';

/** What the hook does with the evaluation context's targeting key. */
export type TargetingKeyMode = 'copy' | 'hash' | 'omit';

/** Options of a {@link TrackpipeHook}. Every field is optional; defaults follow each. */
export interface TrackpipeHookOptions {
  /**
   * Evaluation-context attributes (top-level names) copied into each event's `context`. Nothing else
   * in the context is recorded. Default `[]`: evaluation contexts hold personal data.
   */
  contextAttributes?: readonly string[];
  /**
   * Evaluation-context attributes (top-level names) recorded as a SHA-256 hex digest of
   * `hashSalt + value` instead of the value. Listing an attribute here allows it: it need not be in
   * `contextAttributes`, and when it is in both it is hashed. Strings are hashed as they are, other
   * values as their JSON text (dates as their ISO string). Default `[]`.
   */
  hashAttributes?: readonly string[];
  /**
   * Prefixed to every value before hashing (attributes and the targeting key). Keep it secret and stable:
   * without it, short values such as e-mail addresses can be found again by hashing guesses.
   * Default `""` (no salt).
   */
  hashSalt?: string;
  /**
   * The targeting key (usually a user id): `"copy"` records it as it is, `"hash"` records its
   * SHA-256 hex digest (salted with `hashSalt`), `"omit"` leaves it out. Default `"copy"`.
   */
  targetingKey?: TargetingKeyMode;
  /**
   * Share of evaluations recorded, from 0 (none) to 1 (all). Each evaluation is kept when
   * `random() < sampleRatio`; kept events carry `attributes["trackpipe.sample_ratio"]` when below 1.
   * Default 1.
   */
  sampleRatio?: number;
  /** Source of randomness for sampling, in [0, 1). Default `Math.random`; tests pin it. */
  random?: () => number;
  /** Where the hook reports that it could not record an evaluation (at most once a minute). Default: the console. */
  logger?: Logger;
}

/** The options in force, defaults applied. */
export interface ResolvedHookOptions {
  readonly contextAttributes: readonly string[];
  readonly hashAttributes: readonly string[];
  readonly hashSalt: string;
  readonly targetingKey: TargetingKeyMode;
  readonly sampleRatio: number;
  readonly random: () => number;
  readonly logger: Logger;
}

const TARGETING_KEY = 'targetingKey';

function invalid(option: string, message: string): never {
  throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', `${option} ${message}`, { details: { option } });
}

function attributeList(option: string, value: readonly string[] | undefined): readonly string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) invalid(option, `must be an array of attribute names (got ${typeof value})`);
  for (const [i, name] of value.entries()) {
    if (typeof name !== 'string' || name === '') invalid(`${option}[${i}]`, 'must be a non-empty string');
    if (name === TARGETING_KEY) {
      invalid(`${option}[${i}]`, 'must not be "targetingKey": the targetingKey option decides how it is recorded');
    }
  }
  return Object.freeze([...new Set<string>(value)]);
}

/** Applies defaults and checks every option; throws TRACKPIPE_ERR_OPTIONS_INVALID naming the bad one. */
export function resolveHookOptions(options: TrackpipeHookOptions = {}): ResolvedHookOptions {
  if (options === null || typeof options !== 'object') invalid('options', 'must be an object');
  const hashAttributes = attributeList('hashAttributes', options.hashAttributes);
  // An attribute listed in both is hashed: the safer reading.
  const contextAttributes = attributeList('contextAttributes', options.contextAttributes).filter(
    (name) => !hashAttributes.includes(name),
  );
  const hashSalt = options.hashSalt ?? '';
  // Never echo the salt: it is a secret.
  if (typeof hashSalt !== 'string') invalid('hashSalt', `must be a string (got ${typeof hashSalt})`);
  const targetingKey = options.targetingKey ?? 'copy';
  if (targetingKey !== 'copy' && targetingKey !== 'hash' && targetingKey !== 'omit') {
    invalid('targetingKey', `must be "copy", "hash" or "omit" (got ${String(targetingKey)})`);
  }
  const sampleRatio = options.sampleRatio ?? 1;
  if (typeof sampleRatio !== 'number' || !Number.isFinite(sampleRatio) || sampleRatio < 0 || sampleRatio > 1) {
    invalid('sampleRatio', `must be a number from 0 to 1 (got ${String(sampleRatio)})`);
  }
  const random = options.random ?? Math.random;
  if (typeof random !== 'function') invalid('random', `must be a function returning a number in [0, 1) (got ${typeof random})`);
  const logger = options.logger ?? consoleLogger;
  if (logger === null || typeof logger !== 'object' || typeof logger.warn !== 'function' || typeof logger.error !== 'function') {
    invalid('logger', 'must be an object with warn() and error() methods');
  }
  return {
    contextAttributes: Object.freeze(contextAttributes),
    hashAttributes,
    hashSalt,
    targetingKey,
    sampleRatio,
    random,
    logger,
  };
}
