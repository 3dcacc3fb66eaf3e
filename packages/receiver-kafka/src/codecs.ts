// Kafka's record-batch codecs for kafkajs, which decodes gzip only: a snappy, lz4 or zstd batch (a
// producer's choice, or a topic's `compression.type`, which makes the broker recompress) fails the
// whole fetch, and kafkajs restarts the consumer for ever. The codecs of @platformatic/kafka
// (WebAssembly snappy and lz4, Node's zstd) are registered in kafkajs's table, which is process-wide:
// they add the codecs kafkajs refused (and take the place of its gzip, with the same zlib calls), and
// compress as Kafka expects should another kafkajs client there choose them. zstd is decoded by Node's zlib where it has it (22.15+, 23.8+), else by fzstd
// (pure JavaScript): a receiver on Node 20 reads zstd batches; compressing zstd there still fails.
// @platformatic/kafka is loaded on the first snappy batch (or compression), not before: loading it
// takes about a second, which every start of `trackpipe serve` and `validate` would pay. lz4 is
// decoded by its WebAssembly module in an instance of our own (see lz4Decompress), made on the first lz4 batch.
// In a receiver's consumers every codec, gzip included, stops at MAX_BATCH_BYTES (see bounds.ts);
// elsewhere gzip decodes as kafkajs's own codec does.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type * as Platformatic from '@platformatic/kafka';
import { decompress as fzstdDecompress } from 'fzstd';
import kafkajs from 'kafkajs';
import { MAX_BATCH_BYTES, checkBound, lz4Bound, snappyBound, zlibError, zstdBound } from './bounds.js';
import { inReceiverScope } from './damaged-batches.js';

const { CompressionCodecs, CompressionTypes } = kafkajs;

/** The header of snappy-java's framing (magic, version, compatible version), which the Java client and broker write. */
const XERIAL_MAGIC = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]);

/** Raw snappy, or snappy-java's frames (16-byte header, then blocks of a 4-byte length and raw snappy), decompressed. */
function unframeSnappy(data: Buffer, decoder: (block: Buffer) => Buffer, limit: number): Buffer {
  // The WebAssembly decoder traps on what it refuses (its Rust panics abort): a RuntimeError that says only `unreachable`.
  const raw = (block: Buffer): Buffer => {
    try {
      return decoder(block);
    } catch (error) {
      throw new Error('snappy: a block could not be decoded (damaged or not snappy)', { cause: error });
    }
  };
  const xerial = data.length >= 16 && data.subarray(0, 8).equals(XERIAL_MAGIC);
  checkBound('snappy', snappyBound(data, xerial), limit);
  if (!xerial) return raw(data);
  const blocks: Buffer[] = [];
  let at = 16;
  while (at < data.length) {
    if (at + 4 > data.length) throw new Error('snappy: a truncated frame');
    const length = data.readUInt32BE(at);
    at += 4;
    if (at + length > data.length) throw new Error('snappy: a truncated frame');
    blocks.push(raw(data.subarray(at, at + length)));
    at += length;
  }
  return Buffer.concat(blocks);
}

/** zstd frames decoded in pure JavaScript (fzstd): what a Node without zlib's zstd uses. At most `limit` bytes. */
export function pureZstdDecompress(data: Buffer, limit = Number.POSITIVE_INFINITY): Buffer {
  checkBound('zstd', zstdBound(data), limit);
  let out: Uint8Array;
  try {
    out = fzstdDecompress(data);
  } catch (error) {
    throw new Error(`zstd: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

const nativeZstdDecompress = (zlib as { zstdDecompressSync?: (data: Buffer, options: zlib.ZlibOptions) => Buffer }).zstdDecompressSync;

/** zstd frames decoded, at most `limit` bytes: by Node's zlib where it has zstd (22.15+, 23.8+), else in pure JavaScript. */
export const zstdDecompress: (data: Buffer, limit?: number) => Buffer =
  nativeZstdDecompress === undefined
    ? pureZstdDecompress
    : (data, limit = Number.POSITIVE_INFINITY) => {
        try {
          return nativeZstdDecompress(data, Number.isFinite(limit) ? { maxOutputLength: limit } : {});
        } catch (error) {
          throw zlibError('zstd', limit, error);
        }
      };

const gunzip = promisify<zlib.InputType, zlib.ZlibOptions, Buffer>(zlib.unzip);
const gzip = promisify<zlib.InputType, Buffer>(zlib.gzip);

/** gzip as kafkajs decodes it (zlib's unzip), at most `limit` bytes. */
export async function gzipDecompress(data: Buffer, limit = Number.POSITIVE_INFINITY): Promise<Buffer> {
  try {
    return await gunzip(data, Number.isFinite(limit) ? { maxOutputLength: limit } : {});
  } catch (error) {
    throw zlibError('gzip', limit, error);
  }
}

type Algorithms = typeof Platformatic.compressionsAlgorithms;
let algorithms: Promise<Algorithms> | undefined;
/** @platformatic/kafka's codecs, loaded once, when first needed. */
function platformatic(): Promise<Algorithms> {
  algorithms ??= import('@platformatic/kafka').then((library) => library.compressionsAlgorithms);
  return algorithms;
}

/** The exports of @platformatic/wasm-utils's WebAssembly module (lz4_flex, snap) that an LZ4 decoding uses. */
interface Lz4Wasm {
  memory: { readonly buffer: ArrayBuffer };
  alloc(length: number): number;
  dealloc(at: number, length: number): void;
  lz4_decompress(at: number, length: number): bigint;
}
/** Node's WebAssembly (the project's type libraries do not declare it). */
const { WebAssembly: wasmApi } = globalThis as unknown as {
  WebAssembly: { Module: new (bytes: Uint8Array) => object; Instance: new (module: object) => { exports: unknown } };
};
let lz4Module: object | undefined;
let lz4Instance: Lz4Wasm | undefined;

/**
 * LZ4 frames decoded by the WebAssembly decoder @platformatic/kafka uses, in an instance of our own. A
 * frame it refuses (a bad offset, checksum or block) traps (its Rust panics abort), and what it had
 * decoded until then stays allocated in the instance's memory for ever: 130 KB of frame that decodes
 * 33 MiB and then fails kept 84 MiB, about 50 such batches grew the memory to its 4 GiB, and then every
 * LZ4 batch failed. After a trap this instance is dropped (its memory with it); the next batch gets a
 * new one. Its errors are said as ours, naming lz4 (a trap says only `unreachable`).
 */
function lz4Decompress(data: Buffer): Buffer {
  if (lz4Instance === undefined) {
    if (lz4Module === undefined) {
      const platformaticRequire = createRequire(createRequire(import.meta.url).resolve('@platformatic/kafka'));
      lz4Module = new wasmApi.Module(readFileSync(new URL('native.wasm', pathToFileURL(platformaticRequire.resolve('@platformatic/wasm-utils')))));
    }
    lz4Instance = new wasmApi.Instance(lz4Module).exports as Lz4Wasm;
  }
  const wasm = lz4Instance;
  try {
    const input = wasm.alloc(data.length);
    new Uint8Array(wasm.memory.buffer, input, data.length).set(data);
    const combined = wasm.lz4_decompress(input, data.length);
    wasm.dealloc(input, data.length);
    const at = Number(combined >> 32n);
    const length = Number(BigInt.asUintN(32, combined));
    const output = Buffer.from(new Uint8Array(wasm.memory.buffer, at, length));
    wasm.dealloc(at, length);
    return output;
  } catch (error) {
    lz4Instance = undefined;
    throw new Error('lz4: the frame could not be decoded (damaged or not LZ4)', { cause: error });
  }
}

/** Decodes one codec's batch, at most `limit` bytes. */
async function decompressWith(name: 'gzip' | 'snappy' | 'lz4' | 'zstd', data: Buffer, limit: number): Promise<Buffer> {
  switch (name) {
    case 'gzip':
      return gzipDecompress(data, limit);
    case 'zstd':
      return zstdDecompress(data, limit);
    case 'snappy':
      return unframeSnappy(data, (await platformatic()).snappy.decompressSync, limit);
    case 'lz4':
      checkBound('lz4', lz4Bound(data), limit);
      return lz4Decompress(data);
  }
}

/** Registers gzip (bounded in a receiver), snappy, lz4 and zstd in kafkajs's (process-wide) codec table. */
export function registerCodecs(): void {
  const codecs: readonly [number, 'gzip' | 'snappy' | 'lz4' | 'zstd'][] = [
    [CompressionTypes.GZIP, 'gzip'],
    [CompressionTypes.Snappy, 'snappy'],
    [CompressionTypes.LZ4, 'lz4'],
    [CompressionTypes.ZSTD, 'zstd'],
  ];
  for (const [type, name] of codecs) {
    const decompress = (data: Buffer): Promise<Buffer> => decompressWith(name, data, inReceiverScope() ? MAX_BATCH_BYTES : Number.POSITIVE_INFINITY);
    const codec = {
      // Without Node's zstd this throws (@platformatic/kafka's UnsupportedCompressionError): decoding only.
      compress: async (encoder: { buffer: Buffer }): Promise<Buffer> => (name === 'gzip' ? gzip(encoder.buffer) : (await platformatic())[name].compressSync(encoder.buffer)),
      decompress,
    };
    (CompressionCodecs as Record<number, () => unknown>)[type] = () => codec;
  }
}
