import { type AttributeValue, type Attributes, type FlagEvaluationEvent, type TelemetryEvent, TrackpipeError } from '@trackpipe/core';

/** One problem found in a request: where (e.g. `batch[3].name`) and what (e.g. `required`). Never holds the value. */
export interface ValidationIssue {
  readonly path: string;
  readonly message: string;
}

/** An event as the service accepts it: a TelemetryEvent, optionally with the flag-evaluation fields. */
export type IngestEvent = TelemetryEvent & Partial<Omit<FlagEvaluationEvent, keyof TelemetryEvent>>;

/** The outcome of validating a request body. */
export type Validation<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly issues: readonly ValidationIssue[] };

/** Limits the validator applies. Every field is optional; defaults follow each. */
export interface ValidationLimits {
  /** Longest event `name`, in characters. Default 256. */
  maxNameLength?: number;
  /** Longest event `id`, in characters. Default 128. */
  maxIdLength?: number;
  /** Deepest nesting inside `attributes`, `context`, `value` and `traits`. Default 16. */
  maxDepth?: number;
  /** Most events in one batch. Default 10 000. */
  maxBatchEvents?: number;
  /** Issues reported per request at most (the rest are counted in a last issue). Default 20. */
  maxIssues?: number;
}

/** The limits in force, defaults applied. */
export type ResolvedValidationLimits = Required<ValidationLimits>;

/**
 * The largest `maxDepth`: values nested this deep are validated, decoded and encoded (JSON, protobuf)
 * by recursion, which a much deeper value would take past the stack (a 500 instead of a 400).
 */
export const MAX_DEPTH_LIMIT = 1_000;

/** Applies the defaults of {@link ValidationLimits}; a `maxDepth` that is no integer from 1 to {@link MAX_DEPTH_LIMIT} throws TRACKPIPE_ERR_OPTIONS_INVALID. */
export function resolveLimits(limits: ValidationLimits = {}): ResolvedValidationLimits {
  const maxDepth = limits.maxDepth ?? 16;
  if (!Number.isInteger(maxDepth) || maxDepth < 1 || maxDepth > MAX_DEPTH_LIMIT) {
    throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', `limits.maxDepth must be an integer from 1 to ${MAX_DEPTH_LIMIT} (got ${String(maxDepth)})`, {
      details: { option: 'limits.maxDepth' },
    });
  }
  return {
    maxNameLength: limits.maxNameLength ?? 256,
    maxIdLength: limits.maxIdLength ?? 128,
    maxDepth,
    maxBatchEvents: limits.maxBatchEvents ?? 10_000,
    maxIssues: limits.maxIssues ?? 20,
  };
}

/** The name of the event an identify call becomes. */
export const IDENTIFY_EVENT = 'identify';

const EVENT_KEYS = new Set([
  'id',
  'name',
  'timestamp',
  'attributes',
  'traceId',
  'spanId',
  'flagKey',
  'value',
  'variant',
  'reason',
  'errorCode',
  'targetingKey',
  'provider',
  'context',
]);
const OPTIONAL_STRINGS = ['variant', 'reason', 'errorCode', 'targetingKey', 'provider'] as const;
const IDENTIFY_KEYS = new Set(['id', 'userId', 'timestamp', 'traits']);
const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;

/** Collects issues up to a cap; past it, counts them. */
class Issues {
  readonly list: ValidationIssue[] = [];
  #more = 0;
  constructor(readonly max: number) {}

  add(path: string, message: string): void {
    if (this.list.length < this.max) this.list.push({ path, message });
    else this.#more++;
  }

  get full(): boolean {
    return this.list.length >= this.max;
  }

  result(): readonly ValidationIssue[] {
    return this.#more === 0 ? this.list : [...this.list, { path: '', message: `and ${this.#more} more problems` }];
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function join(path: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? (path === '' ? key : `${path}.${key}`) : `${path}[${JSON.stringify(key)}]`;
}

const TOO_DEEP = Symbol('too deep');

/** A lone surrogate: a UTF-16 half without its pair (JSON's `"\ud800"`), which no UTF-8 can carry. */
const LONE_SURROGATE = /\p{Cs}/u;
const LONE = 'it holds a lone surrogate, e.g. \\ud800 without its pair, which UTF-8 cannot carry: it is refused, never repaired';
const NOT_UNICODE = `must be valid Unicode (${LONE})`;
const KEY_NOT_UNICODE = `is a key that is not valid Unicode (${LONE})`;
const NOT_FINITE = 'must be a finite number';

/** What is wrong at the keys `at` below a value. */
interface Problem {
  readonly at: readonly (string | number)[];
  readonly message: string;
}

/**
 * What is wrong inside a parsed JSON value, if anything: nesting past `limit` ({@link TOO_DEEP}; a
 * scalar is at depth 0); a number that is not finite (JSON's `1e400` parses as Infinity, a gRPC
 * Struct may hold NaN; JSON cannot carry either, so it would reach the destination as `null`); a
 * string or key with a lone surrogate (a destination's UTF-8 encoder would put U+FFFD in its place,
 * and two different ids could become one). Built only when there is one.
 */
function problemIn(value: unknown, limit: number, depth = 0): typeof TOO_DEEP | Problem | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : { at: [], message: NOT_FINITE };
  if (typeof value === 'string') return LONE_SURROGATE.test(value) ? { at: [], message: NOT_UNICODE } : undefined;
  if (typeof value !== 'object' || value === null) return undefined;
  if (depth > limit) return TOO_DEEP;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const problem = problemIn(value[i], limit, depth + 1);
      if (problem !== undefined) return problem === TOO_DEEP ? problem : { at: [i, ...problem.at], message: problem.message };
    }
    return undefined;
  }
  for (const key of Object.keys(value)) {
    if (LONE_SURROGATE.test(key)) return { at: [key], message: KEY_NOT_UNICODE };
    const problem = problemIn((value as Record<string, unknown>)[key], limit, depth + 1);
    if (problem !== undefined) return problem === TOO_DEEP ? problem : { at: [key, ...problem.at], message: problem.message };
  }
  return undefined;
}

/** A JSON-compatible value (as JSON.parse or the gRPC decoder produce), within the nesting limit. */
function checkJsonValue(value: unknown, path: string, limits: ResolvedValidationLimits, issues: Issues): value is AttributeValue {
  const problem = problemIn(value, limits.maxDepth);
  if (problem === TOO_DEEP) {
    issues.add(path, `is nested more than ${limits.maxDepth} levels deep`);
    return false;
  }
  if (problem !== undefined) {
    issues.add(problem.at.reduce<string>((at, key) => (typeof key === 'number' ? `${at}[${key}]` : join(at, key)), path), problem.message);
    return false;
  }
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol' || typeof value === 'bigint') {
    issues.add(path, 'must be a JSON value');
    return false;
  }
  return true;
}

function checkObject(value: unknown, path: string, limits: ResolvedValidationLimits, issues: Issues): value is Attributes {
  if (!isRecord(value)) {
    issues.add(path, `must be an object, got ${typeName(value)}`);
    return false;
  }
  return checkJsonValue(value, path, limits, issues);
}

function checkString(value: unknown, path: string, max: number, issues: Issues): value is string {
  if (typeof value !== 'string') {
    issues.add(path, `must be a string, got ${typeName(value)}`);
    return false;
  }
  if (value === '') {
    issues.add(path, 'must not be empty');
    return false;
  }
  if (value.length > max) {
    issues.add(path, `must be at most ${max} characters`);
    return false;
  }
  if (LONE_SURROGATE.test(value)) {
    issues.add(path, NOT_UNICODE);
    return false;
  }
  return true;
}

/** The latest date a JavaScript Date can hold, in epoch ms (year 275760). */
const MAX_DATE_MS = 8_640_000_000_000_000;

/** Epoch ms from a number or an ISO 8601 string; undefined (with an issue) otherwise. */
function checkTimestamp(value: unknown, path: string, issues: Issues): number | undefined {
  if (typeof value === 'number') {
    if (value >= 0 && value <= MAX_DATE_MS) return value;
    issues.add(path, `must be epoch milliseconds (a number from 0 to ${MAX_DATE_MS}, a date JavaScript can hold)`);
    return undefined;
  }
  if (typeof value === 'string') {
    const ms = Date.parse(value);
    if (/^\d{4}-\d{2}-\d{2}T/.test(value) && Number.isFinite(ms) && ms >= 0) return ms;
    issues.add(path, 'must be epoch milliseconds or an ISO 8601 date-time');
    return undefined;
  }
  issues.add(path, `must be epoch milliseconds or an ISO 8601 date-time, got ${typeName(value)}`);
  return undefined;
}

/**
 * Validates one event at `path` and returns a fresh object holding only the known fields (so
 * nothing unexpected reaches the pipeline), or undefined after adding issues.
 */
function checkEvent(input: unknown, path: string, limits: ResolvedValidationLimits, issues: Issues): IngestEvent | undefined {
  if (!isRecord(input)) {
    issues.add(path, `must be an event object, got ${typeName(input)}`);
    return undefined;
  }
  const before = issues.list.length;
  const at = (key: string): string => join(path, key);
  for (const key of Object.keys(input)) {
    if (!EVENT_KEYS.has(key)) issues.add(at(key), 'unknown field');
  }
  const event: IngestEvent = { name: '' };
  if (input.name === undefined) issues.add(at('name'), 'required');
  else if (checkString(input.name, at('name'), limits.maxNameLength, issues)) event.name = input.name;
  if (input.id !== undefined && checkString(input.id, at('id'), limits.maxIdLength, issues)) event.id = input.id;
  if (input.timestamp !== undefined) {
    const ms = checkTimestamp(input.timestamp, at('timestamp'), issues);
    if (ms !== undefined) event.timestamp = ms;
  }
  if (input.attributes !== undefined && checkObject(input.attributes, at('attributes'), limits, issues)) {
    event.attributes = input.attributes;
  }
  if (input.traceId !== undefined) {
    if (typeof input.traceId === 'string' && TRACE_ID.test(input.traceId)) event.traceId = input.traceId;
    else issues.add(at('traceId'), 'must be 32 lowercase hex digits');
  }
  if (input.spanId !== undefined) {
    if (typeof input.spanId === 'string' && SPAN_ID.test(input.spanId)) event.spanId = input.spanId;
    else issues.add(at('spanId'), 'must be 16 lowercase hex digits');
  }
  const isFlag = input.name === 'feature_flag.evaluation';
  if (input.flagKey === undefined) {
    if (isFlag) issues.add(at('flagKey'), 'required for a feature_flag.evaluation event');
  } else if (checkString(input.flagKey, at('flagKey'), limits.maxNameLength, issues)) {
    event.flagKey = input.flagKey;
  }
  if (input.value === undefined) {
    if (isFlag) issues.add(at('value'), 'required for a feature_flag.evaluation event');
  } else if (checkJsonValue(input.value, at('value'), limits, issues)) {
    event.value = input.value;
  }
  for (const key of OPTIONAL_STRINGS) {
    const value = input[key];
    if (value !== undefined && checkString(value, at(key), limits.maxNameLength, issues)) event[key] = value;
  }
  if (input.context !== undefined && checkObject(input.context, at('context'), limits, issues)) event.context = input.context;
  return issues.list.length === before && !issues.full ? event : undefined;
}

function done<T>(value: T | undefined, issues: Issues): Validation<T> {
  const list = issues.result();
  return list.length === 0 && value !== undefined ? { ok: true, value } : { ok: false, issues: list };
}

/** Validates the body of `POST /v1/track` (and gRPC `TrackEvent`): one event. */
export function validateEvent(body: unknown, limits: ResolvedValidationLimits, path = ''): Validation<IngestEvent> {
  const issues = new Issues(limits.maxIssues);
  const event = checkEvent(body, path, limits, issues);
  return done(event, issues);
}

/**
 * Validates a list of events found at `path` (`batch` in `POST /v1/batch`, `events` in gRPC
 * `TrackBatch`). Every event must be valid: one bad event refuses the whole batch.
 */
export function validateEvents(list: unknown, path: string, limits: ResolvedValidationLimits): Validation<IngestEvent[]> {
  const issues = new Issues(limits.maxIssues);
  if (list === undefined) {
    issues.add(path, 'required');
    return done<IngestEvent[]>(undefined, issues);
  }
  if (!Array.isArray(list)) {
    issues.add(path, `must be a list of events, got ${typeName(list)}`);
    return done<IngestEvent[]>(undefined, issues);
  }
  if (list.length === 0) {
    issues.add(path, 'must not be empty');
    return done<IngestEvent[]>(undefined, issues);
  }
  if (list.length > limits.maxBatchEvents) {
    issues.add(path, `must have at most ${limits.maxBatchEvents} events`);
    return done<IngestEvent[]>(undefined, issues);
  }
  const events: IngestEvent[] = [];
  for (let i = 0; i < list.length; i++) {
    const event = checkEvent(list[i], `${path}[${i}]`, limits, issues);
    if (event !== undefined) events.push(event);
  }
  return done(events, issues);
}

/** Validates the body of `POST /v1/batch`: `{ "batch": [event, ...] }`. */
export function validateBatch(body: unknown, limits: ResolvedValidationLimits): Validation<IngestEvent[]> {
  if (!isRecord(body)) {
    const issues = new Issues(limits.maxIssues);
    issues.add('', `the body must be an object with a "batch" list, got ${typeName(body)}`);
    return done<IngestEvent[]>(undefined, issues);
  }
  const unknown = Object.keys(body).filter((key) => key !== 'batch');
  if (unknown.length > 0) {
    const issues = new Issues(limits.maxIssues);
    for (const key of unknown) issues.add(join('', key), 'unknown field');
    return done<IngestEvent[]>(undefined, issues);
  }
  return validateEvents(body.batch, 'batch', limits);
}

/**
 * Validates the body of `POST /v1/identify` (and gRPC `IdentifyUser`): `{ userId, traits?, id?, timestamp? }`,
 * and turns it into an `identify` event whose attributes hold `userId` and `traits`.
 */
export function validateIdentify(body: unknown, limits: ResolvedValidationLimits): Validation<IngestEvent> {
  const issues = new Issues(limits.maxIssues);
  if (!isRecord(body)) {
    issues.add('', `the body must be an object with a userId, got ${typeName(body)}`);
    return done<IngestEvent>(undefined, issues);
  }
  for (const key of Object.keys(body)) {
    if (!IDENTIFY_KEYS.has(key)) issues.add(join('', key), 'unknown field');
  }
  const attributes: Attributes = {};
  const event: IngestEvent = { name: IDENTIFY_EVENT, attributes };
  if (body.userId === undefined) issues.add('userId', 'required');
  else if (checkString(body.userId, 'userId', limits.maxNameLength, issues)) attributes.userId = body.userId;
  if (body.traits !== undefined && checkObject(body.traits, 'traits', limits, issues)) attributes.traits = body.traits;
  if (body.id !== undefined && checkString(body.id, 'id', limits.maxIdLength, issues)) event.id = body.id;
  if (body.timestamp !== undefined) {
    const ms = checkTimestamp(body.timestamp, 'timestamp', issues);
    if (ms !== undefined) event.timestamp = ms;
  }
  return done(event, issues);
}

/** `path: message` for each issue, joined with `; ` — the one-line form used in error messages. */
export function describeIssues(issues: readonly ValidationIssue[]): string {
  return issues.map((i) => (i.path === '' ? i.message : `${i.path}: ${i.message}`)).join('; ');
}
