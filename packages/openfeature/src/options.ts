import { consoleLogger, type Logger, type SummarizingOptions, TrackpipeError } from '@trackpipe/core';
import { describeValue, readOptions, resolveSummarizingOptions } from '@trackpipe/core/internal';

/** What the hook does with the evaluation context's targeting key. */
export type TargetingKeyMode = 'copy' | 'hash' | 'omit';

/** Summaries plus a sampled share of full events. */
export interface SampledSummariesMode {
  readonly summaries: true;
  /** Share of evaluations also recorded as full events, from 0 to 1 (e.g. 0.01). */
  readonly sample: number;
  /** Seed of the sampling's random numbers (a 32-bit integer): the same seed picks the same evaluations. Default: `random`. */
  readonly seed?: number;
}

/**
 * What the hook records: `"events"`, one full event per evaluation; `"summaries"`, counts per flag,
 * variant, value, reason, error, provider and version per window (a `SummarizingCollector` over the
 * collector); `{ summaries: true, sample, seed? }`, summaries plus a sampled share of full events.
 */
export type HookMode = 'events' | 'summaries' | SampledSummariesMode;

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
  /**
   * What the hook records: every evaluation as an event (`"events"`), summaries only (`"summaries"`),
   * or summaries plus a sampled share of full events (`{ summaries: true, sample: 0.01, seed? }`).
   * In the summary modes the hook builds a `SummarizingCollector` over `collector`: close the hook
   * (or `hook.summarizer`), not only the collector, so that the open window is delivered. Default `"events"`.
   */
  mode?: HookMode;
  /**
   * Options of the `SummarizingCollector` of the summary modes (`intervalMs`, `maxKeys`,
   * `distinctTargetingKeys`, `logger`). Default: its defaults, with the hook's logger.
   */
  summarizer?: SummarizingOptions;
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
  readonly mode: HookMode;
  readonly summarizer: SummarizingOptions;
}

const TARGETING_KEY = 'targetingKey';

/** True for an object with warn() and error() methods; false also when reading them throws (a getter, a revoked proxy). */
function isLogger(logger: unknown): logger is Logger {
  try {
    return logger !== null && typeof logger === 'object' && typeof (logger as Logger).warn === 'function' && typeof (logger as Logger).error === 'function';
  } catch {
    return false;
  }
}

function invalid(option: string, message: string): never {
  throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', `${option} ${message}`, { details: { option } });
}

function attributeList(option: string, value: readonly string[] | undefined): readonly string[] {
  if (value === undefined) return [];
  // Copied first, each item read once: a revoked proxy or a getter that throws is refused naming the
  // option, never with what it threw.
  let names: unknown[] | undefined;
  try {
    if (Array.isArray(value)) {
      names = [];
      for (let i = 0; i < value.length; i++) names.push(value[i]);
    }
  } catch {
    invalid(option, 'could not be read (a getter or a proxy threw)');
  }
  if (names === undefined) invalid(option, `must be an array of attribute names (got ${typeof value})`);
  for (const [i, name] of names.entries()) {
    if (typeof name !== 'string' || name === '') invalid(`${option}[${i}]`, 'must be a non-empty string');
    if (name === TARGETING_KEY) {
      invalid(`${option}[${i}]`, 'must not be "targetingKey": the targetingKey option decides how it is recorded');
    }
  }
  return Object.freeze([...new Set(names as string[])]);
}

const OPTION_NAMES: readonly (keyof TrackpipeHookOptions)[] = [
  'contextAttributes',
  'hashAttributes',
  'hashSalt',
  'targetingKey',
  'sampleRatio',
  'random',
  'logger',
  'mode',
  'summarizer',
];
const MODE_NAMES: readonly (keyof SampledSummariesMode)[] = ['summaries', 'sample', 'seed'];
const SUMMARIZER_NAMES: readonly (keyof SummarizingOptions)[] = ['intervalMs', 'maxKeys', 'distinctTargetingKeys', 'logger'];

/**
 * Refuses a key that is no option, naming it: a misspelt option (`targetingkey: 'hash'`) would
 * otherwise be ignored without a word, and its default (the targeting key in clear) used.
 */
function knownKeys(object: object, names: readonly string[], prefix: string): void {
  let keys: string[];
  try {
    keys = Object.keys(object);
  } catch {
    invalid(prefix === '' ? 'options' : prefix.replace(/\.$/, ''), 'could not be read (a revoked proxy?)');
  }
  for (const key of keys) {
    if (!names.includes(key)) invalid(`${prefix}${key}`, `is not an option (the options are ${names.join(', ')})`);
  }
}

/** Applies defaults and checks every option; throws TRACKPIPE_ERR_OPTIONS_INVALID naming the bad one. */
export function resolveHookOptions(given: TrackpipeHookOptions = {}): ResolvedHookOptions {
  if (given === null || typeof given !== 'object') invalid('options', 'must be an object');
  knownKeys(given, OPTION_NAMES, '');
  // Each option read once, here: a getter that throws is refused naming it, never with what it threw.
  const options = readOptions(given, OPTION_NAMES, '') as TrackpipeHookOptions;
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
    invalid('targetingKey', `must be "copy", "hash" or "omit" (got ${describeValue(targetingKey)})`);
  }
  const sampleRatio = options.sampleRatio ?? 1;
  if (typeof sampleRatio !== 'number' || !Number.isFinite(sampleRatio) || sampleRatio < 0 || sampleRatio > 1) {
    invalid('sampleRatio', `must be a number from 0 to 1 (got ${describeValue(sampleRatio)})`);
  }
  const random = options.random ?? Math.random;
  if (typeof random !== 'function') invalid('random', `must be a function returning a number in [0, 1) (got ${typeof random})`);
  const logger = options.logger ?? consoleLogger;
  if (!isLogger(logger)) invalid('logger', 'must be an object with warn() and error() methods');
  const mode = resolveMode(options.mode);
  if (mode !== 'events' && sampleRatio !== 1) {
    invalid('sampleRatio', 'applies to mode "events" only; in the summary modes every evaluation is counted (use mode.sample for a share of full events)');
  }
  const summarizerGiven = options.summarizer ?? undefined; // null: the defaults, as undefined
  if (summarizerGiven !== undefined && typeof summarizerGiven !== 'object') invalid('summarizer', 'must be an object of SummarizingCollector options');
  const summarizer = readOptions(summarizerGiven, SUMMARIZER_NAMES, 'summarizer.') as SummarizingOptions;
  // Checked here, so that a bad value fails at start with its path (summarizer.intervalMs, ...).
  resolveSummarizingOptions({ logger, ...summarizer }, 'summarizer.');
  return {
    contextAttributes: Object.freeze(contextAttributes),
    hashAttributes,
    hashSalt,
    targetingKey,
    sampleRatio,
    random,
    logger,
    mode,
    summarizer: Object.freeze({ ...summarizer }),
  };
}

function resolveMode(mode: HookMode | undefined): HookMode {
  if (mode === undefined || mode === 'events' || mode === 'summaries') return mode ?? 'events';
  if (mode === null || typeof mode !== 'object') invalid('mode', `must be "events", "summaries" or { summaries: true, sample, seed? } (got ${describeValue(mode)})`);
  knownKeys(mode, MODE_NAMES, 'mode.');
  const { summaries, sample, seed } = readOptions(mode, MODE_NAMES, 'mode.') as Partial<SampledSummariesMode>;
  if (summaries !== true) invalid('mode.summaries', 'must be true (the sampled mode records summaries plus a share of full events)');
  if (typeof sample !== 'number' || !Number.isFinite(sample) || sample < 0 || sample > 1) {
    invalid('mode.sample', `must be a number from 0 to 1 (got ${describeValue(sample)})`);
  }
  if (seed !== undefined && (typeof seed !== 'number' || !Number.isSafeInteger(seed))) invalid('mode.seed', `must be an integer (got ${describeValue(seed)})`);
  return Object.freeze(seed === undefined ? { summaries: true, sample } : { summaries: true, sample, seed });
}
