import { isUtf8 } from 'node:buffer';
import type { TelemetryEvent } from '@trackpipe/core';
import type { FetchedRecord, HeaderValue } from './seam.js';

/** Why a record was not handed to the pipelines. Each is counted (`trackpipe_receiver_records_dropped_total{reason}`). */
export type RecordDropReason =
  /** Not our encoding: no value (a tombstone), a `content-type` header that is not JSON (any of them, when repeated; one without a value), bytes that are not UTF-8, text that is not JSON. */
  | 'undecodable'
  /** JSON, but not an event: not an object, no non-empty string `name`, an `id` that is not a non-empty string, a `timestamp` that is not a finite number. */
  | 'invalid'
  /** A record batch the client could not decode (damaged bytes, a payload its codec refuses): one marker for the whole batch, whose offsets are skipped. */
  | 'corrupt';

/** All record drop reasons, in a stable order. */
export const RECORD_DROP_REASONS: readonly RecordDropReason[] = ['undecodable', 'invalid', 'corrupt'];

/** What {@link decodeRecord} answers: the event, or why the record is dropped (never quoting the record). */
export type Decoded = { readonly ok: true; readonly event: TelemetryEvent } | { readonly ok: false; readonly reason: RecordDropReason; readonly message: string };

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\s*(?:;|$)/i;
/** What the Kafka exporter writes: compared as bytes, it spares a string and a regular expression per record. */
const EXPORTER_TYPE = Buffer.from('application/json');

/** A header without a value (null) names nothing; anything but text or bytes neither. */
function isJsonType(value: unknown): boolean {
  if (typeof value === 'string') return JSON_TYPE.test(value);
  if (!Buffer.isBuffer(value)) return false;
  return EXPORTER_TYPE.equals(value) || JSON_TYPE.test(value.toString('utf8'));
}

/** True when the `content-type` header is absent or names JSON; when the record repeats it, every one must. */
function namesJson(value: HeaderValue): boolean {
  if (value === undefined) return true;
  return Array.isArray(value) ? (value as readonly unknown[]).every(isJsonType) : isJsonType(value);
}

/**
 * Decodes one record as `@trackpipe/exporter-kafka` writes it: the value is the UTF-8 JSON of the
 * recorded event (`id`, `name`, `timestamp`, `attributes`, flag-evaluation fields, ...); the
 * `content-type` header, when present, must name JSON (`application/json`, `application/*+json`);
 * a record that repeats the header is our encoding only when every one of them names JSON.
 * The other headers (`event-name`, `schema-version`) and the key are not needed: the value holds the
 * whole event. Never throws; the message never quotes the record (it may hold personal data).
 */
export function decodeRecord(record: FetchedRecord): Decoded {
  if (record.damaged !== undefined) {
    return { ok: false, reason: 'corrupt', message: `a record batch that cannot be decoded, offsets ${record.damaged.firstOffset} to ${record.offset}: ${record.damaged.problem}` };
  }
  const value = record.value;
  if (value === null || value === undefined) return { ok: false, reason: 'undecodable', message: 'the record has no value (a tombstone)' };
  if (!namesJson(record.header === undefined ? record.headers?.['content-type'] : record.header('content-type'))) {
    return { ok: false, reason: 'undecodable', message: 'the content-type header does not name JSON' };
  }
  const text = value.toString('utf8');
  // Invalid UTF-8 decodes to U+FFFD; only then is the value checked byte by byte (valid text may hold U+FFFD too).
  if (text.includes('\uFFFD') && !isUtf8(value)) return { ok: false, reason: 'undecodable', message: 'the value is not UTF-8 text' };
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'undecodable', message: 'the value is not JSON' };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return { ok: false, reason: 'invalid', message: 'the value is not a JSON object' };
  const event = parsed as Record<string, unknown>;
  if (typeof event.name !== 'string' || event.name === '') return { ok: false, reason: 'invalid', message: 'the event has no name (a non-empty string)' };
  if (event.id !== undefined && (typeof event.id !== 'string' || event.id === '')) {
    return { ok: false, reason: 'invalid', message: 'the event id is not a non-empty string' };
  }
  if (event.timestamp !== undefined && (typeof event.timestamp !== 'number' || !Number.isFinite(event.timestamp))) {
    return { ok: false, reason: 'invalid', message: 'the event timestamp is not a finite number (epoch ms)' };
  }
  return { ok: true, event: event as unknown as TelemetryEvent };
}
