// The receiver's record-batch decoder (src/record-batch.ts) against kafkajs 2.2.4's own: record sets
// built with kafkajs's encoder over varied records (keys, values and header values null or bytes,
// repeated headers, `__proto__`, non-ASCII names, offsets and timestamps past 2^53 and at the int64
// edges, negative deltas, gzip, transactional and log-append-time batches) decode to the records
// kafkajs gives; damaged ones either to those same records or to one marker per damaged batch.
import { createRequire } from 'node:module';
import { inspect } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { registerCodecs } from '../src/codecs.js';
import { installDamagedBatchDecoder, skippingDamagedBatches } from '../src/damaged-batches.js';
import type { DecodedRecord } from '../src/record-batch.js';

const require = createRequire(import.meta.url);
type Decoder = { offset: number };
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (buffer: Buffer) => Decoder;
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0/index.js') as {
  RecordBatch: (options: Record<string, unknown>) => Promise<{ buffer: Buffer }>;
};
interface KafkaJsEncoder {
  readonly buffer: Buffer;
  writeInt8(n: number): KafkaJsEncoder;
  writeVarInt(n: number): KafkaJsEncoder;
  writeVarLong(n: unknown): KafkaJsEncoder;
  writeVarIntBytes(b: Buffer | null): KafkaJsEncoder;
  writeVarIntString(s: string | null): KafkaJsEncoder;
  writeEncoder(e: KafkaJsEncoder): KafkaJsEncoder;
}
const Encoder = require('kafkajs/src/protocol/encoder.js') as new () => KafkaJsEncoder;
const Long = require('kafkajs/src/utils/long.js') as { fromString(s: string): unknown };
const GZIP = 1;
const LOG_APPEND_TIME_FLAG = 0x08;

registerCodecs();
const installed = installDamagedBatchDecoder();
const decodeMessages = require('kafkajs/src/protocol/requests/fetch/v4/decodeMessages.js') as (decoder: Decoder) => Promise<Record<string, unknown>[]>;

interface BatchSpec {
  firstOffset: bigint;
  firstTimestamp: bigint;
  gzip: boolean;
  transactional: boolean;
  logAppendTime: boolean;
  records: { timestampDelta: bigint; key: Buffer | null; value: Buffer | null; headers: [string | null, Buffer | null][] }[];
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const int64 = fc.oneof(
  fc.bigInt({ min: 0n, max: 10_000n }),
  fc.bigInt({ min: 2n ** 53n - 1_000n, max: 2n ** 53n + 1_000n }),
  fc.bigInt({ min: INT64_MAX - 1_000n, max: INT64_MAX }),
  fc.bigInt({ min: INT64_MIN, max: INT64_MAX }),
);
const bytes = fc.option(fc.uint8Array({ maxLength: 40 }).map((a) => Buffer.from(a)), { nil: null });
// Not the names of Object.prototype's members (`__proto__`, `toString`, ...): kafkajs's own decoder reads
// one as [the inherited member, value]; ours reads it as the header (checked on its own below).
const headerName = fc
  .oneof(fc.constant(null), fc.constantFrom('content-type', 'event-name', 'schema-version', ''), fc.string({ maxLength: 8 }), fc.string({ unit: 'grapheme', maxLength: 4 }))
  .filter((name) => name === null || !(name in Object.prototype));
const spec: fc.Arbitrary<BatchSpec> = fc.record({
  firstOffset: fc.oneof(fc.bigInt({ min: 0n, max: 10_000n }), fc.bigInt({ min: 2n ** 53n - 100n, max: 2n ** 53n + 100n }), fc.bigInt({ min: INT64_MAX - 100n, max: INT64_MAX })),
  firstTimestamp: int64,
  gzip: fc.boolean(),
  transactional: fc.boolean(),
  logAppendTime: fc.boolean(),
  records: fc.array(
    fc.record({
      timestampDelta: fc.oneof(fc.bigInt({ min: -100_000n, max: 100_000n }), fc.bigInt({ min: INT64_MIN, max: INT64_MAX })),
      key: bytes,
      value: bytes,
      headers: fc.array(fc.tuple(headerName, bytes), { maxLength: 5 }),
    }),
    { minLength: 1, maxLength: 12 },
  ),
});

/** A record as the protocol has it (kafkajs's encoder cannot write a header without a name or a value). */
function encodeRecord(offsetDelta: number, r: BatchSpec['records'][number]): KafkaJsEncoder {
  const body = new Encoder().writeInt8(0).writeVarLong(Long.fromString(String(r.timestampDelta))).writeVarInt(offsetDelta).writeVarIntBytes(r.key).writeVarIntBytes(r.value).writeVarInt(r.headers.length);
  for (const [name, value] of r.headers) body.writeVarIntString(name).writeVarIntBytes(value);
  return new Encoder().writeVarInt(body.buffer.length).writeEncoder(body);
}

async function encode(batch: BatchSpec): Promise<Buffer> {
  const records = batch.records.map((r, i) => encodeRecord(i, r));
  const encoded = (
    await RecordBatch({
      compression: batch.gzip ? GZIP : 0,
      firstOffset: Long.fromString(String(batch.firstOffset)),
      firstTimestamp: Long.fromString(String(batch.firstTimestamp)),
      maxTimestamp: Long.fromString(String(batch.firstTimestamp)),
      lastOffsetDelta: records.length - 1,
      transactional: batch.transactional,
      producerId: Long.fromString('7'),
      records,
    })
  ).buffer;
  // kafkajs's encoder never sets the timestamp type; neither decoder checks the CRC.
  if (batch.logAppendTime) encoded.writeInt16BE(encoded.readInt16BE(21) | LOG_APPEND_TIME_FLAG, 21);
  return encoded;
}

function recordSet(batches: readonly Buffer[]): Buffer {
  const body = Buffer.concat(batches);
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length);
  return Buffer.concat([size, body]);
}

/** A record as plain fields (the receiver's records read the key, headers and timestamp when asked). */
function plain(record: Record<string, unknown>): Record<string, unknown> {
  const { magicByte, attributes, timestamp, offset, key, value, headers, isControlRecord, batchContext, damaged } = record;
  return { magicByte, attributes, timestamp, offset, key, value, headers: { ...(headers as object) }, isControlRecord, batchContext: { ...(batchContext as object) }, damaged };
}

const ours = (set: Buffer): Promise<Record<string, unknown>[]> => skippingDamagedBatches(() => decodeMessages(new Decoder(set)));
const kafkajs = (set: Buffer): Promise<Record<string, unknown>[]> => decodeMessages(new Decoder(set));

describe("the receiver's record-batch decoder", () => {
  it('is installed in place of kafkajs 2.2.4', () => {
    expect(installed).toBe(true);
  });

  it('gives the records kafkajs gives, for varied records and batches', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(spec, { minLength: 1, maxLength: 3 }), async (specs) => {
        // Batches of a record set follow each other's offsets.
        let next = specs[0]!.firstOffset;
        const batches = specs.map((s) => {
          if (next + BigInt(s.records.length) > INT64_MAX) next = 0n;
          const firstOffset = next;
          next += BigInt(s.records.length);
          return { ...s, firstOffset };
        });
        const set = recordSet(await Promise.all(batches.map(encode)));
        const expected = (await kafkajs(set)).map(plain);
        const got = await ours(set);
        expect(got.map(plain)).toEqual(expected);
        // What the receiver reads of a header is what `headers` holds.
        for (const record of got) {
          const r = record as unknown as DecodedRecord;
          for (const name of [...Object.keys(r.headers), 'absent']) expect(r.header(name)).toEqual(Object.hasOwn(r.headers, name) ? r.headers[name] : undefined);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('reads a header without building the headers object, as `headers` gives it: repeated ones as a list, one without a name as `null`', async () => {
    const set = recordSet([
      await encode({
        firstOffset: 5n,
        firstTimestamp: 1_700_000_000_000n,
        gzip: false,
        transactional: false,
        logAppendTime: false,
        records: [
          {
            timestampDelta: 3n,
            key: null,
            value: Buffer.from('{}'),
            headers: [
              ['content-type', Buffer.from('a')],
              ['content-typf', Buffer.from('x')],
              ['content-type', null],
              ['content-type', Buffer.from('b')],
              ['Content-Type', Buffer.from('y')],
              [null, Buffer.from('z')],
              ['toString', Buffer.from('t')],
              ['__proto__', Buffer.from('p')],
            ],
          },
        ],
      }),
    ]);
    const [record] = (await ours(set)) as unknown as DecodedRecord[];
    expect(record!.header('content-type')).toEqual([Buffer.from('a'), null, Buffer.from('b')]);
    expect(record!.header('content-typ')).toBeUndefined();
    expect(record!.header('null')).toEqual(Buffer.from('z'));
    // A header named after a member of Object.prototype is the header (kafkajs's own decoder gives [toString, value]).
    expect(record!.header('toString')).toEqual(Buffer.from('t'));
    expect(record!.headers.toString).toEqual(Buffer.from('t'));
    expect(record!.header('__proto__')).toEqual(Buffer.from('p'));
    expect(Object.getOwnPropertyDescriptor(record!.headers, '__proto__')?.value).toEqual(Buffer.from('p'));
    expect(Object.getPrototypeOf(record!.headers)).toBe(Object.prototype);
    expect(record!.offset).toBe('5');
    expect(record!.timestamp).toBe('1700000000003');
    expect(record!.key).toBeNull();
    // Its own fields are kafkajs's (the rest are getters); nothing of the fetch's bytes shows in a spread or an inspection.
    expect(Object.keys(record!).sort()).toEqual(['attributes', 'batchContext', 'isControlRecord', 'magicByte', 'offset', 'value']);
    expect(inspect(record, { depth: 0 })).not.toMatch(/buf|At\b|Delta/);
  });

  it('turns a batch whose bytes were damaged into one marker, or decodes it as kafkajs does; never anything else', async () => {
    const sound = await encode({
      firstOffset: 100n,
      firstTimestamp: 1_700_000_000_000n,
      gzip: false,
      transactional: false,
      logAppendTime: false,
      records: Array.from({ length: 6 }, (_, i) => ({ timestampDelta: BigInt(i), key: Buffer.from(`k${i}`), value: Buffer.from(`{"name":"e","id":"${i}"}`), headers: [['content-type', Buffer.from('application/json')] as [string, Buffer]] })),
    });
    const next = await encode({ firstOffset: 106n, firstTimestamp: 1_700_000_000_000n, gzip: false, transactional: false, logAppendTime: false, records: [{ timestampDelta: 0n, key: null, value: Buffer.from('{"name":"n"}'), headers: [] }] });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.integer({ min: 61, max: sound.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), async (flips) => {
        const damaged = Buffer.from(sound);
        for (const [at, byte] of flips) damaged[at] = byte;
        const set = recordSet([damaged, next]);
        const got = await ours(set);
        // The batch after it always decodes.
        expect(plain(got.at(-1)!)).toMatchObject({ offset: '106', value: Buffer.from('{"name":"n"}') });
        const markers = got.filter((r) => r.damaged !== undefined);
        if (markers.length === 0) {
          expect(got.map(plain)).toEqual((await kafkajs(set)).map(plain));
        } else {
          expect(got).toHaveLength(2);
          expect(got[0]).toMatchObject({ offset: '105', damaged: { firstOffset: '100' } });
        }
      }),
      { numRuns: 500 },
    );
  });

  it('decompresses a few batches of a set at once (at most four), and hands their records over in order', async () => {
    const codecs = (require('kafkajs/src/protocol/message/compression/index.js') as { Codecs: Record<number, () => { decompress(b: Buffer): Promise<Buffer> }> }).Codecs;
    const gzip = codecs[GZIP]!;
    let inFlight = 0;
    let most = 0;
    codecs[GZIP] = () => ({
      ...gzip(),
      async decompress(buffer: Buffer): Promise<Buffer> {
        most = Math.max(most, ++inFlight);
        try {
          return await gzip().decompress(buffer);
        } finally {
          inFlight--;
        }
      },
    });
    try {
      // Twelve batches, the early ones larger (slower to inflate) than the late ones.
      const batches = await Promise.all(
        Array.from({ length: 12 }, (_, b) =>
          encode({
            firstOffset: BigInt(b * 50),
            firstTimestamp: 1_700_000_000_000n,
            gzip: true,
            transactional: false,
            logAppendTime: false,
            records: Array.from({ length: 50 }, (_, i) => ({ timestampDelta: BigInt(i), key: null, value: Buffer.from(`{"name":"e","id":"${b * 50 + i}","pad":"${'x'.repeat((12 - b) * 400 + i)}"}`), headers: [] })),
          }),
        ),
      );
      const set = recordSet(batches);
      const got = await ours(set);
      expect(got.map((r) => r.offset)).toEqual(Array.from({ length: 600 }, (_, i) => String(i)));
      expect(got.map(plain)).toEqual((await kafkajs(set)).map(plain));
      expect(most).toBeGreaterThan(1);
      expect(most).toBeLessThanOrEqual(4);
    } finally {
      codecs[GZIP] = gzip;
    }
  });

  it('refuses a record count no bytes could hold before it allocates for it', async () => {
    const batch = await encode({ firstOffset: 0n, firstTimestamp: 0n, gzip: false, transactional: false, logAppendTime: false, records: [{ timestampDelta: 0n, key: null, value: Buffer.from('{}'), headers: [] }] });
    batch.writeInt32BE(2_000_000_000, 57);
    const [marker] = await ours(recordSet([batch]));
    expect(marker).toMatchObject({ offset: '0', damaged: { firstOffset: '0' } });
    expect((marker!.damaged as { problem: string }).problem).toMatch(/claims 2000000000 records in \d+ bytes/);
  });

  it('refuses a record whose fields do not fill its length (kafkajs reads on into the next record)', async () => {
    const batch = await encode({
      firstOffset: 0n,
      firstTimestamp: 0n,
      gzip: false,
      transactional: false,
      logAppendTime: false,
      records: [
        { timestampDelta: 0n, key: null, value: Buffer.from('{"a":1}'), headers: [] },
        { timestampDelta: 0n, key: null, value: Buffer.from('{"b":2}'), headers: [] },
      ],
    });
    // The first record's length (a zigzag varint after the 61-byte header) one byte longer.
    batch[61] = batch[61]! + 2;
    const records = await ours(recordSet([batch]));
    expect(records).toHaveLength(1);
    expect((records[0]!.damaged as { problem: string }).problem).toMatch(/runs past|fields take/);
  });
});
