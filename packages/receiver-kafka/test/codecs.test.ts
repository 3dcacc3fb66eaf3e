// The record-batch codecs registered in kafkajs. zstd is decoded by Node's zlib where it has zstd
// (22.15+) and in pure JavaScript (fzstd) elsewhere: on Node 20 a zstd batch failed every fetch.
// The fixtures are the same 3 000 events (the NDJSON made by `eventsText()` below) compressed by the
// zstd command-line tool 1.5: `events-stream` from a pipe (no content size in the frame header, the
// way a streaming encoder such as Kafka's Java client writes it; a content checksum), `events-sized`
// from a file (content size in the header, level 19, a checksum).
import { readFileSync } from 'node:fs';
import zlib from 'node:zlib';
import kafkajs from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { pureZstdDecompress, registerCodecs, zstdDecompress } from '../src/codecs.js';

const { CompressionCodecs, CompressionTypes } = kafkajs;

function eventsText(): string {
  const lines: string[] = [];
  for (let i = 0; i < 3000; i++) lines.push(JSON.stringify({ name: 'e', id: `zstd-${i}`, targetingKey: `user-${i % 7}`, attributes: { text: 'x'.repeat(i % 50) } }));
  return `${lines.join('\n')}\n`;
}

const fixture = (name: string): Buffer => readFileSync(new URL(`fixtures/${name}`, import.meta.url));
const nodeHasZstd = typeof (zlib as { zstdCompressSync?: unknown }).zstdCompressSync === 'function';

describe('zstd decoding', () => {
  it.each(['events-stream.ndjson.zst', 'events-sized.ndjson.zst'])('decodes %s in pure JavaScript, on any Node', (name) => {
    const compressed = fixture(name);
    const text = pureZstdDecompress(compressed).toString('utf8');
    expect(text.length).toBe(309_390);
    expect(text).toBe(eventsText());
  });

  it('decodes with the codec this Node uses (zlib where it has zstd) exactly as in pure JavaScript', () => {
    for (const name of ['events-stream.ndjson.zst', 'events-sized.ndjson.zst']) {
      expect(zstdDecompress(fixture(name)).equals(pureZstdDecompress(fixture(name)))).toBe(true);
    }
  });

  it('fails with an error naming zstd for bytes that are not a zstd frame or a truncated one, never returning garbage', () => {
    const frame = fixture('events-stream.ndjson.zst');
    const notZstd = Buffer.from(frame);
    notZstd[0] = 0x29;
    expect(() => pureZstdDecompress(notZstd)).toThrow(/^zstd: /);
    expect(() => pureZstdDecompress(frame.subarray(0, frame.length - 100))).toThrow(/^zstd: /);
    expect(() => zstdDecompress(notZstd)).toThrow();
  });
});

describe('the codecs registered in kafkajs', () => {
  registerCodecs();
  const codec = (type: number) => (CompressionCodecs as unknown as Record<number, () => { compress(e: { buffer: Buffer }): Promise<Buffer>; decompress(b: Buffer): Promise<Buffer> }>)[type]!();

  it('decode zstd record batches on every Node (Node 20 included)', async () => {
    const decoded = await codec(CompressionTypes.ZSTD).decompress(fixture('events-stream.ndjson.zst'));
    expect(decoded.toString('utf8')).toBe(eventsText());
  });

  it('compress zstd where Node has it (a round trip), and refuse saying so where it has none', async () => {
    const zstd = codec(CompressionTypes.ZSTD);
    const text = Buffer.from(eventsText());
    if (nodeHasZstd) expect((await zstd.decompress(await zstd.compress({ buffer: text }))).equals(text)).toBe(true);
    else await expect(zstd.compress({ buffer: text })).rejects.toThrow(/zstd is not supported/);
  });
});
