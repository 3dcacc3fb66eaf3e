// DecodedRecord.header(name), what the receiver reads content-type with, against the headers object
// (what kafkajs gives, and what `headers` gives): the same answer for any name, asked before the
// headers object is built (as the receiver asks) or after.
import { createRequire } from 'node:module';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { installDamagedBatchDecoder, skippingDamagedBatches } from '../src/damaged-batches.js';
import { DecodedRecord } from '../src/record-batch.js';

const require = createRequire(import.meta.url);
type Decoder = { offset: number };
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (buffer: Buffer) => Decoder;
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0/index.js') as {
  RecordBatch: (options: Record<string, unknown>) => Promise<{ buffer: Buffer }>;
};
const Long = require('kafkajs/src/utils/long.js') as { fromInt(n: number): unknown };
installDamagedBatchDecoder();
const decodeMessages = require('kafkajs/src/protocol/requests/fetch/v4/decodeMessages.js') as (decoder: Decoder) => Promise<Record<string, unknown>[]>;
const ours = (set: Buffer): Promise<Record<string, unknown>[]> => skippingDamagedBatches(() => decodeMessages(new Decoder(set)));

function recordSet(body: Buffer): Buffer {
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length);
  return Buffer.concat([size, body]);
}

describe("header(name), the receiver's way to read content-type, against headers[name]", () => {
  const names = fc.oneof(
    fc.constantFrom('content-type', 'é', 'ä-type', '\uFFFD', 'null', ''),
    fc.string({ unit: 'grapheme', maxLength: 4 }),
    fc.string({ unit: 'binary', maxLength: 4 }),
    fc.string({ maxLength: 6 }),
  );
  it('gives what headers[name] gives, for any name (non-ASCII ones, and names whose bytes are not UTF-8, too)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.oneof(names, fc.uint8Array({ maxLength: 3 }).map((a) => Buffer.from(a))), fc.option(fc.string({ maxLength: 3 }), { nil: null })), { maxLength: 6 }), names, async (headers, asked) => {
        // Written by hand: kafkajs's encoder takes header names as strings only.
        const body: number[] = [0, 0, 0, 0, 0];
        const varint = (n: number): void => {
          let z = (n << 1) ^ (n >> 31);
          while (z > 0x7f || z < 0) {
            body.push((z & 0x7f) | 0x80);
            z >>>= 7;
          }
          body.push(z);
        };
        varint(headers.length);
        for (const [name, value] of headers) {
          const nameBytes = typeof name === 'string' ? Buffer.from(name) : name;
          varint(nameBytes.length);
          body.push(...nameBytes);
          if (value === null) varint(-1);
          else {
            varint(Buffer.byteLength(value));
            body.push(...Buffer.from(value));
          }
        }
        const record = Buffer.from(body);
        const length = Buffer.alloc(5);
        let lengthBytes = 0;
        for (let z = record.length << 1; ; z >>>= 7) {
          length[lengthBytes++] = z > 0x7f ? (z & 0x7f) | 0x80 : z;
          if (z <= 0x7f) break;
        }
        const encoded = (await RecordBatch({ firstOffset: Long.fromInt(0), lastOffsetDelta: 0, records: [] })).buffer;
        const header = Buffer.from(encoded.subarray(0, 61));
        header.writeInt32BE(1, 57);
        const whole = Buffer.concat([header, length.subarray(0, lengthBytes), record]);
        whole.writeInt32BE(whole.length - 12, 8);
        const [read] = (await ours(recordSet(whole))) as unknown as DecodedRecord[];
        const [expected] = (await ours(recordSet(whole))) as unknown as DecodedRecord[];
        expect(read).toBeInstanceOf(DecodedRecord);
        const all = expected!.headers;
        // Asked before the headers object was built, as the receiver asks.
        expect(read!.header(asked)).toEqual(Object.hasOwn(all, asked) ? all[asked] : undefined);
        for (const name of Object.keys(all)) {
          const [fresh] = (await ours(recordSet(whole))) as unknown as DecodedRecord[];
          expect(fresh!.header(name)).toEqual(all[name]);
        }
      }),
      { numRuns: 400 },
    );
  });
});

