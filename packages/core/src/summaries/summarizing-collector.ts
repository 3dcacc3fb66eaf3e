import type { Collector, CollectorStats, DropReason, FlushReport, Logger } from '../contracts.js';
import { DROP_REASONS } from '../contracts.js';
import { TrackpipeError, describeError, describeValue } from '../errors.js';
import { type AttributeValue, FLAG_EVALUATION_EVENT, type FlagEvaluationEvent, type TelemetryEvent } from '../events.js';
import { RecordClock } from '../id.js';
import { MAX_TIMER_MS, readOptions } from '../options.js';
import { consoleLogger } from '../logger.js';
import { DISTINCT_REGISTERS, distinctSlot, estimateDistinct, markDistinct } from './distinct.js';
import {
  FLAG_EVALUATION_SUMMARY_EVENT,
  type FlagEvaluationSummaryAttributes,
  type FlagEvaluationSummaryEvent,
  SUMMARY_OTHER,
  SummaryAttributes,
} from './summary-event.js';

/** Options of a {@link SummarizingCollector}. Every field is optional; defaults follow each. */
export interface SummarizingOptions {
  /**
   * Length of a window in ms. Every `intervalMs` (an unref'd timer: it never keeps the process alive)
   * the open window closes and one summary per key is recorded into the inner collector. Default 10 000.
   */
  intervalMs?: number;
  /**
   * Most keys (flag × variant × value × reason × error × provider × version × flag set) held at once.
   * An evaluation of a new key when `maxKeys` keys are in use this window is counted into the overflow
   * bucket (flag key {@link SUMMARY_OTHER}, `trackpipe.summary.overflow: true`) and in `stats().overflowed`.
   * Keep it below the inner collector's queue size: a window records up to `maxKeys + 1` summaries at once.
   * Default 1 000.
   */
  maxKeys?: number;
  /**
   * Estimate the distinct targeting keys of each summary (a 256-byte HyperLogLog per key, ±6.5 %).
   * Costs one hash of the targeting key per evaluation (a few ns per character). Default true.
   */
  distinctTargetingKeys?: boolean;
  /** Where failures are reported (at most once a minute): invalid events, an inner collector that threw. Default: the console. */
  logger?: Logger;
}

/** The options in force, defaults applied. */
export interface ResolvedSummarizingOptions {
  readonly intervalMs: number;
  readonly maxKeys: number;
  readonly distinctTargetingKeys: boolean;
  readonly logger: Logger;
}

/**
 * A summarizing collector's figures, in evaluations. At every moment
 * `recorded = exported + dropped + queued` (`inFlight` is always 0 here): `recorded` counts calls to
 * `record()`; `queued` the evaluations in the open window; `exported` the evaluations handed to the
 * inner collector inside summaries, plus the other events passed through; `dropped` what this stage
 * refused (`invalid`, `closed`, `unserializable` values, and `rejected` when the inner collector threw).
 * What happened to the summaries downstream is in `inner` (in events, the inner collector's own identity).
 * `batchesInFlight`, `queueCapacity`, `retries`, `failedExports` and `lastExportAt` are the inner
 * collector's; `lastError` is the latest of both.
 */
export interface SummarizingStats extends CollectorStats {
  /** Summary events recorded into the inner collector. */
  readonly summaries: number;
  /** Windows closed (by the timer, `flush()` and `close()`). */
  readonly windows: number;
  /** Keys held now (this window's, and last window's kept for reuse), at most `maxKeys`. */
  readonly keys: number;
  /** Evaluations counted into the overflow bucket, all windows. */
  readonly overflowed: number;
  /** Events other than flag evaluations, handed to the inner collector unchanged (part of `exported`). */
  readonly passedThrough: number;
  /** The inner collector's figures (in events: summaries and passed-through events). */
  readonly inner: CollectorStats;
}

/** Receives the summaries of each window as it closes. Must not throw (throws are caught and logged) and must not change them. */
export type SummaryWindowListener = (summaries: readonly FlagEvaluationSummaryEvent[]) => void;

/** Failures are reported at most this often. */
const WARNING_INTERVAL_MS = 60_000;
/** Dimensions of a key: flag key, variant, value, reason, error code, provider, version, flag set. */
const DIMS = 8;
/** A level scans at most this many keys; beyond, it becomes a map on its next dimension. */
const SCAN_LIMIT = 8;
/** The key of NaN values and dimensions (NaN !== NaN; JSON writes it as null, text as 'NaN'). */
const NAN = Symbol('NaN');

/** An object value, identified by its JSON text. One per distinct text while keys use it. */
interface ValueToken {
  readonly json: string;
  /** A copy of the value (parsed back), reported in summaries: later changes to the original do not show. */
  readonly value: AttributeValue;
  refs: number;
}

/**
 * The dimensions of a key, by name (monomorphic field loads, no array). The collector keeps one as a
 * scratch probe, overwritten by every record(); each KeyNode is one too. Object values are keyed by
 * their ValueToken, NaN by the NAN symbol.
 */
class Key {
  flagKey = '';
  variant: unknown = undefined;
  value: unknown = undefined;
  reason: unknown = undefined;
  errorCode: unknown = undefined;
  provider: unknown = undefined;
  version: unknown = undefined;
  setId: unknown = undefined;
}

/** Dimension `depth` of `key` (0 = flag key … 7 = flag set). */
function dimension(key: Key, depth: number): unknown {
  switch (depth) {
    case 0:
      return key.flagKey;
    case 1:
      return key.variant;
    case 2:
      return key.value;
    case 3:
      return key.reason;
    case 4:
      return key.errorCode;
    case 5:
      return key.provider;
    case 6:
      return key.version;
    default:
      return key.setId;
  }
}

/** True when `a` and `b` agree on every dimension after the flag key (the common case: a list under a flag). */
function same(a: Key, b: Key): boolean {
  return (
    a.variant === b.variant &&
    a.value === b.value &&
    a.reason === b.reason &&
    a.errorCode === b.errorCode &&
    a.provider === b.provider &&
    a.version === b.version &&
    a.setId === b.setId
  );
}

/** True when `a` and `b` agree on dimensions `from` (≥ 1) to the last; the dimensions before are known to agree. */
function matches(a: Key, b: Key, from: number): boolean {
  if (from === 1) return same(a, b);
  return (
    (from > 1 || a.variant === b.variant) &&
    (from > 2 || a.value === b.value) &&
    (from > 3 || a.reason === b.reason) &&
    (from > 4 || a.errorCode === b.errorCode) &&
    (from > 5 || a.provider === b.provider) &&
    (from > 6 || a.version === b.version) &&
    (from > 7 || a.setId === b.setId)
  );
}

/** One key's counters for the open window. */
class KeyNode extends Key {
  /** The identity attributes of its summaries. */
  readonly identity: Readonly<Record<string, AttributeValue>>;
  readonly token: ValueToken | undefined;
  readonly registers: Uint8Array | undefined;
  count = 0;
  first = Number.POSITIVE_INFINITY;
  last = Number.NEGATIVE_INFINITY;
  level: Level | undefined;
  /** Position in `level.nodes`. */
  slot = -1;

  constructor(key: Key, identity: Record<string, AttributeValue>, token: ValueToken | undefined, distinct: boolean) {
    super();
    this.flagKey = key.flagKey;
    this.variant = key.variant;
    this.value = key.value;
    this.reason = key.reason;
    this.errorCode = key.errorCode;
    this.provider = key.provider;
    this.version = key.version;
    this.setId = key.setId;
    this.identity = identity;
    this.token = token;
    this.registers = distinct ? new Uint8Array(DISTINCT_REGISTERS) : undefined;
  }
}

/**
 * A node of the key index. A level at depth `d` holds keys that agree on dimensions `0 .. d-1`: as a
 * list (scanned, comparing dimensions `d ..`) while it holds at most SCAN_LIMIT keys, then as a map on
 * dimension `d` to levels at depth `d + 1`. The root is a map on the flag key. Lookups are thus
 * bounded (at most DIMS map lookups and SCAN_LIMIT comparisons), and in the common case one map
 * lookup plus one comparison with the key the level found last. Flag levels are also chained by
 * `next` (the flag counted after each one), which most evaluations follow instead of the root's map.
 */
class Level {
  readonly depth: number;
  readonly parent: Level | undefined;
  readonly keyInParent: unknown;
  nodes: KeyNode[] | undefined = [];
  children: Map<unknown, Level> | undefined;
  last: KeyNode | undefined;
  /**
   * Flag levels (and the root): the flag level counted right after this one, last time. Requests
   * evaluate their flags in the order of the code, so this usually names the next flag's level
   * without a map lookup. Undefined once this level has left the index.
   */
  next: Level | undefined;
  /** False once the level has left the index (a `next` pointing here is then stale). */
  live = true;

  constructor(depth: number, parent: Level | undefined, keyInParent: unknown) {
    this.depth = depth;
    this.parent = parent;
    this.keyInParent = keyInParent;
  }

  /** The root: a map on the flag key. */
  static root(): Level {
    const root = new Level(0, undefined, undefined);
    root.nodes = undefined;
    root.children = new Map();
    return root;
  }
}

function invalid(option: string, message: string): never {
  throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', `${option} ${message}`, { details: { option } });
}

/** The options {@link resolveSummarizingOptions} reads. */
const SUMMARIZING_OPTIONS: readonly (keyof SummarizingOptions)[] = ['intervalMs', 'maxKeys', 'distinctTargetingKeys', 'logger'];

/** Applies defaults and checks every option; throws TRACKPIPE_ERR_OPTIONS_INVALID naming the bad one. */
export function resolveSummarizingOptions(given: SummarizingOptions = {}, path = ''): ResolvedSummarizingOptions {
  const options = readOptions(given, SUMMARIZING_OPTIONS, path) as SummarizingOptions;
  const intervalMs = options.intervalMs ?? 10_000;
  if (typeof intervalMs !== 'number' || !Number.isFinite(intervalMs) || intervalMs <= 0 || intervalMs > MAX_TIMER_MS) {
    invalid(`${path}intervalMs`, `must be a number of milliseconds above 0 and at most ${MAX_TIMER_MS} (got ${describeValue(intervalMs)})`);
  }
  const maxKeys = options.maxKeys ?? 1_000;
  if (typeof maxKeys !== 'number' || !Number.isSafeInteger(maxKeys) || maxKeys < 1) {
    invalid(`${path}maxKeys`, `must be an integer of at least 1 (got ${describeValue(maxKeys)})`);
  }
  const distinctTargetingKeys = options.distinctTargetingKeys ?? true;
  if (typeof distinctTargetingKeys !== 'boolean') invalid(`${path}distinctTargetingKeys`, `must be a boolean (got ${typeof distinctTargetingKeys})`);
  const logger = options.logger ?? consoleLogger;
  if (!hasMethods(logger, ['warn', 'error'])) invalid(`${path}logger`, 'must be an object with warn() and error() methods');
  return { intervalMs, maxKeys, distinctTargetingKeys, logger };
}

/** True when `value` is an object with these methods; false also when reading them throws (a getter, a revoked proxy). */
export function hasMethods(value: unknown, methods: readonly string[]): boolean {
  try {
    return value !== null && typeof value === 'object' && methods.every((m) => typeof (value as Record<string, unknown>)[m] === 'function');
  } catch {
    return false;
  }
}

/** Freezes a parsed JSON value and everything in it: the copy is shared by every summary of its key. */
function deepFreeze(value: AttributeValue): AttributeValue {
  if (typeof value === 'object' && value !== null) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}

function lower(value: unknown): string {
  return text(value).toLowerCase();
}

function text(value: unknown): string {
  return typeof value === 'string' ? value : value === NAN ? 'NaN' : String(value);
}

/** True for values whose text (`String()`) runs no user code: not an object or function. */
function primitive(value: unknown): boolean {
  return value === null || (typeof value !== 'object' && typeof value !== 'function');
}

/** Why an evaluation whose variant, reason, … is an object is dropped (invalid). */
const NOT_PRIMITIVE = new TypeError('variant, reason, errorCode, provider and the flag version and set id must be strings (or other primitives), not objects');

/** Why an evaluation with a timestamp that is not a finite number is dropped (invalid). */
const BAD_TIMESTAMP = new TypeError('the evaluation timestamp must be a finite number (epoch ms) when given');

/** A version or flag-set id as an attribute: strings, numbers and booleans as they are, anything else as text. */
function scalar(value: unknown): AttributeValue {
  if (value === NAN) return Number.NaN;
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? value : String(value);
}

/**
 * Counts flag evaluations instead of sending each one: a `Collector<FlagEvaluationEvent>` that keeps,
 * per key — flag key, variant, value, reason, error code, provider, and the flag's version and flag
 * set where the event carries them (`attributes["feature_flag.version"]`,
 * `attributes["feature_flag.set.id"]`) — a count, the first and last timestamp and an estimate of the
 * distinct targeting keys, and every `intervalMs` records one `feature_flag.evaluation_summary` event
 * per key into the inner collector (a `BatchProcessor`, a fan-out: the same exporters, batching,
 * retry and accounting). `flush()` and `close()` first close the open window, then delegate.
 *
 * `record()` is O(1) and allocates nothing for a key already held: the flag's level (usually the one
 * that followed the previous evaluation's flag last time, else a map lookup on the flag key), then a
 * comparison with the last key of that flag, or a short scan. At most `maxKeys` keys are held; the
 * evaluations of keys that find no room are counted into one overflow bucket, never dropped. Events
 * other than flag evaluations pass through to the inner collector unchanged. The evaluation events
 * themselves are never kept, nor their targeting keys (hashed into the estimator; the last one only to compare).
 *
 * @example
 * const summaries = new SummarizingCollector(new BatchProcessor(exporter), { intervalMs: 10_000 });
 * summaries.record(flagEvaluation({ flagKey: 'new-checkout', value: true, variant: 'on' }));
 * await summaries.close(); // one summary: count 1
 */
export class SummarizingCollector implements Collector<FlagEvaluationEvent> {
  /** The collector summaries (and passed-through events) are recorded into. */
  readonly inner: Collector<TelemetryEvent>;
  /** The options in force, defaults applied. */
  readonly options: ResolvedSummarizingOptions;

  readonly #maxKeys: number;
  readonly #distinct: boolean;
  readonly #root = Level.root();
  /** The root's map: flag key → level. */
  readonly #flags = this.#root.children as Map<unknown, Level>;
  /** Scratch: the key of the evaluation being recorded. */
  readonly #probe = new Key();
  readonly #other: KeyNode;
  /** Keys counted this window (the first #activeSize entries). */
  #active: KeyNode[] = [];
  #activeSize = 0;
  /** Keys kept from the last window, not yet counted in this one (candidates for eviction). */
  #idle: KeyNode[] = [];
  #idleSize = 0;
  #keys = 0;
  /** The flag level of the last evaluation counted (the root before any): its `next` predicts the next one. */
  #prevLevel: Level = this.#root;
  /**
   * Timestamps of evaluations that carry none (its own: read as cheaply as these fields). A new one
   * per window: a reading reused across a window's close would date a later evaluation before the
   * window it is counted in.
   */
  #clock = new RecordClock();
  /** The last targeting key hashed, and its register slot (consecutive evaluations often share one). */
  #lastTargetingKey: string | undefined;
  #lastSlot = 0;
  readonly #tokens = new Map<string, ValueToken>();
  readonly #tokenOf = new WeakMap<object, ValueToken>();
  readonly #listeners = new Set<SummaryWindowListener>();
  readonly #timer: NodeJS.Timeout;
  #windowStart: number;
  #closed = false;

  #recorded = 0;
  #exported = 0;
  #pending = 0;
  #summaries = 0;
  #windows = 0;
  #overflowed = 0;
  #passedThrough = 0;
  readonly #droppedBy: Record<DropReason, number>;
  #lastError: CollectorStats['lastError'];
  #warnedAt = Number.NEGATIVE_INFINITY;
  #unreported = 0;

  /**
   * @param inner where summaries go: any Trackpipe `Collector` (usually a `BatchProcessor` or a configured collector).
   * @param options see {@link SummarizingOptions}; checked here, throws `TRACKPIPE_ERR_OPTIONS_INVALID` naming the bad one.
   */
  constructor(inner: Collector<TelemetryEvent>, options: SummarizingOptions = {}) {
    const methods = ['record', 'flush', 'close', 'stats', 'headroom', 'persisted'] as const;
    if (!hasMethods(inner, methods)) invalid('inner', `must be a Collector (with ${methods.join(', ')} methods)`);
    this.inner = inner;
    this.options = resolveSummarizingOptions(options);
    this.#maxKeys = this.options.maxKeys;
    this.#distinct = this.options.distinctTargetingKeys;
    this.#droppedBy = Object.fromEntries(DROP_REASONS.map((reason) => [reason, 0])) as Record<DropReason, number>;
    const other = new Key();
    other.flagKey = SUMMARY_OTHER;
    this.#other = new KeyNode(other, { [SummaryAttributes.KEY]: SUMMARY_OTHER, [SummaryAttributes.OVERFLOW]: true }, undefined, this.#distinct);
    this.#windowStart = Date.now();
    this.#timer = setInterval(() => this.#tick(), this.options.intervalMs);
    this.#timer.unref();
  }

  /**
   * Counts one flag evaluation into the open window (or passes another event through). Synchronous,
   * O(1), never throws; allocates nothing for a key already held. The event is not kept.
   */
  record(event: FlagEvaluationEvent): void {
    this.#recorded++;
    try {
      if (this.#closed) return this.#drop('closed', 1);
      if (event === null || typeof event !== 'object') return this.#drop('invalid', 1);
      if (event.name !== FLAG_EVALUATION_EVENT) return this.#passThrough(event);
      const flagKey = event.flagKey;
      if (typeof flagKey !== 'string') return this.#drop('invalid', 1);
      const variant = event.variant;
      let value: unknown = event.value;
      const reason = event.reason;
      const errorCode = event.errorCode;
      const provider = event.provider;
      const attributes = event.attributes;
      let version: unknown;
      let setId: unknown;
      if (typeof attributes === 'object' && attributes !== null) {
        version = attributes[SummaryAttributes.VERSION];
        setId = attributes[SummaryAttributes.SET_ID];
      }
      // The last fields read: a getter that throws finds nothing counted yet (nothing below throws).
      let timestamp = event.timestamp;
      const targetingKey = event.targetingKey;
      // As the processor's admission: a timestamp, when given, is a finite number (x - x is 0 only then).
      if (timestamp !== undefined && (typeof timestamp !== 'number' || timestamp - timestamp !== 0)) return this.#drop('invalid', 1, BAD_TIMESTAMP);
      // The value's token last: its JSON may run user code (toJSON, getters), and a getter run after
      // it could let its key (and so the registered token) go, leaving two tokens of one text.
      if (typeof value === 'object' && value !== null) {
        const token = this.#token(value);
        if (token === undefined) return this.#drop('unserializable', 1);
        // A JSON text that is no object or array (a toJSON answering a string, a Date): keyed as that
        // value, so that it and the same value given as it is are one key.
        const parsed = token.value;
        value = typeof parsed === 'object' && parsed !== null ? token : parsed;
      } else if (value !== value) {
        value = NAN;
      }
      // A getter may have closed the collector: its last window is emitted, nothing may be counted now.
      // No user code runs below (#insert converts only primitives to text).
      if (this.#closed) return this.#drop('closed', 1);
      // The flag's level: usually the one counted after the previous flag last time, else from the map.
      const prev = this.#prevLevel;
      let level = prev.next;
      if (level === undefined || level.keyInParent !== flagKey || !level.live) {
        level = this.#flags.get(flagKey);
        if (level !== undefined && prev.live) prev.next = level;
      }
      // Fast path, the common case: the flag's keys are a short list; compare with locals, no probe.
      let node: KeyNode | undefined;
      if (level !== undefined && level.nodes !== undefined) {
        const last = level.last;
        if (
          last !== undefined &&
          last.variant === variant &&
          last.value === value &&
          last.reason === reason &&
          last.errorCode === errorCode &&
          last.provider === provider &&
          last.version === version &&
          last.setId === setId
        ) {
          node = last;
        } else {
          const nodes = level.nodes;
          for (let i = 0; i < nodes.length; i++) {
            const candidate = nodes[i] as KeyNode;
            if (
              candidate.variant === variant &&
              candidate.value === value &&
              candidate.reason === reason &&
              candidate.errorCode === errorCode &&
              candidate.provider === provider &&
              candidate.version === version &&
              candidate.setId === setId
            ) {
              node = candidate;
              level.last = candidate;
              break;
            }
          }
        }
      }
      if (node === undefined) {
        // Slow path: a flag with many keys (a map per dimension), or a new key.
        // NaN (never === itself) is keyed as the NAN symbol here, so that its evaluations find one key
        // (they always miss the fast path above, which compares the values as given).
        const probe = this.#probe;
        probe.flagKey = flagKey;
        probe.variant = variant !== variant ? NAN : variant;
        probe.value = value;
        probe.reason = reason !== reason ? NAN : reason;
        probe.errorCode = errorCode !== errorCode ? NAN : errorCode;
        probe.provider = provider !== provider ? NAN : provider;
        probe.version = version !== version ? NAN : version;
        probe.setId = setId !== setId ? NAN : setId;
        const found = this.#lookup(probe) ?? this.#insert(probe);
        if (typeof found === 'string') return this.#drop(found, 1, found === 'invalid' ? NOT_PRIMITIVE : undefined);
        node = found;
      }
      if (level !== undefined) this.#prevLevel = level;
      if (timestamp === undefined) timestamp = this.#clock.now();
      // The overflow bucket is not in the active list: it is emitted on its own, after the keys.
      if (node.count === 0 && node !== this.#other) this.#active[this.#activeSize++] = node;
      node.count++;
      if (timestamp < node.first) node.first = timestamp;
      if (timestamp > node.last) node.last = timestamp;
      const registers = node.registers;
      if (registers !== undefined && typeof targetingKey === 'string') {
        // One request evaluates many flags for the same context: hash its targeting key once.
        if (targetingKey !== this.#lastTargetingKey) {
          this.#lastSlot = distinctSlot(targetingKey);
          this.#lastTargetingKey = targetingKey;
        }
        markDistinct(registers, this.#lastSlot);
      }
      if (node === this.#other) this.#overflowed++;
      this.#pending++;
    } catch (error) {
      // A throwing getter or a revoked proxy: nothing was counted.
      this.#drop('invalid', 1, error);
    }
  }

  /** Closes the open window (its summaries are recorded into the inner collector), then flushes the inner collector and returns its report. */
  async flush(options?: { timeoutMs?: number }): Promise<FlushReport> {
    if (!this.#closed) this.#closeWindow(Date.now());
    return this.inner.flush(options);
  }

  /**
   * Stops the timer, closes the open window, then closes the inner collector and returns its report.
   * Later records count as dropped (`closed`). Idempotent.
   */
  async close(options?: { timeoutMs?: number }): Promise<FlushReport> {
    if (!this.#closed) {
      // Closed first: what a window listener or the inner collector records while the last window is
      // emitted is dropped (closed), never counted into a window that will not close.
      this.#closed = true;
      clearInterval(this.#timer);
      this.#closeWindow(Date.now());
      this.#release();
    }
    return this.inner.close(options);
  }

  /** The collector's figures; see {@link SummarizingStats}. */
  stats(): SummarizingStats {
    const inner = this.inner.stats();
    let dropped = 0;
    for (const reason of DROP_REASONS) dropped += this.#droppedBy[reason];
    const own = this.#lastError;
    return {
      recorded: this.#recorded,
      recovered: 0,
      exported: this.#exported,
      dropped,
      droppedByReason: { ...this.#droppedBy },
      queued: this.#pending,
      inFlight: 0,
      batchesInFlight: inner.batchesInFlight,
      queueCapacity: inner.queueCapacity,
      retries: inner.retries,
      failedExports: inner.failedExports,
      lastError: own !== undefined && (inner.lastError === undefined || own.at >= inner.lastError.at) ? own : inner.lastError,
      lastExportAt: inner.lastExportAt,
      summaries: this.#summaries,
      windows: this.#windows,
      keys: this.#keys,
      overflowed: this.#overflowed,
      passedThrough: this.#passedThrough,
      inner,
    };
  }

  /**
   * The inner collector's headroom (0 once closed). Evaluations themselves take no room here (they are
   * counted); what fills up is the inner collector, which takes up to `maxKeys + 1` summaries per window.
   */
  headroom(fill?: number): number {
    return this.#closed ? 0 : this.inner.headroom(fill);
  }

  /**
   * `true` once everything recorded before the call is durable in the inner collector. Evaluations of
   * the open window are counters in memory until the window closes: while there are any, this answers
   * `false` (after asking the inner collector, which may wait for its own group commit).
   */
  async persisted(): Promise<boolean> {
    const open = this.#pending > 0;
    const durable = await this.inner.persisted();
    return durable && !open;
  }

  /** Calls `listener` with the summaries of every window that closes from now on. Returns a function that stops. */
  onWindow(listener: SummaryWindowListener): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  /**
   * Visits the counts of the open window: flag key, variant (undefined when none) and count, per key
   * counted so far (the overflow bucket as flag key {@link SUMMARY_OTHER}). For metrics read at scrape time.
   */
  forEachOpenCount(visit: (flagKey: string, variant: string | undefined, count: number) => void): void {
    for (let i = 0; i < this.#activeSize; i++) {
      const node = this.#active[i] as KeyNode;
      const variant = node.identity[SummaryAttributes.VARIANT];
      visit(node.flagKey, typeof variant === 'string' ? variant : undefined, node.count);
    }
    if (this.#other.count > 0) visit(SUMMARY_OTHER, undefined, this.#other.count);
  }

  // ── The key index ──────────────────────────────────────────────────────────────────────────────

  /** The node of `probe`, or undefined when it is not held. No allocation. */
  #lookup(probe: Key): KeyNode | undefined {
    let level = this.#flags.get(probe.flagKey);
    if (level === undefined) return undefined;
    let children = level.children;
    while (children !== undefined) {
      const child: Level | undefined = children.get(dimension(probe, level.depth));
      if (child === undefined) return undefined;
      level = child;
      children = level.children;
    }
    const last = level.last;
    if (last !== undefined && matches(last, probe, level.depth)) return last;
    const nodes = level.nodes as KeyNode[];
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i] as KeyNode;
      if (matches(node, probe, level.depth)) {
        level.last = node;
        return node;
      }
    }
    return undefined;
  }

  /**
   * Adds a node for `probe` (evicting an idle key, or answering the overflow bucket, at `maxKeys`). The
   * drop reason instead when it cannot be keyed: `invalid` when a dimension other than the value is an
   * object or function (its text would come from its own code, run in the middle of adding a key: it
   * could record or close re-entrantly), `unserializable` when the value is a bigint, symbol or function.
   */
  #insert(probe: Key): KeyNode | 'invalid' | 'unserializable' {
    if (
      !primitive(probe.variant) ||
      !primitive(probe.reason) ||
      !primitive(probe.errorCode) ||
      !primitive(probe.provider) ||
      !primitive(probe.version) ||
      !primitive(probe.setId)
    ) {
      return 'invalid';
    }
    // Before making room: an evaluation that cannot be carried is dropped, whether keys are free or not.
    const type = typeof probe.value;
    if ((type === 'bigint' || type === 'symbol' || type === 'function') && probe.value !== NAN) return 'unserializable';
    if (this.#keys >= this.#maxKeys && !this.#evictIdle()) return this.#other;
    const identity = this.#identity(probe);
    if (identity === undefined) return 'unserializable';
    const value = probe.value;
    const token = typeof value === 'object' && value !== null ? (value as ValueToken) : undefined;
    const node = new KeyNode(probe, identity, token, this.#distinct);
    if (token !== undefined) {
      token.refs++;
      this.#tokens.set(token.json, token);
    }
    // Walk down (creating levels), then add to the list level reached; split it when it grows too long.
    let level = this.#root;
    for (;;) {
      const children = level.children;
      if (children === undefined) break;
      const key = dimension(probe, level.depth);
      let child = children.get(key);
      if (child === undefined) {
        child = new Level(level.depth + 1, level, key);
        children.set(key, child);
      }
      level = child;
    }
    this.#attach(level, node);
    this.#keys++;
    return node;
  }

  #attach(level: Level, node: KeyNode): void {
    const nodes = level.nodes as KeyNode[];
    node.level = level;
    node.slot = nodes.length;
    nodes.push(node);
    level.last = node;
    if (nodes.length > SCAN_LIMIT && level.depth < DIMS) {
      // Split: a map on this level's dimension, each key's nodes in a list one level down.
      level.nodes = undefined;
      level.last = undefined;
      const children = new Map<unknown, Level>();
      level.children = children;
      for (const moved of nodes) {
        const key = dimension(moved, level.depth);
        let child = children.get(key);
        if (child === undefined) {
          child = new Level(level.depth + 1, level, key);
          children.set(key, child);
        }
        this.#attach(child, moved);
      }
    }
  }

  /** Removes `node` from the index, and the levels left empty. */
  #evict(node: KeyNode): void {
    let level = node.level;
    if (level === undefined) return;
    const nodes = level.nodes as KeyNode[];
    const moved = nodes[nodes.length - 1] as KeyNode;
    nodes[node.slot] = moved;
    moved.slot = node.slot;
    nodes.pop();
    if (level.last === node) level.last = undefined;
    node.level = undefined;
    this.#keys--;
    const token = node.token;
    if (token !== undefined && --token.refs === 0) this.#tokens.delete(token.json);
    // Remove empty levels up to (not including) the root.
    while (level.parent !== undefined && (level.nodes === undefined ? level.children?.size === 0 : level.nodes.length === 0)) {
      level.parent.children?.delete(level.keyInParent);
      level.live = false;
      level.next = undefined;
      level = level.parent;
    }
  }

  /** Evicts one key kept from the last window and not counted in this one. False when there is none. */
  #evictIdle(): boolean {
    while (this.#idleSize > 0) {
      const node = this.#idle[--this.#idleSize] as KeyNode;
      this.#idle[this.#idleSize] = undefined as unknown as KeyNode;
      if (node.count === 0 && node.level !== undefined) {
        this.#evict(node);
        return true;
      }
    }
    return false;
  }

  /** The token of an object value: by identity when seen before, else by its JSON text. Undefined when it cannot be serialized. */
  #token(value: object): ValueToken | undefined {
    // Another object with the same text may hold the registered token now: prefer that one.
    const known = this.#tokenOf.get(value);
    if (known !== undefined) return this.#tokens.get(known.json) ?? known;
    let json: string | undefined;
    try {
      json = JSON.stringify(value);
    } catch {
      return undefined;
    }
    if (typeof json !== 'string') return undefined;
    const token = this.#tokens.get(json) ?? { json, value: deepFreeze(JSON.parse(json) as AttributeValue), refs: 0 };
    this.#tokenOf.set(value, token);
    return token;
  }

  /** The identity attributes of a new key; undefined when its value cannot be carried. */
  #identity(key: Key): Record<string, AttributeValue> | undefined {
    const identity: Record<string, AttributeValue> = { [SummaryAttributes.KEY]: key.flagKey };
    if (key.variant !== undefined) identity[SummaryAttributes.VARIANT] = text(key.variant);
    const value = key.value;
    if (value === NAN) {
      identity[SummaryAttributes.VALUE] = null;
    } else if (typeof value === 'object' && value !== null) {
      identity[SummaryAttributes.VALUE] = (value as ValueToken).value;
    } else if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' || value === null) {
      identity[SummaryAttributes.VALUE] = value;
    } else if (value !== undefined) {
      return undefined; // bigint, symbol, function
    }
    if (key.reason !== undefined) identity[SummaryAttributes.REASON] = lower(key.reason);
    if (key.errorCode !== undefined) identity[SummaryAttributes.ERROR_TYPE] = lower(key.errorCode);
    if (key.provider !== undefined) identity[SummaryAttributes.PROVIDER] = text(key.provider);
    if (key.version !== undefined) identity[SummaryAttributes.VERSION] = scalar(key.version);
    if (key.setId !== undefined) identity[SummaryAttributes.SET_ID] = scalar(key.setId);
    return identity;
  }

  // ── Windows ───────────────────────────────────────────────────────────────────────────────────

  #tick(): void {
    try {
      this.#closeWindow(Date.now());
    } catch (error) {
      this.#report('could not close a summary window', error);
    }
  }

  /**
   * Records one summary per key counted since the window opened, resets the counters and opens the next
   * window. In two steps: first every summary is made and every counter zeroed, with no user code
   * running; only then are they handed to the inner collector and the listeners, which may record,
   * flush or close re-entrantly: what they count belongs to the next window.
   */
  #closeWindow(now: number): void {
    const start = this.#windowStart;
    this.#windowStart = now;
    this.#windows++;
    this.#clock = new RecordClock();
    // Keys kept from the last window and not counted in this one have been idle a whole window: let them go.
    for (let i = 0; i < this.#idleSize; i++) {
      const node = this.#idle[i] as KeyNode;
      this.#idle[i] = undefined as unknown as KeyNode;
      if (node.count === 0 && node.level !== undefined) this.#evict(node);
    }
    this.#idleSize = 0;
    const summaries: FlagEvaluationSummaryEvent[] = [];
    const closing = this.#active;
    const size = this.#activeSize;
    for (let i = 0; i < size; i++) summaries.push(this.#summarize(closing[i] as KeyNode, start, now));
    // This window's keys are kept (counters zeroed) for the next one: the active list becomes the idle list.
    this.#active = this.#idle;
    this.#activeSize = 0;
    this.#idle = closing;
    this.#idleSize = size;
    if (this.#other.count > 0) summaries.push(this.#summarize(this.#other, start, now));
    for (const summary of summaries) this.#hand(summary);
    if (summaries.length > 0) this.#notify(summaries);
  }

  /** The summary of `node` for the window [start, end]; zeroes its counters. Runs no user code. */
  #summarize(node: KeyNode, start: number, end: number): FlagEvaluationSummaryEvent {
    const attributes = {
      ...node.identity,
      [SummaryAttributes.COUNT]: node.count,
      [SummaryAttributes.FIRST_TIMESTAMP]: node.first,
      [SummaryAttributes.LAST_TIMESTAMP]: node.last,
      [SummaryAttributes.WINDOW_START]: start,
    } as FlagEvaluationSummaryAttributes;
    if (node.registers !== undefined) {
      // 0 when no evaluation carried a targeting key (every register still 0).
      const distinct = estimateDistinct(node.registers);
      if (distinct > 0) {
        attributes[SummaryAttributes.DISTINCT_TARGETING_KEYS] = distinct;
        node.registers.fill(0);
      }
    }
    node.count = 0;
    node.first = Number.POSITIVE_INFINITY;
    node.last = Number.NEGATIVE_INFINITY;
    return { name: FLAG_EVALUATION_SUMMARY_EVENT, timestamp: end, attributes };
  }

  /**
   * Records `summary` into the inner collector. Its evaluations count as exported before the call, so
   * the identity holds for a stats() made meanwhile; they move to dropped (rejected) if it throws.
   */
  #hand(summary: FlagEvaluationSummaryEvent): void {
    const count = summary.attributes[SummaryAttributes.COUNT];
    this.#pending -= count;
    this.#exported += count;
    try {
      this.inner.record(summary);
      this.#summaries++;
    } catch (error) {
      this.#exported -= count;
      this.#drop('rejected', count, error);
    }
  }

  #notify(summaries: readonly FlagEvaluationSummaryEvent[]): void {
    for (const listener of this.#listeners) {
      try {
        listener(summaries);
      } catch (error) {
        this.#report('a summary window listener threw', error);
      }
    }
  }

  /** After close: lets every key go. */
  #release(): void {
    this.#lastTargetingKey = undefined;
    this.#prevLevel = this.#root;
    this.#root.next = undefined;
    for (let i = 0; i < this.#idleSize; i++) {
      const node = this.#idle[i] as KeyNode;
      if (node.level !== undefined) this.#evict(node);
    }
    this.#idle = [];
    this.#idleSize = 0;
    this.#active = [];
    this.#activeSize = 0;
  }

  // ── Accounting ───────────────────────────────────────────────────────────────────────────────

  #passThrough(event: TelemetryEvent): void {
    if (typeof event.name !== 'string' || event.name === '') return this.#drop('invalid', 1);
    try {
      this.inner.record(event);
    } catch (error) {
      return this.#drop('rejected', 1, error);
    }
    this.#exported++;
    this.#passedThrough++;
  }

  #drop(reason: DropReason, count: number, error?: unknown): void {
    this.#droppedBy[reason] += count;
    if (reason === 'closed') return;
    const message =
      reason === 'invalid'
        ? error === undefined
          ? 'dropped an invalid flag evaluation (not an event, or no string flagKey)'
          : 'dropped an invalid flag evaluation'
        : reason === 'unserializable'
          ? 'dropped a flag evaluation whose value cannot be serialized'
          : 'the inner collector threw from record(); the evaluations it was given are dropped';
    this.#report(message, error, reason, count);
  }

  /** Remembers the error and logs it, at most once per WARNING_INTERVAL_MS (the rest are counted and summed up next time). */
  #report(message: string, error?: unknown, reason?: DropReason, count?: number): void {
    try {
      const now = Date.now();
      const detail = error === undefined ? message : `${message}: ${describeError(error)}`;
      if (reason !== undefined) {
        const code = reason === 'invalid' ? 'TRACKPIPE_ERR_EVENT_INVALID' : reason === 'unserializable' ? 'TRACKPIPE_ERR_EVENT_UNSERIALIZABLE' : 'TRACKPIPE_ERR_EXPORT_FAILED';
        this.#lastError = { code, message: detail, at: now };
      }
      if (now - this.#warnedAt < WARNING_INTERVAL_MS) {
        this.#unreported++;
        return;
      }
      const unreported = this.#unreported;
      this.#warnedAt = now;
      this.#unreported = 0;
      this.options.logger.warn(`summaries: ${detail}`, {
        ...(reason === undefined ? {} : { reason, evaluations: count }),
        ...(unreported > 0 ? { unreportedSinceLastWarning: unreported } : {}),
      });
    } catch {
      // A broken logger must not break record(); the drop is counted.
    }
  }
}
