import { type BatchEncoder, type Encoder, type ExportBatch, type TelemetryEvent, jsonEncoder, plainJsonEvents } from '@trackpipe/core';
import { type Frame, framed } from './framing.js';
import { encodeOtlpLogRecord, otlpBatchEncoder, otlpEnvelope, type OtlpOptions } from './otlp.js';

/** A custom body format: how each event is encoded and how the encoded events become one body. */
export interface HttpSerializer<E> {
  /** The request's `content-type`. */
  readonly contentType: string;
  /** Per-event encoder (the processor calls it once per event). Default `JSON.stringify`. */
  readonly encoder?: Encoder<E>;
  /** Builds the body from the encoded events (`encoded[i]` is `events[i]` encoded). */
  body(encoded: readonly string[], events: readonly E[]): string | Uint8Array;
}

/** The built-in body formats. */
export type HttpBodyFormat = 'json' | 'ndjson' | 'otlp';

/** How one exporter turns batches into request bodies. */
export interface BodyFormat<E> {
  readonly contentType: string;
  /** Per-event encoder: the processor's path for exporters without `encodeBatch`, and its fallback. */
  readonly encoder: Encoder<E>;
  /** Whole-batch encoder, for the formats that have one (the body is then `batch.payload`). */
  readonly encodeBatch: BatchEncoder<E> | undefined;
  /** The body of a batch: its `payload` when the processor encoded the batch at once, else its `encoded` events framed. */
  body(batch: ExportBatch<E>): Uint8Array;
}

/** What {@link bodyFormat} needs to know. */
export interface BodyFormatOptions<E> {
  readonly format: HttpBodyFormat | HttpSerializer<E>;
  readonly envelopeKey?: string | undefined;
  readonly encoder?: Encoder<E> | undefined;
  readonly otlp?: OtlpOptions | undefined;
}

/** A custom serializer's body as bytes; throws (the batch is rejected) for anything but a string or a Uint8Array, which the request could not write. */
function toBytes(body: string | Uint8Array): Uint8Array {
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return body;
  throw new TypeError('body() must return a string or a Uint8Array');
}

function framedFormat<E>(contentType: string, encoder: Encoder<E>, frame: Frame, encodeBatch: BatchEncoder<E> | undefined): BodyFormat<E> {
  return {
    contentType,
    encoder,
    encodeBatch,
    body: (batch) => batch.payload ?? framed(frame, batch.encoded, batch.bytes),
  };
}

/**
 * The body format of an exporter:
 * - `json`: `[e1,…]` or `{"<envelopeKey>":[e1,…]}`. With the default encoder the batch is encoded at
 *   once, one `JSON.stringify(events)` (the same bytes as framing the events stringified one by one);
 *   with a custom `encoder`, event by event.
 * - `ndjson`: one line per event. Event by event: a line is one event's JSON, so a batch encoder would
 *   still stringify each event alone and gain nothing.
 * - `otlp`: an ExportLogsServiceRequest, encoded at once (records written directly into one buffer).
 * - a {@link HttpSerializer}: its encoder per event, its `body()` over the encoded texts.
 */
export function bodyFormat<E extends TelemetryEvent>(options: BodyFormatOptions<E>): BodyFormat<E> {
  const { format } = options;
  if (typeof format === 'object') {
    return {
      contentType: format.contentType,
      encoder: format.encoder ?? jsonEncoder,
      encodeBatch: undefined,
      body: (batch) => batch.payload ?? toBytes(format.body(batch.encoded, batch.events)),
    };
  }
  switch (format) {
    case 'json': {
      const key = options.envelopeKey;
      const frame: Frame = key === undefined ? { open: '[', separator: ',', close: ']' } : { open: `{${JSON.stringify(key)}:[`, separator: ',', close: ']}' };
      const around: Frame = key === undefined ? { open: '', separator: '', close: '' } : { open: `{${JSON.stringify(key)}:`, separator: '', close: '}' };
      // Only plain events stringify as themselves inside a list: a toJSON may make one something else, a
      // class may hide the name. Other batches are encoded event by event, so the bad one is found and dropped.
      const encodeBatch: BatchEncoder<E> | undefined =
        options.encoder === undefined
          ? (events) => (plainJsonEvents(events) ? framed(around, [JSON.stringify(events)]) : framed(frame, events.map(jsonEncoder)))
          : undefined;
      return framedFormat('application/json', options.encoder ?? jsonEncoder, frame, encodeBatch);
    }
    case 'ndjson':
      return framedFormat('application/x-ndjson', options.encoder ?? jsonEncoder, { open: '', separator: '\n', close: '\n' }, undefined);
    case 'otlp': {
      const { prefix, suffix } = otlpEnvelope(options.otlp);
      const frame: Frame = { open: prefix, separator: ',', close: suffix };
      return framedFormat('application/json', encodeOtlpLogRecord, frame, otlpBatchEncoder(options.otlp));
    }
  }
}
