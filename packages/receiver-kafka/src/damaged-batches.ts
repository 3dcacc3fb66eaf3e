// A record batch kafkajs cannot decode (bytes damaged on the broker's disk or on the way, a hostile
// broker, a compressed payload its codec refuses) fails the decoding of the whole fetch response:
// kafkajs throws without saying which partition or offset, restarts the consumer, fetches the same
// batch again and fails again, for ever, reading nothing from any partition of that fetch.
//
// kafkajs has no hook for it, so the receiver's consumers decode record sets with the function
// below in place of kafkajs's own (`protocol/requests/fetch/v4/decodeMessages`, which every fetch
// version from v4 on uses): batch by batch with our record-batch decoder (./record-batch.ts: the
// records kafkajs's decoder gives, for a fifth of its cost), and a batch that fails becomes one marker record
// at the batch's last offset, carrying the problem. kafkajs hands
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
import { MAGIC_OFFSET, MAGIC_V2, type RecordsCodec, decodeRecordBatch } from './record-batch.js';
import type { DamagedBatch } from './seam.js';

const require = createRequire(import.meta.url);
const FETCH = 'kafkajs/src/protocol/requests/fetch';
/** Bytes of a batch header after firstOffset and length, up to and including the record count. */
const BATCH_OVERHEAD = 49;
/**
 * Batches of one record set decoded at once: zlib's work runs on libuv's threads (4 by default), and
 * each batch may decompress to MAX_BATCH_BYTES (64 MiB): batches that fail to decode hold at most four times that.
 */
const DECODE_WINDOW = 4;

interface KafkaJsDecoder {
  offset: number;
  readInt32(): number;
  readBytes(length: number): Buffer;
  canReadBytes(length: number): boolean;
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

/** Replaces kafkajs's record-set decoder (once per process). False when kafkajs's files are not where 2.2.4 has them. */
export function installDamagedBatchDecoder(): boolean {
  if (installed !== undefined) return installed;
  installed = false;
  let path: string;
  let original: DecodeMessages;
  let codecFor: (attributes: number) => RecordsCodec | null;
  let crc32C: (buffer: Buffer) => number;
  let responses: string[];
  try {
    path = require.resolve(`${FETCH}/v4/decodeMessages.js`);
    original = require(path) as DecodeMessages;
    codecFor = (require('kafkajs/src/protocol/message/compression/index.js') as { lookupCodecByAttributes: typeof codecFor }).lookupCodecByAttributes;
    crc32C = require('kafkajs/src/protocol/recordBatch/crc32C/index.js') as typeof crc32C;
    responses = [4, 5, 6, 7, 8, 9, 10, 11].map((version) => require.resolve(`${FETCH}/v${version}/response.js`));
  } catch {
    return false;
  }
  const cached = require.cache[path];
  if (typeof original !== 'function' || typeof codecFor !== 'function' || typeof crc32C !== 'function' || cached === undefined) return false;

  const tolerant: DecodeMessages = async (decoder) => {
    if (scope.getStore() !== true) return original(decoder);
    const start = decoder.offset;
    const size = decoder.readInt32();
    if (size <= 0 || !decoder.canReadBytes(size)) return [];
    const bytes = decoder.readBytes(size);
    // Shorter than any batch or message: part of one, where the broker cut the fetch at its size
    // limit. No records, as at a partial batch after whole ones (kafkajs reads the magic byte past
    // the end, and the fetch fails again at every try).
    if (bytes.length <= MAGIC_OFFSET) return [];
    // The older message sets (magic 0 and 1) are left to kafkajs. Any other magic byte than 2 is
    // damage: read as batches, that one becomes a marker (kafkajs read the set as nothing, for ever).
    const magic = bytes.readInt8(MAGIC_OFFSET);
    if (magic === 0 || magic === 1) {
      decoder.offset = start;
      return original(decoder);
    }
    // The batches of the set. The tail of a fetch may hold part of one (the broker cuts at maxBytes): as kafkajs, stop there.
    const spans: number[] = [];
    for (let at = 0; at + 12 + BATCH_OVERHEAD <= bytes.length; ) {
      const length = bytes.readInt32BE(at + 8);
      if (length >= BATCH_OVERHEAD && at + 12 + length > bytes.length) break;
      if (length < BATCH_OVERHEAD) throw new Error(`a record batch at offset ${bytes.readBigInt64BE(at)} is damaged: its length (${length}) is less than a batch header`);
      spans.push(at);
      at += 12 + length;
    }
    // Decoded a few at a time, so that zlib decompresses the next ones on libuv's threads while this
    // one's records are read; handed over in order. At most DECODE_WINDOW batches' bytes are out at once.
    const decode = (at: number): Promise<{ records: unknown[] } | { error: unknown }> =>
      decodeRecordBatch(bytes, at, codecFor).then(
        (records) => ({ records }),
        (error: unknown) => ({ error }),
      );
    const inFlight: (Promise<{ records: unknown[] } | { error: unknown }> | undefined)[] = spans.slice(0, DECODE_WINDOW).map(decode);
    const records: unknown[] = [];
    let previousLast = -1n;
    for (let i = 0; i < spans.length; i++) {
      const outcome = (await inFlight[i])!;
      inFlight[i] = undefined;
      if (i + DECODE_WINDOW < spans.length) inFlight.push(decode(spans[i + DECODE_WINDOW]!));
      const at = spans[i]!;
      const firstOffset = bytes.readBigInt64BE(at);
      const length = bytes.readInt32BE(at + 8);
      let lastOffsetDelta = bytes.readInt32BE(at + 23);
      let lastOffset = firstOffset + BigInt(lastOffsetDelta);
      if ('records' in outcome) {
        // One by one: a batch of small compressed records may hold more than a call takes arguments.
        for (const record of outcome.records) records.push(record);
      } else {
        const error = outcome.error;
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
