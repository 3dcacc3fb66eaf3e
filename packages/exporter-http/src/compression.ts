import { promisify } from 'node:util';
import zlib from 'node:zlib';

/** How bodies are compressed on the wire. */
export type HttpCompression = 'gzip' | 'zstd' | 'none';

/** The gzip level used when `compressionLevel` is not given: level 1 (see the README for the figures). */
export const DEFAULT_GZIP_LEVEL = 1;
/** The zstd level used when `compressionLevel` is not given: level 1 (fewer bytes than zstd's default 3 on event batches, at no more CPU; see the README). */
export const DEFAULT_ZSTD_LEVEL = 1;

type Compress = (body: Uint8Array, options: object) => Promise<Buffer>;

/** zstd arrived in Node.js 22.15 and 23.8 (`zlib.zstdCompress`); older versions (Node 20) have none. */
const zstd = zlib as unknown as {
  zstdCompress?: (body: Uint8Array, options: object, callback: (error: Error | null, result: Buffer) => void) => void;
  constants: Record<string, number | undefined>;
};
const zstdCompress: Compress | undefined = typeof zstd.zstdCompress === 'function' ? promisify<Uint8Array, object, Buffer>(zstd.zstdCompress) : undefined;
const gzipCompress: Compress = promisify<Uint8Array, object, Buffer>(zlib.gzip);

/** True when this Node.js can compress with zstd (22.15 or later). */
export const zstdAvailable: boolean = zstdCompress !== undefined;

/** Compresses a body (off the main thread, in libuv's pool); answers the bytes and the `content-encoding`. */
export type Compressor = (body: Uint8Array) => Promise<{ body: Uint8Array; encoding: 'gzip' | 'zstd' | undefined }>;

/**
 * A compressor for `algorithm` at `level`, for bodies of at least `thresholdBytes` (smaller ones, and
 * every body with `"none"`, pass as they are). Throws when zstd is asked for on a Node.js without it.
 */
export function compressor(algorithm: HttpCompression, level: number | undefined, thresholdBytes: number): Compressor {
  if (algorithm === 'none') return async (body) => ({ body, encoding: undefined });
  let compress: (body: Uint8Array) => Promise<Buffer>;
  if (algorithm === 'zstd') {
    const zstdLevel = zstd.constants.ZSTD_c_compressionLevel;
    if (zstdCompress === undefined || zstdLevel === undefined) {
      throw new RangeError(`compression "zstd" needs Node.js 22.15 or later (zlib.zstdCompress); this is ${process.version}`);
    }
    const options = { params: { [zstdLevel]: level ?? DEFAULT_ZSTD_LEVEL } };
    compress = (body) => zstdCompress(body, options);
  } else {
    const options = { level: level ?? DEFAULT_GZIP_LEVEL };
    compress = (body) => gzipCompress(body, options);
  }
  return async (body) => (body.byteLength >= thresholdBytes ? { body: await compress(body), encoding: algorithm } : { body, encoding: undefined });
}
