// The record-set decoder the receiver's kafkajs consumers use (src/damaged-batches.ts): batch by
// batch, a batch kafkajs cannot decode becomes one marker record at its last offset. Outside the
// receiver's consumers (any other kafkajs client in the process) record sets decode as kafkajs
// decodes them: the whole set fails. Record batches are built with kafkajs's own encoder.
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { installDamagedBatchDecoder, skippingDamagedBatches } from '../src/damaged-batches.js';

const require = createRequire(import.meta.url);
type Decoder = { offset: number };
const Decoder = require('kafkajs/src/protocol/decoder.js') as new (buffer: Buffer) => Decoder;
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0/index.js') as {
  RecordBatch: (options: { firstOffset: unknown; lastOffsetDelta: number; records: unknown[] }) => Promise<{ buffer: Buffer }>;
};
const Record = require('kafkajs/src/protocol/recordBatch/record/v0/index.js') as (options: {
  offsetDelta: number;
  key: string;
  value: string;
  headers?: Record<string, string | string[]>;
}) => unknown;
const Long = require('kafkajs/src/utils/long.js') as { fromInt(n: number): unknown };

async function batch(firstOffset: number, ids: readonly string[]): Promise<Buffer> {
  const records = ids.map((id, i) => Record({ offsetDelta: i, key: id, value: JSON.stringify({ name: 'e', id }) }));
  return (await RecordBatch({ firstOffset: Long.fromInt(firstOffset), lastOffsetDelta: ids.length - 1, records })).buffer;
}

/** A partition's record set as a Fetch response carries it (int32 size, then the batches), the middle batch's record count damaged. */
async function recordSet(): Promise<Buffer> {
  const damaged = await batch(2, ['b-2', 'b-3']);
  damaged.writeInt32BE(1000, 57);
  const batches = Buffer.concat([await batch(0, ['a-0', 'a-1']), damaged, await batch(4, ['c-4', 'c-5'])]);
  const size = Buffer.alloc(4);
  size.writeInt32BE(batches.length);
  return Buffer.concat([size, batches]);
}

describe('decoding record sets with a damaged batch', () => {
  const installed = installDamagedBatchDecoder();
  const decodeMessages = require('kafkajs/src/protocol/requests/fetch/v4/decodeMessages.js') as (decoder: Decoder) => Promise<Record<string, unknown>[]>;

  it('replaces kafkajs 2.2.4 record-set decoder', () => {
    expect(installed).toBe(true);
  });

  it("in a receiver's consumer: the damaged batch becomes one marker at its last offset, the batches around it decode", async () => {
    const records = await skippingDamagedBatches(async () => decodeMessages(new Decoder(await recordSet())));
    expect(records.map((r) => r.offset)).toEqual(['0', '1', '3', '4', '5']);
    expect(records.map((r) => (r.value === null ? null : (JSON.parse((r.value as Buffer).toString('utf8')) as { id: string }).id))).toEqual(['a-0', 'a-1', null, 'c-4', 'c-5']);
    expect(records[2]).toMatchObject({ isControlRecord: false, damaged: { firstOffset: '2' } });
    expect((records[2]!.damaged as { problem: string }).problem).toMatch(/its CRC does not match\)$/);
    expect(records.filter((r) => r.damaged !== undefined)).toHaveLength(1);
  });

  it('puts the marker no further than the next batch starts when the damage reached the last offset it claims', async () => {
    // The damage runs over the header too: lastOffsetDelta 1 000 000 (the CRC covers it; it does not match).
    const damaged = await batch(2, ['b-2', 'b-3']);
    damaged.writeInt32BE(1000, 57);
    damaged.writeInt32BE(1_000_000, 23);
    const batches = Buffer.concat([await batch(0, ['a-0', 'a-1']), damaged, await batch(4, ['c-4', 'c-5'])]);
    const size = Buffer.alloc(4);
    size.writeInt32BE(batches.length);
    const records = await skippingDamagedBatches(() => decodeMessages(new Decoder(Buffer.concat([size, batches]))));
    expect(records.map((r) => r.offset)).toEqual(['0', '1', '3', '4', '5']);
    expect(records[2]).toMatchObject({ damaged: { firstOffset: '2' }, batchContext: { lastOffsetDelta: 1 } });
  });

  it("reads a record's headers in one pass: 30 000 headers (210 KB) decode at once, not in minutes; repeated ones as kafkajs gives them", async () => {
    // kafkajs builds the headers object by spreading it again for each header: quadratic (20 000
    // headers took 70 s of a blocked event loop; the group dropped the member, and the next one).
    const headers: Record<string, string | string[]> = {};
    for (let i = 0; i < 30_000; i++) headers[`h${i}`] = '';
    headers['content-type'] = ['application/json', 'application/json'];
    Object.defineProperty(headers, '__proto__', { value: 'x', enumerable: true });
    const records = [Record({ offsetDelta: 0, key: 'k', value: '{"name":"e"}', headers })];
    const set = (await RecordBatch({ firstOffset: Long.fromInt(0), lastOffsetDelta: 0, records })).buffer;
    const size = Buffer.alloc(4);
    size.writeInt32BE(set.length);
    const [record] = await skippingDamagedBatches(() => decodeMessages(new Decoder(Buffer.concat([size, set]))));
    // A turn of the event loop: a decoding that held it past the test's timeout fails the test here.
    await new Promise((resolve) => setImmediate(resolve));
    const read = record!.headers as Record<string, Buffer | Buffer[]>;
    expect(Object.keys(read)).toHaveLength(30_002);
    expect((read['content-type'] as Buffer[]).map(String)).toEqual(['application/json', 'application/json']);
    expect(Object.getPrototypeOf(read)).toBe(Object.prototype);
    expect(String(Object.getOwnPropertyDescriptor(read, '__proto__')?.value)).toBe('x');
    expect(record).toMatchObject({ offset: '0', key: Buffer.from('k'), value: Buffer.from('{"name":"e"}'), isControlRecord: false });
    expect(record!.damaged).toBeUndefined();
    // A few headers: the records are those kafkajs decodes.
    const few = [Record({ offsetDelta: 0, key: 'k', value: 'v', headers: { a: '1', 'content-type': ['x', 'y', 'z'], b: ['2'] } }), Record({ offsetDelta: 1, key: 'l', value: 'w' })];
    const small = (await RecordBatch({ firstOffset: Long.fromInt(7), lastOffsetDelta: 1, records: few })).buffer;
    size.writeInt32BE(small.length);
    const ours = await skippingDamagedBatches(() => decodeMessages(new Decoder(Buffer.concat([size, small]))));
    // (Ours reads a record's key, headers and timestamp when asked: compared field by field.)
    const fields = (r: Record<string, unknown>): unknown[] => [r.magicByte, r.attributes, r.timestamp, r.offset, r.key, r.value, { ...(r.headers as object) }, r.isControlRecord, r.batchContext];
    expect(ours.map(fields)).toEqual((await decodeMessages(new Decoder(Buffer.concat([size, small])))).map(fields));
    expect((ours[0]!.headers as Record<string, Buffer[]>)['content-type']!.map(String)).toEqual(['x', 'y', 'z']);
  });

  it('hands over a sound batch of 130,000 records whole (more than one call takes arguments), not as a damaged one', async () => {
    const ids = Array.from({ length: 130_000 }, (_, i) => String(i));
    const records = ids.map((id, i) => Record({ offsetDelta: i, key: '', value: id }));
    const sound = (await RecordBatch({ firstOffset: Long.fromInt(0), lastOffsetDelta: ids.length - 1, records })).buffer;
    const size = Buffer.alloc(4);
    size.writeInt32BE(sound.length);
    const decoded = await skippingDamagedBatches(() => decodeMessages(new Decoder(Buffer.concat([size, sound]))));
    expect(decoded).toHaveLength(130_000);
    expect(decoded.filter((r) => r.damaged !== undefined)).toHaveLength(0);
    expect(decoded.at(-1)!.offset).toBe('129999');
  });

  it('reads the decoder past the record set, so that the next partition of the response decodes', async () => {
    const set = await recordSet();
    const decoder = new Decoder(Buffer.concat([set, Buffer.from([1, 2, 3])]));
    await skippingDamagedBatches(() => decodeMessages(decoder));
    expect(decoder.offset).toBe(set.length);
  });

  it('anywhere else: fails as kafkajs does (other kafkajs clients in the process are unchanged)', async () => {
    await expect(decodeMessages(new Decoder(await recordSet()))).rejects.toThrow();
    const set = await recordSet();
    set.writeInt32BE(2, 4 + (await batch(0, ['a-0', 'a-1'])).length + 57);
    const records = await decodeMessages(new Decoder(set));
    expect(records.map((r) => r.offset)).toEqual(['0', '1', '2', '3', '4', '5']);
  });
});
