import { describeError } from './errors.js';
import type { Recorded, TelemetryEvent } from './events.js';
import { nextEventId, recordTime } from './id.js';
import type { SpanIds } from './trace-context.js';

/**
 * What every collector's `record()` does first, and the only place that touches the caller's object.
 * Checks that `event` is an event (an object with a non-empty string `name`; `id`, when given, a
 * non-empty string; `timestamp`, when given, a finite number), and completes it: `id` and `timestamp`
 * when absent, and the span ids from `spanIds` (when given and the event has none).
 *
 * Returns the admitted event — the same object, completed in place, or, when it cannot be changed
 * (frozen, sealed, a read-only proxy), a shallow copy with the added fields, so the caller's object is
 * never half-changed or thrown at — or a string saying why it was refused. Never throws: throwing
 * getters and revoked proxies are refused.
 */
export function admit<E extends TelemetryEvent>(event: E, spanIds?: () => SpanIds | undefined): Recorded<E> | string {
  try {
    if (event === null || typeof event !== 'object') return `expected an event object, got ${event === null ? 'null' : typeof event}`;
    const name: unknown = event.name;
    if (typeof name !== 'string' || name === '') return 'the event has no name (a non-empty string is required)';
    let id: unknown = event.id;
    let timestamp: unknown = event.timestamp;
    if (id !== undefined && (typeof id !== 'string' || id === '')) return 'the event id must be a non-empty string when given';
    if (timestamp !== undefined && (typeof timestamp !== 'number' || !Number.isFinite(timestamp))) {
      return 'the event timestamp must be a finite number (epoch ms) when given';
    }
    const span = spanIds !== undefined && event.traceId === undefined ? spanIds() : undefined;
    if (id !== undefined && timestamp !== undefined && span === undefined) return event as Recorded<E>;
    if (timestamp === undefined || id === undefined) {
      // The id carries the record time, never the event's own timestamp: a fractional or negative one
      // would not be a UUID, and one far in the future would become every later id's time.
      const now = recordTime();
      timestamp ??= now;
      id ??= nextEventId(now);
    }
    try {
      const target = event as TelemetryEvent;
      if (target.timestamp === undefined) target.timestamp = timestamp as number;
      if (target.id === undefined) target.id = id as string;
      if (span !== undefined) {
        target.traceId = span.traceId;
        target.spanId = span.spanId;
      }
      return event as Recorded<E>;
    } catch {
      // Frozen (Immer, Object.freeze in reducers), sealed, or a proxy that refuses: deliver a copy.
      const copy: TelemetryEvent = { ...event, id: id as string, timestamp: timestamp as number };
      if (span !== undefined) {
        copy.traceId = span.traceId;
        copy.spanId = span.spanId;
      }
      return copy as Recorded<E>;
    }
  } catch (error) {
    return `the event could not be read (${describeError(error)})`;
  }
}
