import { TrackpipeError } from '@trackpipe/core';
import { MAX_TIMER_MS, describeValue } from '@trackpipe/core/internal';

/**
 * An integer option given in code, checked as the configuration's schema checks it: `value` (or
 * `fallback` when undefined) must be an integer from `min` to `max`, else TRACKPIPE_ERR_OPTIONS_INVALID
 * naming `option` (its path, e.g. `http.keepAliveTimeoutMs`), with `details.option`.
 */
export function integerOption(option: string, value: unknown, fallback: number, min: number, max: number = Number.MAX_SAFE_INTEGER): number {
  const n = value ?? fallback;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    const rule = max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer from ${min} to ${max}`;
    throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', `${option} must be ${rule} (got ${describeValue(n)})`, { details: { option } });
  }
  return n;
}

/**
 * A duration in ms given in code: an integer from `min` to 2 147 483 647 (`MAX_TIMER_MS`, the longest a
 * Node.js timer waits; a longer one fires at once), as the configuration's `ms()` allows; else
 * TRACKPIPE_ERR_OPTIONS_INVALID naming `option`.
 */
export function durationOption(option: string, value: unknown, fallback: number, min = 1): number {
  return integerOption(option, value, fallback, min, MAX_TIMER_MS);
}
