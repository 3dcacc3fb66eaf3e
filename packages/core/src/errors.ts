/**
 * Every error Trackpipe reports carries one of these stable codes. Each is documented in the
 * package README ("Error codes"); a test keeps the two in step.
 */
export const ErrorCodes = {
  /** A constructor or factory was given an invalid option. */
  TRACKPIPE_ERR_OPTIONS_INVALID: 'an option has an invalid value',
  /** `record()` was given something that is not an event (null, not an object, no name). */
  TRACKPIPE_ERR_EVENT_INVALID: 'an invalid event was dropped',
  /** An event could not be serialized (a cycle, a BigInt, a throwing toJSON). */
  TRACKPIPE_ERR_EVENT_UNSERIALIZABLE: 'an event could not be serialized and was dropped',
  /** The exporter permanently rejected a batch, or some of its events. */
  TRACKPIPE_ERR_EXPORT_REJECTED: 'the exporter rejected events permanently',
  /** The exporter threw or answered something that is not an ExportResult. */
  TRACKPIPE_ERR_EXPORT_FAILED: 'the exporter failed unexpectedly',
  /** The destination refused the credentials (HTTP 401/403, SASL, topic authorization); retried within the budget unless the exporter says otherwise. */
  TRACKPIPE_ERR_EXPORT_AUTH: 'the destination refused the credentials',
  /** An export did not finish within `exportTimeoutMs`. */
  TRACKPIPE_ERR_EXPORT_TIMEOUT: 'an export timed out',
  /** A transient failure: the batch will be retried. */
  TRACKPIPE_ERR_EXPORT_RETRYABLE: 'an export failed transiently and will be retried',
  /** A batch was still failing when its retry budget (`retry.maxElapsedMs`) ran out. */
  TRACKPIPE_ERR_EXPORT_RETRIES_EXHAUSTED: 'a batch was dropped after its retries ran out',
  /** A single event was too large for the exporter's destination. */
  TRACKPIPE_ERR_EXPORT_TOO_LARGE: 'an event too large to export on its own was dropped',
  /** `close()` reached its deadline with events still undelivered. */
  TRACKPIPE_ERR_SHUTDOWN_TIMEOUT: 'close() reached its deadline and dropped the rest',
  /** The spool directory cannot be created, read or written; the message names it. */
  TRACKPIPE_ERR_SPOOL_UNAVAILABLE: 'the spool directory cannot be used',
  /** A receiver (e.g. the Kafka receiver) could not connect to its source or join its consumer group; the message names the receiver. */
  TRACKPIPE_ERR_RECEIVER_UNAVAILABLE: 'a receiver could not connect to its source',
  /** A configuration failed validation; the message names the path. */
  TRACKPIPE_ERR_CONFIG_INVALID: 'the configuration is invalid',
} as const;

/** A stable Trackpipe error code. */
export type ErrorCode = keyof typeof ErrorCodes;

/** The one error class Trackpipe creates. Check `code`, not the class name or message. */
export class TrackpipeError extends Error {
  /** Stable code, `TRACKPIPE_ERR_<AREA>_<WHAT>`. */
  readonly code: ErrorCode;
  /** True when trying again may succeed. Unknown failures are not retriable. */
  readonly retriable: boolean;
  /** Structured context (pipeline, exporter, counts); never holds secrets. */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { retriable?: boolean; cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(`${code}: ${message}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TrackpipeError';
    this.code = code;
    this.retriable = options.retriable ?? false;
    this.details = options.details ?? {};
  }
}

/** True when `error` says, through an explicit `retriable: true`, that trying again may succeed. */
export function isRetriable(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { retriable?: unknown }).retriable === true;
}

/** A short description of any thrown value. Never throws, whatever it is given (revoked proxies, throwing getters). */
export function describeError(error: unknown): string {
  try {
    if (error instanceof Error) return String(error.message);
    return String(error);
  } catch {
    return 'unknown error (it could not be described)';
  }
}

/** Strings up to this length are shown in an option error; a longer one only by its length. */
const SHOWN_STRING = 32;

/**
 * A bad option value for an error message. Never throws and runs no user code — `String()` would call
 * a `toString` or `Symbol.toPrimitive` that may throw, or print a whole function's source: numbers,
 * booleans, null and undefined as they are, short strings quoted, anything else by its kind.
 */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case 'number':
    case 'boolean':
    case 'undefined':
      return String(value);
    case 'string':
      return value.length <= SHOWN_STRING ? JSON.stringify(value) : `a string of ${value.length} characters`;
    case 'bigint':
      return 'a bigint';
    case 'symbol':
      return 'a symbol';
    case 'function':
      return 'a function';
    default:
      if (value === null) return 'null';
      try {
        return Array.isArray(value) ? 'a list' : 'an object';
      } catch {
        return 'an object'; // a revoked proxy
      }
  }
}
