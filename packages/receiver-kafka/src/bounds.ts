// How much a compressed record batch may become. A batch of a few hundred kilobytes can claim, or
// really expand to, gigabytes: zeros gzip 1000 to 1, a zstd or lz4 frame is a list of blocks that each
// repeat one byte up to 128 KiB (or 4 MiB), a snappy or zstd header states the size its decoder then
// allocates (fzstd: up to 2 GiB per frame; WebAssembly memory, once grown, never shrinks). A hostile or
// broken producer could so take the receiver's process down with one record.
//
// The receiver's consumers decompress at most MAX_BATCH_BYTES per batch: zlib stops at that length
// (gzip, Node's zstd); for the other decoders the frames are walked first (headers and block headers
// only, no decoding), and a batch whose frames could make more is refused before any allocation. A
// refused batch fails its decoding, so the receiver drops it as `corrupt` (counted) and moves past it.
// fzstd's time is bounded too: without a content size it moves its window once per block (see
// ZSTD_MAX_WINDOW_MOVES), and thousands of tiny blocks under a large window held the event loop for minutes.
// Kafka itself bounds what a producer sends (the broker's `message.max.bytes`, 1 MiB by default), but
// not what that becomes once decompressed.

/** The most a record batch may decompress to in the receiver's consumers: 64 MiB. */
export const MAX_BATCH_BYTES = 64 * 1024 * 1024;

const MiB = 1024 * 1024;

/** Throws, naming the codec and the sizes, when `bound` bytes exceed what a batch may decompress to. */
export function checkBound(codec: string, bound: number, limit: number): void {
  if (bound > limit) {
    throw new Error(`${codec}: the batch would decompress to ${bound > 2 ** 50 ? 'petabytes' : `${(bound / MiB).toFixed(1)} MiB`}, more than the ${limit / MiB} MiB a batch may have`);
  }
}

/** What to throw for an error of zlib: its `maxOutputLength` error said the way {@link checkBound} says it, else the error itself. */
export function zlibError(codec: string, limit: number, error: unknown): unknown {
  if ((error as { code?: unknown } | null)?.code !== 'ERR_BUFFER_TOO_LARGE') return error;
  return new Error(`${codec}: the batch decompresses to more than the ${limit / MiB} MiB a batch may have`, { cause: error });
}

function malformed(codec: string, what: string): Error {
  return new Error(`${codec}: ${what}`);
}

const ZSTD_MAGIC = 0xfd2fb528;
const ZSTD_BLOCK_MAX = 128 * 1024;
/**
 * The most bytes fzstd may move to decode a batch: a frame without a content size is decoded through a
 * window that it shifts by a copy of the whole window for each block (a 60 MiB window: 2.5 ms a block).
 * Frames of 128 KiB blocks, as encoders write them, within MAX_BATCH_BYTES move at most 8 GiB.
 */
const ZSTD_MAX_WINDOW_MOVES = 16 * 1024 * MiB;

/**
 * The most zstd frames (RFC 8878) may make and fzstd allocate for them: per frame its content size, or
 * its window and its blocks (a compressed block up to 128 KiB or the window, a raw or repeated one its
 * stated size); skippable frames count nothing. Reads headers and block headers only.
 */
export function zstdBound(data: Uint8Array): number {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let at = 0;
  let total = 0;
  let moves = 0;
  while (at < data.length) {
    if (at + 8 > data.length) throw malformed('zstd', 'a truncated frame header');
    const magic = view.getUint32(at, true);
    if (magic >>> 4 === 0x184d2a5) {
      at += 8 + view.getUint32(at + 4, true); // a skippable frame
      continue;
    }
    if (magic !== ZSTD_MAGIC) throw malformed('zstd', 'not a zstd frame');
    const descriptor = data[at + 4]!;
    const singleSegment = (descriptor >> 5) & 1;
    const checksum = (descriptor >> 2) & 1;
    const dictionaryBytes = [0, 1, 2, 4][descriptor & 3]!;
    const sizeFlag = descriptor >> 6;
    at += 5;
    let window = 0;
    if (singleSegment === 0) {
      const exponent = data[at]! >> 3;
      const base = 2 ** (10 + exponent);
      window = base + (base / 8) * (data[at]! & 7);
      at += 1;
    }
    at += dictionaryBytes;
    const sizeBytes = sizeFlag === 0 ? singleSegment : 1 << sizeFlag;
    if (at + sizeBytes > data.length) throw malformed('zstd', 'a truncated frame header');
    let contentSize = 0;
    for (let i = sizeBytes - 1; i >= 0; i--) contentSize = contentSize * 256 + data[at + i]!;
    if (sizeBytes === 2) contentSize += 256;
    at += sizeBytes;
    if (singleSegment === 1) window = contentSize;
    const blockMax = Math.min(window, ZSTD_BLOCK_MAX);
    let blocks = 0;
    let count = 0;
    for (let last = 0; last === 0; count++) {
      if (at + 3 > data.length) throw malformed('zstd', 'a truncated block');
      const header = data[at]! | (data[at + 1]! << 8) | (data[at + 2]! << 16);
      last = header & 1;
      const type = (header >> 1) & 3;
      const size = header >>> 3;
      if (type === 3) throw malformed('zstd', 'a reserved block type');
      blocks += type === 2 ? blockMax : size;
      at += 3 + (type === 1 ? 1 : size);
    }
    at += checksum * 4;
    // fzstd allocates the content size, or the window and then each block.
    total += contentSize > 0 ? Math.max(contentSize, blocks) : window + blocks;
    if (contentSize === 0) {
      moves += window * count;
      if (moves > ZSTD_MAX_WINDOW_MOVES) {
        throw malformed('zstd', `${count} blocks with a ${(window / MiB).toFixed(1)} MiB window and no content size: fzstd would move ${(moves / (1024 * MiB)).toFixed(1)} GiB (the window once per block), more than the ${ZSTD_MAX_WINDOW_MOVES / (1024 * MiB)} GiB a batch may take`);
      }
    }
  }
  return total;
}

/** A varint (snappy's preamble): the value and the bytes it took. */
function varint(data: Uint8Array, at: number): [number, number] {
  let value = 0;
  for (let i = 0; i < 5; i++) {
    const byte = data[at + i];
    if (byte === undefined) throw malformed('snappy', 'a truncated length');
    value += (byte & 0x7f) * 2 ** (7 * i);
    if ((byte & 0x80) === 0) return [value, i + 1];
  }
  throw malformed('snappy', 'a length of more than 32 bits');
}

/**
 * The size raw snappy states it decompresses to (its preamble), or with snappy-java's framing
 * (`xerial`: blocks of a 4-byte length and raw snappy) the sum over the blocks.
 */
export function snappyBound(data: Uint8Array, xerial: boolean): number {
  if (!xerial) return varint(data, 0)[0];
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let total = 0;
  for (let at = 16; at + 4 <= data.length; ) {
    const length = view.getUint32(at);
    total += varint(data, at + 4)[0];
    at += 4 + length;
  }
  return total;
}

const LZ4_MAGIC = 0x184d2204;
const LZ4_BLOCK_MAX = [0, 0, 0, 0, 64 * 1024, 256 * 1024, MiB, 4 * MiB];

/** The most LZ4 frames may make: a compressed block up to the frame's block size, a stored block its length. */
export function lz4Bound(data: Uint8Array): number {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let at = 0;
  let total = 0;
  while (at < data.length) {
    if (at + 7 > data.length) throw malformed('lz4', 'a truncated frame header');
    const magic = view.getUint32(at, true);
    if (magic >>> 4 === 0x184d2a5) {
      if (at + 8 > data.length) throw malformed('lz4', 'a truncated frame header');
      at += 8 + view.getUint32(at + 4, true); // a skippable frame
      continue;
    }
    if (magic !== LZ4_MAGIC) throw malformed('lz4', 'not an LZ4 frame');
    const flags = data[at + 4]!;
    const blockMax = LZ4_BLOCK_MAX[(data[at + 5]! >> 4) & 7]!;
    if (blockMax === 0) throw malformed('lz4', 'a reserved block size');
    const blockChecksum = (flags >> 4) & 1;
    const contentChecksum = (flags >> 2) & 1;
    at += 6 + ((flags >> 3) & 1) * 8 + (flags & 1) * 4 + 1;
    for (;;) {
      if (at + 4 > data.length) throw malformed('lz4', 'a truncated block');
      const word = view.getUint32(at, true);
      at += 4;
      if (word === 0) break;
      const stored = word >>> 31 === 1;
      const size = word & 0x7fffffff;
      total += stored ? size : blockMax;
      at += size + blockChecksum * 4;
    }
    at += contentChecksum * 4;
  }
  return total;
}
