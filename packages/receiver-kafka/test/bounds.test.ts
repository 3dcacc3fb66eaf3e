// Decompression bombs: a record batch of kilobytes that is, or claims to be, gigabytes once
// decompressed. In a receiver's consumers every codec stops at MAX_BATCH_BYTES — zlib by its
// maxOutputLength, the other decoders by walking the frames first, before they allocate anything —
// and the batch fails to decode (the receiver drops it as `corrupt`: damaged-batch.kafka.test.ts).
// The frames below are built by hand from the format specifications (zstd: RFC 8878; LZ4 frame
// format 1.6; snappy's preamble), and checked against the real decoders where they are valid.
import zlib from 'node:zlib';
import { compressionsAlgorithms } from '@platformatic/kafka';
import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { MAX_BATCH_BYTES, lz4Bound, snappyBound, zstdBound } from '../src/bounds.js';
import { gzipDecompress, pureZstdDecompress, registerCodecs, zstdDecompress } from '../src/codecs.js';
import { skippingDamagedBatches } from '../src/damaged-batches.js';

const { CompressionCodecs, CompressionTypes } = kafkajs;
const MiB = 1024 * 1024;
const nodeHasZstd = typeof (zlib as { zstdCompressSync?: unknown }).zstdCompressSync === 'function';

/** A zstd frame: single segment with an 8-byte content size, or a 1 MiB window and no size; then the blocks; no checksum. */
function zstdFrame(blocks: Buffer[], contentSize?: bigint): Buffer {
  const header =
    contentSize === undefined
      ? Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 10 << 3]) // FHD 0: window descriptor, no size; window 2^(10+10)
      : Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0xe0]), Buffer.alloc(8)]); // FHD: 8-byte size, single segment
  if (contentSize !== undefined) header.writeBigUInt64LE(contentSize, 5);
  return Buffer.concat([header, ...blocks]);
}

/** A zstd block header (3 bytes, little-endian): last flag, type (0 raw, 1 RLE), size. */
function zstdBlock(type: 0 | 1, size: number, last: boolean, content: Buffer): Buffer {
  const value = (last ? 1 : 0) | (type << 1) | (size << 3);
  return Buffer.concat([Buffer.from([value & 0xff, (value >> 8) & 0xff, (value >> 16) & 0xff]), content]);
}

/** `count` RLE blocks of 128 KiB of `byte` each. */
function rleBlocks(count: number, byte: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => zstdBlock(1, 128 * 1024, i === count - 1, Buffer.from([byte])));
}

describe('zstd', () => {
  it('walks hand-made frames the way the decoders read them (raw and RLE blocks, with and without a content size)', () => {
    const frame = zstdFrame([zstdBlock(0, 5, false, Buffer.from('hello')), ...rleBlocks(3, 0x61)]);
    const expected = Buffer.concat([Buffer.from('hello'), Buffer.alloc(3 * 128 * 1024, 0x61)]);
    expect(pureZstdDecompress(frame).equals(expected)).toBe(true);
    expect(zstdDecompress(frame).equals(expected)).toBe(true);
    expect(zstdBound(frame)).toBe(MiB + expected.length); // the window fzstd allocates, and the blocks
    const sized = zstdFrame([zstdBlock(0, 5, true, Buffer.from('hello'))], 5n);
    expect(pureZstdDecompress(sized).toString()).toBe('hello');
    expect(zstdBound(sized)).toBe(5);
  });

  it('refuses, before decoding, a frame whose header claims 2 GiB (fzstd would allocate it)', () => {
    const liar = zstdFrame([zstdBlock(0, 5, true, Buffer.from('hello'))], 2n ** 31n);
    expect(liar.length).toBe(21);
    expect(() => pureZstdDecompress(liar, MAX_BATCH_BYTES)).toThrow('zstd: the batch would decompress to 2048.0 MiB, more than the 64 MiB a batch may have');
    expect(() => pureZstdDecompress(zstdFrame([], 2n ** 63n), MAX_BATCH_BYTES)).toThrow(/^zstd: /);
  });

  it('refuses 40 KB of RLE blocks that would become 1.6 GiB, with either decoder', () => {
    const bomb = zstdFrame(rleBlocks(13_000, 0));
    expect(bomb.length).toBeLessThan(60_000);
    expect(() => pureZstdDecompress(bomb, MAX_BATCH_BYTES)).toThrow(/^zstd: the batch would decompress to 1626\.0 MiB, more than the 64 MiB/);
    // Node's zstd (22.15+) stops at the limit; fzstd (Node 20) refuses before it starts.
    const expected = nodeHasZstd ? 'zstd: the batch decompresses to more than the 64 MiB a batch may have' : 'zstd: the batch would decompress to 1626.0 MiB';
    expect(() => zstdDecompress(bomb, MAX_BATCH_BYTES)).toThrow(expected);
  });

  it('decodes a batch that fits the limit exactly, and refuses it with a limit one byte lower', () => {
    const frame = zstdFrame(rleBlocks(8, 0x62));
    const size = 8 * 128 * 1024;
    expect(zstdDecompress(frame, size + MiB).length).toBe(size);
    expect(() => pureZstdDecompress(frame, size + MiB - 1)).toThrow(/^zstd: the batch would decompress/);
    if (nodeHasZstd) expect(() => zstdDecompress(frame, size - 1)).toThrow(/^zstd: the batch decompresses to more than/);
  });

  it('refuses, before decoding, frames of many small blocks with a large window and no content size (fzstd moves the whole window for each block)', () => {
    // 4 KB: a 60 MiB window and 1 000 one-byte raw blocks. fzstd copied 60 MiB per block (seconds here;
    // a 1 MiB batch of such blocks held the event loop for minutes), while it makes only 1 000 bytes.
    const header = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, (15 << 3) | 7]); // window 2^25 + 7 * 2^22
    const blocks = Array.from({ length: 1_000 }, (_, i) => zstdBlock(0, 1, i === 999, Buffer.from('a')));
    const frame = Buffer.concat([header, ...blocks]);
    expect(frame.length).toBe(4_006);
    expect(() => pureZstdDecompress(frame, MAX_BATCH_BYTES)).toThrow(/^zstd: 1000 blocks with a 60\.0 MiB window and no content size: fzstd would move 58\.6 GiB/);
    // Blocks of the size encoders write (128 KiB) with such a window still decode.
    const large = Buffer.concat([header, ...rleBlocks(16, 0x63)]);
    expect(pureZstdDecompress(large, MAX_BATCH_BYTES).equals(Buffer.alloc(16 * 128 * 1024, 0x63))).toBe(true);
  });

  it('fails on a truncated frame or a reserved block type, naming zstd', () => {
    const frame = zstdFrame(rleBlocks(2, 0));
    expect(() => zstdBound(frame.subarray(0, frame.length - 2))).toThrow('zstd: a truncated block');
    expect(() => zstdBound(zstdFrame([Buffer.from([0x07, 0, 0])]))).toThrow('zstd: a reserved block type');
    expect(() => zstdBound(Buffer.from('not zstd at all'))).toThrow('zstd: not a zstd frame');
  });
});

describe('gzip', () => {
  const bomb = zlib.gzipSync(Buffer.alloc(80 * MiB));

  it('stops an 80 KB batch that inflates to 80 MiB at the limit, naming gzip', async () => {
    expect(bomb.length).toBeLessThan(100_000);
    await expect(gzipDecompress(bomb, MAX_BATCH_BYTES)).rejects.toThrow('gzip: the batch decompresses to more than the 64 MiB a batch may have');
    expect((await gzipDecompress(zlib.gzipSync('ok'), MAX_BATCH_BYTES)).toString()).toBe('ok');
  });

  it('is bounded in the codec kafkajs calls only inside a receiver’s consumer; other kafkajs clients decode as kafkajs does', async () => {
    registerCodecs();
    const codec = (CompressionCodecs as unknown as Record<number, () => { decompress(b: Buffer): Promise<Buffer>; compress(e: { buffer: Buffer }): Promise<Buffer> }>)[CompressionTypes.GZIP]!();
    await expect(skippingDamagedBatches(() => codec.decompress(bomb))).rejects.toThrow(/^gzip: the batch decompresses to more than the 64 MiB/);
    expect((await codec.decompress(bomb)).length).toBe(80 * MiB);
    expect((await codec.decompress(await codec.compress({ buffer: Buffer.from('round trip') }))).toString()).toBe('round trip');
  });
});

describe('snappy and lz4', () => {
  const text = Buffer.from('trackpipe '.repeat(50_000));

  it('bound real snappy output by the size its preamble states, and refuse a preamble that claims 1 GiB', async () => {
    const compressed = compressionsAlgorithms.snappy.compressSync(text);
    expect(snappyBound(compressed, false)).toBe(text.length);
    const liar = Buffer.from([0x80, 0x80, 0x80, 0x80, 0x04, 0x00]); // varint 2^30
    expect(snappyBound(liar, false)).toBe(2 ** 30);
    registerCodecs();
    const codec = (CompressionCodecs as unknown as Record<number, () => { decompress(b: Buffer): Promise<Buffer> }>)[CompressionTypes.Snappy]!();
    await expect(skippingDamagedBatches(() => codec.decompress(liar))).rejects.toThrow('snappy: the batch would decompress to 1024.0 MiB, more than the 64 MiB a batch may have');
    expect((await skippingDamagedBatches(() => codec.decompress(compressed))).equals(text)).toBe(true);
  });

  it('fails on snappy its decoder refuses (a zero-length xerial block, a copy before the start) naming snappy, not the decoder\'s trap', async () => {
    registerCodecs();
    const codec = (CompressionCodecs as unknown as Record<number, () => { decompress(b: Buffer): Promise<Buffer> }>)[CompressionTypes.Snappy]!();
    const xerialHeader = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00, 0, 0, 0, 1, 0, 0, 0, 1]);
    const block = compressionsAlgorithms.snappy.compressSync(text);
    const length = (n: number): Buffer => Buffer.from([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
    const zeroLength = Buffer.concat([xerialHeader, length(0), length(block.length), block]);
    const badCopy = Buffer.from([0x0a, 0x03, 0x00]); // 10 bytes, then a copy of offset 0
    for (const damaged of [zeroLength, badCopy]) {
      await expect(skippingDamagedBatches(() => codec.decompress(damaged))).rejects.toThrow('snappy: a block could not be decoded (damaged or not snappy)');
    }
    expect((await skippingDamagedBatches(() => codec.decompress(Buffer.concat([xerialHeader, length(block.length), block])))).equals(text)).toBe(true);
  });

  it('bound real LZ4 frames at or above what they hold, and refuse 100 KB of blocks that could each become 4 MiB', async () => {
    const compressed = compressionsAlgorithms.lz4.compressSync(text);
    const bound = lz4Bound(compressed);
    expect(bound).toBeGreaterThanOrEqual(text.length);
    expect(bound).toBeLessThanOrEqual(text.length + 4 * MiB);
    // A frame with 4 MiB blocks (BD 0x70), no checksums, then 20 000 one-byte "compressed" blocks.
    const blocks = Buffer.alloc(20_000 * 5);
    for (let i = 0; i < 20_000; i++) blocks.writeUInt32LE(1, i * 5);
    const bomb = Buffer.concat([Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x60, 0x70, 0x73]), blocks, Buffer.alloc(4)]);
    expect(lz4Bound(bomb)).toBe(20_000 * 4 * MiB);
    registerCodecs();
    const codec = (CompressionCodecs as unknown as Record<number, () => { decompress(b: Buffer): Promise<Buffer> }>)[CompressionTypes.LZ4]!();
    await expect(skippingDamagedBatches(() => codec.decompress(bomb))).rejects.toThrow(/^lz4: the batch would decompress to 80000\.0 MiB, more than the 64 MiB/);
    expect((await skippingDamagedBatches(() => codec.decompress(compressed))).equals(text)).toBe(true);
  });
  it('fails on a skippable frame whose length is cut off, naming lz4 (not a bare RangeError of a DataView)', () => {
    expect(() => lz4Bound(Buffer.from([0x50, 0x2a, 0x4d, 0x18, 0x00, 0x00, 0x00]))).toThrow('lz4: a truncated frame header');
    expect(lz4Bound(Buffer.from([0x50, 0x2a, 0x4d, 0x18, 0x00, 0x00, 0x00, 0x00]))).toBe(0);
  });

  it('a damaged LZ4 batch leaves nothing behind in the decoder: 56 batches that decode 33 MiB and then fail, and 33 MiB still decode', async () => {
    // The WebAssembly decoder traps on a frame it refuses, keeping what it had decoded (84 MiB of
    // memory for these 130 KB): 50 such batches filled its 4 GiB, and then every LZ4 batch failed.
    const content = Buffer.alloc(33 * MiB, 0x61);
    const valid = compressionsAlgorithms.lz4.compressSync(content);
    const badBlock = Buffer.from([0x05, 0, 0, 0, 0x04, 0xff, 0xff, 0x10, 0x41]); // a match 65 535 bytes before the block's start
    const damaged = Buffer.concat([valid.subarray(0, valid.length - 4), badBlock, Buffer.alloc(4)]);
    registerCodecs();
    const codec = (CompressionCodecs as unknown as Record<number, () => { decompress(b: Buffer): Promise<Buffer> }>)[CompressionTypes.LZ4]!();
    for (let i = 0; i < 56; i++) {
      await expect(skippingDamagedBatches(() => codec.decompress(damaged))).rejects.toThrow('lz4: the frame could not be decoded (damaged or not LZ4)');
    }
    expect((await skippingDamagedBatches(() => codec.decompress(valid))).equals(content)).toBe(true);
  }, 60_000);
});
