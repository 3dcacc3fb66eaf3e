import { Counter } from 'prom-client';
import { TrackpipeError, describeValue } from '../errors.js';
import { readOptions } from '../options.js';
import { type InstrumentOptions, type Instrumentation, type MetricsRegistry, assertNamesFree, resolveRegistry } from '../metrics/instrument.js';
import { type SummarizingCollector, hasMethods } from './summarizing-collector.js';
import { type FlagEvaluationSummaryEvent, SUMMARY_OTHER } from './summary-event.js';

/** Names and help of the flag-evaluation metrics. */
export const FLAG_METRICS = {
  evaluations: {
    name: 'trackpipe_flag_evaluations_total',
    help: `Flag evaluations counted by summarizing collectors, by flag key and variant (empty when none). Bounded: flags outside allowFlags and series beyond maxSeries are counted under flag="${SUMMARY_OTHER}", variant="${SUMMARY_OTHER}".`,
    labels: ['flag', 'variant'] as const,
  },
  overflowed: {
    name: 'trackpipe_summary_overflow_evaluations_total',
    help: 'Flag evaluations counted into a summary overflow bucket because maxKeys keys were in use.',
  },
} as const;

/** Options of {@link instrumentFlagEvaluations}. */
export interface FlagEvaluationMetricsOptions extends InstrumentOptions {
  /**
   * Only these flags get series of their own; every other flag is counted under the `__other__` series.
   * Default: any flag (up to `maxSeries`).
   */
  allowFlags?: readonly string[];
  /**
   * Most (flag, variant) series this collector adds, first come first served; evaluations of later
   * ones are counted under `flag="__other__", variant="__other__"`, as are flag keys and variants
   * longer than 200 characters or holding a control character or a lone surrogate, and flag keys
   * holding `,variant:` (which prom-client could not tell from another pair). Default 100.
   */
  maxSeries?: number;
}

/** Longest flag key or variant (in UTF-16 code units) that gets a series of its own. */
const MAX_LABEL_LENGTH = 200;
/**
 * prom-client keys a series by the text `flag:${flag},variant:${variant},`: a flag key containing this
 * would share that text with another pair (`x,variant:y` + `""` and `x` + `y,variant:`), which would
 * then be counted under the first one's labels.
 */
const PROM_KEY_SEPARATOR = ',variant:';

/**
 * True when `value` can be a label value of its own: at most MAX_LABEL_LENGTH code units, no control
 * character (U+0000–U+001F, U+007F), no lone surrogate (written as U+FFFD, two keys would become one).
 */
function fitLabel(value: string): boolean {
  if (value.length > MAX_LABEL_LENGTH) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return false;
    if (c >= 0xd800 && c <= 0xdfff) {
      const next = value.charCodeAt(i + 1);
      if (c > 0xdbff || !(next >= 0xdc00 && next <= 0xdfff)) return false;
      i++; // a surrogate pair: one character
    }
  }
  return true;
}

interface Series {
  readonly flag: string;
  readonly variant: string;
  /** Evaluations of closed windows. */
  total: number;
}

/** One summarizing collector read by the metrics: its series (admitted once, kept for good) and their totals. */
class FlagSource {
  readonly summarizer: SummarizingCollector;
  readonly #allow: ReadonlySet<string> | undefined;
  readonly #maxSeries: number;
  readonly #series = new Map<string, Series>();
  readonly #other: Series = { flag: SUMMARY_OTHER, variant: SUMMARY_OTHER, total: 0 };
  #admitted = 0;

  constructor(summarizer: SummarizingCollector, allow: ReadonlySet<string> | undefined, maxSeries: number) {
    this.summarizer = summarizer;
    this.#allow = allow;
    this.#maxSeries = maxSeries;
  }

  /**
   * The series of (flag, variant): its own when allowed, fit to be a label value and room is left
   * (from then on for good), else the other one.
   */
  series(flag: string, variant: string | undefined): Series {
    if (flag === SUMMARY_OTHER) return this.#other;
    const label = variant ?? '';
    // The flag key's length first: no separator character could make two pairs one key.
    const key = `${flag.length}:${flag}${label}`;
    const known = this.#series.get(key);
    if (known !== undefined) return known;
    if ((this.#allow !== undefined && !this.#allow.has(flag)) || this.#admitted >= this.#maxSeries) return this.#other;
    if (!fitLabel(flag) || !fitLabel(label) || flag.includes(PROM_KEY_SEPARATOR)) return this.#other;
    const series: Series = { flag, variant: label, total: 0 };
    this.#series.set(key, series);
    this.#admitted++;
    return series;
  }

  /** Adds a closed window's counts to the totals. */
  fold(summaries: readonly FlagEvaluationSummaryEvent[]): void {
    for (const { attributes } of summaries) {
      const variant = attributes['feature_flag.result.variant'];
      this.series(attributes['feature_flag.key'], variant).total += attributes['trackpipe.summary.count'];
    }
  }

  /** Calls `add` with every series' total plus the open window's counts. */
  read(add: (series: Series, value: number) => void): void {
    const open = new Map<Series, number>();
    this.summarizer.forEachOpenCount((flag, variant, count) => {
      const series = this.series(flag, variant);
      open.set(series, (open.get(series) ?? 0) + count);
    });
    for (const series of this.#series.values()) add(series, series.total + (open.get(series) ?? 0));
    add(this.#other, this.#other.total + (open.get(this.#other) ?? 0));
  }
}

/** The flag metrics of one registry, fed by any number of summarizing collectors. */
class FlagMetrics {
  readonly sources = new Set<FlagSource>();

  constructor(registry: MetricsRegistry) {
    const sources = this.sources;
    new Counter({
      name: FLAG_METRICS.evaluations.name,
      help: FLAG_METRICS.evaluations.help,
      labelNames: FLAG_METRICS.evaluations.labels,
      registers: [registry],
      collect() {
        this.reset();
        for (const source of sources) source.read((series, value) => this.inc({ flag: series.flag, variant: series.variant }, value));
      },
    });
    new Counter({
      name: FLAG_METRICS.overflowed.name,
      help: FLAG_METRICS.overflowed.help,
      registers: [registry],
      collect() {
        this.reset();
        let overflowed = 0;
        for (const source of sources) overflowed += source.summarizer.stats().overflowed;
        this.inc(overflowed);
      },
    });
  }
}

const perRegistry = new WeakMap<MetricsRegistry, FlagMetrics>();

/** The options {@link instrumentFlagEvaluations} reads. */
const FLAG_METRICS_OPTIONS: readonly (keyof FlagEvaluationMetricsOptions)[] = ['registry', 'global', 'allowFlags', 'maxSeries'];

/** A copy of an array, each item read once; undefined when it is no array. Throws naming allowFlags when it cannot be read. */
function copyList(value: unknown): unknown[] | undefined {
  try {
    if (!Array.isArray(value)) return undefined;
    const items: unknown[] = [];
    for (let i = 0; i < value.length; i++) items.push(value[i]);
    return items;
  } catch {
    return invalid('allowFlags', 'could not be read (a getter or a proxy threw)');
  }
}

function invalid(option: string, message: string): never {
  throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', `${option} ${message}`, { details: { option } });
}

/**
 * Registers `trackpipe_flag_evaluations_total{flag, variant}` (and
 * `trackpipe_summary_overflow_evaluations_total`) for a summarizing collector. Nothing happens on
 * `record()`: the counter adds up each closed window's summaries (as they are emitted) and, at scrape
 * time, the open window's counters. Its cardinality is bounded by `allowFlags` and `maxSeries`: flag
 * keys are labels here, unlike every other Trackpipe metric, so keep the cap low. Any number of calls
 * may share a registry (their series add up).
 */
export function instrumentFlagEvaluations(summarizer: SummarizingCollector, options: FlagEvaluationMetricsOptions = {}): Instrumentation {
  const methods = ['onWindow', 'forEachOpenCount', 'stats'] as const;
  if (!hasMethods(summarizer, methods)) invalid('summarizer', `must be a SummarizingCollector (with ${methods.join(', ')} methods)`);
  if (options === null || typeof options !== 'object') invalid('options', 'must be an object');
  // Each option read once, here: a getter that throws or a revoked proxy is refused naming it, never with what it threw.
  options = readOptions(options, FLAG_METRICS_OPTIONS, '');
  const maxSeries = options.maxSeries ?? 100;
  if (typeof maxSeries !== 'number' || !Number.isSafeInteger(maxSeries) || maxSeries < 1) {
    invalid('maxSeries', `must be an integer of at least 1 (got ${describeValue(maxSeries)})`);
  }
  let allow: ReadonlySet<string> | undefined;
  if (options.allowFlags !== undefined) {
    const flags = copyList(options.allowFlags);
    if (flags === undefined) invalid('allowFlags', 'must be an array of flag keys');
    for (const [i, flag] of flags.entries()) {
      if (typeof flag !== 'string' || flag === '') invalid(`allowFlags[${i}]`, 'must be a non-empty string');
    }
    allow = new Set(flags as string[]);
  }
  const registry = resolveRegistry(options);
  let metrics = perRegistry.get(registry);
  if (metrics === undefined) {
    assertNamesFree(registry, [FLAG_METRICS.evaluations.name, FLAG_METRICS.overflowed.name], 'the flag evaluation metrics');
    try {
      metrics = new FlagMetrics(registry);
    } catch (error) {
      throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', 'could not register the flag evaluation metrics in this registry (another copy of @trackpipe/core may have registered them already)', { cause: error });
    }
    perRegistry.set(registry, metrics);
  }
  const source = new FlagSource(summarizer, allow, maxSeries);
  const stop = summarizer.onWindow((summaries) => source.fold(summaries));
  metrics.sources.add(source);
  const sources = metrics.sources;
  return {
    registry,
    detach: () => {
      stop();
      sources.delete(source);
    },
  };
}
