// A record batch kafkajs cannot decode (bytes damaged on the broker's disk or on the way, a hostile
// broker, a compressed payload its codec refuses) fails the decoding of the whole fetch response:
// kafkajs throws without saying which partition or offset, restarts the consumer, fetches the same
// batch again and fails again, for ever, reading nothing from any partition of that fetch.
//
// kafkajs has no hook for it, so the receiver's consumers decode record sets with the function
// below in place of kafkajs's own (`protocol/requests/fetch/v4/decodeMessages`, which every fetch
// version from v4 on uses): batch by batch with kafkajs's record-batch decoder, and a batch that
// fails becomes one marker record at the batch's last offset, carrying the problem. kafkajs hands
// it over in order like any record; the receiver drops it (counted, reason `corrupt`) and its offset
// moves and is committed past the batch. Only the receiver's consumers get this (an async-context
// scope): any other kafkajs client in the process decodes as kafkajs does.
//
// kafkajs 2.2.4 (its last release; the catalog pins ^2.2.4) is patched through its CommonJS module
// cache: the decoder module's export is replaced, and the fetch response modules that captured the
// original are evicted, so that they load again with this one. When the files are not where 2.2.4
// has them, nothing is patched and kafkajs behaves as before (`installDamagedBatchDecoder` says so).
import { AsyncLocalStorage } from 'node:async_hooks';
import { createRequire } from 'node:module';
import type { DamagedBatch } from './seam.js';

const require = createRequire(import.meta.url);
const FETCH = 'kafkajs/src/protocol/requests/fetch';
/** The record-batch format (magic 2, Kafka 0.11+): older message sets are left to kafkajs. */
const MAGIC_V2 = 2;
/** Bytes of a batch header after firstOffset and length, up to and including the record count. */
const BATCH_OVERHEAD = 49;

interface KafkaJsDecoder {
  offset: number;
  readonly buffer: Buffer;
  readInt32(): number;
  readInt8(): number;
  readVarInt(): number;
  readVarLong(): unknown;
  readVarIntBytes(): Buffer | null;
  readVarIntArray<T>(decode: (decoder: KafkaJsDecoder) => T): T[];
  readBytes(length: number): Buffer;
  canReadBytes(length: number): boolean;
}

interface KafkaJsLong {
  add(other: unknown): { toString(): string };
}

interface BatchContext {
  readonly firstOffset?: unknown;
  readonly firstTimestamp?: unknown;
  readonly magicByte?: number;
  readonly isControlBatch?: boolean;
  readonly timestampType?: number;
  readonly maxTimestamp?: unknown;
}

/**
 * kafkajs 2.2.4's record decoder (`protocol/recordBatch/record/v0/decoder`), but for the headers: kafkajs
 * builds their object by spreading it again for each header, quadratic in their number (one record of
 * 20 000 headers, 150 KB, held the event loop for 70 s: heartbeats stopped, the group dropped the
 * member, and the next owner met the same record). Here they are read in one pass, to the same shape
 * (a header given more than once: the list of its values), each an own property (`__proto__` too).
 */
function recordDecoder(Long: { fromValue(value: unknown): KafkaJsLong }, logAppendTime: number, decodeHeader: (decoder: KafkaJsDecoder) => { key: string; value: Buffer | null }) {
  return (decoder: KafkaJsDecoder, batchContext: BatchContext = {}): unknown => {
    const { firstOffset, firstTimestamp, magicByte, isControlBatch = false, timestampType, maxTimestamp } = batchContext;
    const attributes = decoder.readInt8();
    const timestampDelta = decoder.readVarLong();
    const timestamp = timestampType === logAppendTime && Boolean(maxTimestamp) ? maxTimestamp : Long.fromValue(firstTimestamp).add(timestampDelta).toString();
    const offsetDelta = decoder.readVarInt();
    const offset = Long.fromValue(firstOffset).add(offsetDelta).toString();
    const key = decoder.readVarIntBytes();
    const value = decoder.readVarIntBytes();
    const headers: Record<string, Buffer | null | (Buffer | null)[]> = {};
    for (const header of decoder.readVarIntArray(decodeHeader)) {
      const current = Object.hasOwn(headers, header.key) ? headers[header.key] : undefined;
      if (Array.isArray(current)) {
        current.push(header.value);
        continue;
      }
      const next = current === undefined ? header.value : [current, header.value];
      Object.defineProperty(headers, header.key, { value: next, writable: true, enumerable: true, configurable: true });
    }
    return { magicByte, attributes, timestamp, offset, key, value, headers, isControlRecord: isControlBatch, batchContext };
  };
}

type DecodeMessages = (decoder: KafkaJsDecoder) => Promise<unknown[]>;

const scope = new AsyncLocalStorage<true>();

/** Runs `fn` (a kafkajs consumer's run) so that the fetches it makes turn damaged batches into marker records. */
export function skippingDamagedBatches<T>(fn: () => T): T {
  return scope.run(true, fn);
}

/** True inside a receiver's consumer (its fetches, and the codecs they call). */
export function inReceiverScope(): boolean {
  return scope.getStore() === true;
}

let installed: boolean | undefined;

/**
 * A copy of kafkajs's record-batch decoder of our own, that decodes records with {@link recordDecoder}:
 * loaded with that in kafkajs's module cache for the record decoder, then the cache is put back as it
 * was (any other kafkajs client keeps kafkajs's decoders).
 */
function batchDecoderWithLinearHeaders(): (decoder: KafkaJsDecoder) => Promise<{ records: unknown[] }> {
  const batchPath = require.resolve('kafkajs/src/protocol/recordBatch/v0/decoder.js');
  const recordPath = require.resolve('kafkajs/src/protocol/recordBatch/record/v0/decoder.js');
  require(recordPath);
  const Long = require('kafkajs/src/utils/long.js') as { fromValue(value: unknown): KafkaJsLong };
  const { LOG_APPEND_TIME } = require('kafkajs/src/protocol/timestampTypes.js') as { LOG_APPEND_TIME: number };
  const decodeHeader = require('kafkajs/src/protocol/recordBatch/header/v0/decoder.js') as (decoder: KafkaJsDecoder) => { key: string; value: Buffer | null };
  const recordModule = require.cache[recordPath];
  if (recordModule === undefined || typeof LOG_APPEND_TIME !== 'number' || typeof decodeHeader !== 'function') throw new Error('kafkajs is not 2.2.4');
  const kafkaJsRecord: unknown = recordModule.exports;
  const kafkaJsBatch = require.cache[batchPath];
  try {
    recordModule.exports = recordDecoder(Long, LOG_APPEND_TIME, decodeHeader);
    Reflect.deleteProperty(require.cache, batchPath);
    return require(batchPath) as (decoder: KafkaJsDecoder) => Promise<{ records: unknown[] }>;
  } finally {
    recordModule.exports = kafkaJsRecord;
    if (kafkaJsBatch === undefined) Reflect.deleteProperty(require.cache, batchPath);
    else require.cache[batchPath] = kafkaJsBatch;
  }
}

/** Replaces kafkajs's record-set decoder (once per process). False when kafkajs's files are not where 2.2.4 has them. */
export function installDamagedBatchDecoder(): boolean {
  if (installed !== undefined) return installed;
  installed = false;
  let path: string;
  let original: DecodeMessages;
  let Decoder: new (buffer: Buffer) => KafkaJsDecoder;
  let decodeBatch: (decoder: KafkaJsDecoder) => Promise<{ records: unknown[] }>;
  let crc32C: (buffer: Buffer) => number;
  let responses: string[];
  try {
    path = require.resolve(`${FETCH}/v4/decodeMessages.js`);
    original = require(path) as DecodeMessages;
    Decoder = require('kafkajs/src/protocol/decoder.js') as typeof Decoder;
    decodeBatch = batchDecoderWithLinearHeaders();
    crc32C = require('kafkajs/src/protocol/recordBatch/crc32C/index.js') as typeof crc32C;
    responses = [4, 5, 6, 7, 8, 9, 10, 11].map((version) => require.resolve(`${FETCH}/v${version}/response.js`));
  } catch {
    return false;
  }
  const cached = require.cache[path];
  if (typeof original !== 'function' || typeof decodeBatch !== 'function' || typeof crc32C !== 'function' || cached === undefined) return false;

  const tolerant: DecodeMessages = async (decoder) => {
    if (scope.getStore() !== true) return original(decoder);
    const start = decoder.offset;
    const size = decoder.readInt32();
    if (size <= 0 || !decoder.canReadBytes(size)) return [];
    const bytes = decoder.readBytes(size);
    if (bytes.length < 17 || bytes.readInt8(16) !== MAGIC_V2) {
      decoder.offset = start;
      return original(decoder);
    }
    const batches = new Decoder(bytes);
    const records: unknown[] = [];
    let previousLast = -1n;
    while (batches.canReadBytes(12 + BATCH_OVERHEAD)) {
      const at = batches.offset;
      const firstOffset = bytes.readBigInt64BE(at);
      const length = bytes.readInt32BE(at + 8);
      // The tail of a fetch may hold part of a batch (the broker cuts at maxBytes): as kafkajs, stop there.
      if (length >= BATCH_OVERHEAD && at + 12 + length > bytes.length) break;
      if (length < BATCH_OVERHEAD) throw new Error(`a record batch at offset ${firstOffset} is damaged: its length (${length}) is less than a batch header`);
      let lastOffsetDelta = bytes.readInt32BE(at + 23);
      let lastOffset = firstOffset + BigInt(lastOffsetDelta);
      try {
        const batch = await decodeBatch(batches);
        // One by one: a batch of small compressed records may hold more than a call takes arguments.
        for (const record of batch.records) records.push(record);
      } catch (error) {
        // Past what the batch says of itself (offsets out of order) a skip could go anywhere: fail as kafkajs does.
        if (firstOffset < 0n || lastOffsetDelta < 0 || firstOffset <= previousLast) throw error;
        const crc = crc32C(bytes.subarray(at + 21, at + 12 + length)) === bytes.readUInt32BE(at + 17) ? 'its CRC matches' : 'its CRC does not match';
        // The last offset it claims is damaged too when the damage reached it: the marker goes no
        // further than the next batch of the fetch starts (past it, the offsets would go back).
        if (at + 12 + length + 8 <= bytes.length) {
          const nextFirst = bytes.readBigInt64BE(at + 12 + length);
          if (nextFirst > firstOffset && nextFirst <= lastOffset) {
            lastOffset = nextFirst - 1n;
            lastOffsetDelta = Number(lastOffset - firstOffset);
          }
        }
        const problem = `${error instanceof Error ? error.message : String(error)} (${crc})`;
        const damaged: DamagedBatch = { firstOffset: firstOffset.toString(), problem };
        records.push({
          magicByte: MAGIC_V2,
          attributes: 0,
          timestamp: '0',
          offset: lastOffset.toString(),
          key: null,
          value: null,
          headers: {},
          isControlRecord: false,
          batchContext: { firstOffset: firstOffset.toString(), lastOffsetDelta, inTransaction: false, isControlBatch: false, producerId: '-1' },
          damaged,
        });
      }
      previousLast = lastOffset;
      batches.offset = at + 12 + length;
    }
    return records;
  };

  cached.exports = tolerant;
  // The fetch response modules captured kafkajs's function when they loaded; kafkajs requires them
  // again for every fetch, so evicted they load again, with this one.
  for (const response of responses) Reflect.deleteProperty(require.cache, response);
  installed = true;
  return true;
}
