// `node bench/dist/compression.js [--events 512] [--iterations 400] [--json]`
//
// What compressing one batch costs, and what it saves: the bench workload's flag evaluations (ids and
// timestamps stamped as record() stamps them), 512 to a batch, encoded as the HTTP exporter encodes
// them (JSON array and OTLP/HTTP JSON), then compressed with gzip at levels 1, 6 (zlib's default) and
// 9, and with zstd at levels 1 and 3 (its default) when this Node.js has it (22.15 and later). For
// each: bytes on the wire, ratio, and CPU time per batch (user + system, from process.cpuUsage, over
// `--iterations` synchronous compressions after a warm-up; the exporter compresses the same way, only
// in libuv's thread pool). Run it with each Node.js to compare (zstd needs 22.15+):
//
//   pnpm build && node bench/dist/compression.js
//   /path/to/node22/bin/node bench/dist/compression.js
//
// Nothing here is a pass/fail check; the figures go into packages/exporter-http/README.md
// (`compression`) and bench/what-we-tried.md.
import { parseArgs } from 'node:util';
import zlib from 'node:zlib';
import { type FlagEvaluationEvent, type Recorded, nextEventId } from '@trackpipe/core';
import { HttpExporter } from '@trackpipe/exporter-http';
import { BATCH_SIZE, flagEvaluationAt } from './workload.js';

interface Codec {
  readonly name: string;
  readonly compress: (body: Buffer) => Buffer;
}

interface Row {
  readonly body: string;
  readonly codec: string;
  readonly bytes: number;
  readonly ratio: number;
  readonly cpuUsPerBatch: number;
  readonly cpuNsPerEvent: number;
  readonly mbPerCpuSecond: number;
}

const zstd = zlib as unknown as {
  zstdCompressSync?: (body: Buffer, options: object) => Buffer;
  constants: Record<string, number | undefined>;
};

function codecs(): Codec[] {
  const list: Codec[] = [{ name: 'none', compress: (body) => body }];
  for (const level of [1, 6, 9]) list.push({ name: `gzip ${level}${level === 6 ? ' (zlib default)' : ''}`, compress: (body) => zlib.gzipSync(body, { level }) });
  const zstdLevel = zstd.constants.ZSTD_c_compressionLevel;
  if (typeof zstd.zstdCompressSync === 'function' && zstdLevel !== undefined) {
    const compressSync = zstd.zstdCompressSync;
    for (const level of [1, 3]) {
      list.push({ name: `zstd ${level}${level === 3 ? ' (zstd default)' : ''}`, compress: (body) => compressSync(body, { params: { [zstdLevel]: level } }) });
    }
  }
  return list;
}

/** A batch as record() leaves it: the workload's events with a UUIDv7 id and a millisecond timestamp. */
function batch(n: number): Recorded<FlagEvaluationEvent>[] {
  const start = Date.UTC(2026, 10, 25, 12, 0, 0);
  return Array.from({ length: n }, (_, i) => {
    const timestamp = start + Math.floor(i / 8);
    return { ...flagEvaluationAt(i), id: nextEventId(timestamp), timestamp };
  });
}

function bodyOf(format: 'json' | 'otlp', events: readonly Recorded<FlagEvaluationEvent>[]): Buffer {
  const exporter = new HttpExporter<Recorded<FlagEvaluationEvent>>({
    url: 'http://127.0.0.1:9/',
    format,
    ...(format === 'otlp' ? { otlp: { serviceName: 'checkout' } } : {}),
  });
  const encode = exporter.encodeBatch;
  if (encode === undefined) throw new Error(`the ${format} format has no batch encoder`);
  void exporter.shutdown();
  return Buffer.from(encode(events));
}

function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

function measure(body: Buffer, codec: Codec, iterations: number, events: number, label: string): Row {
  const warmup = Math.max(20, iterations >> 3);
  for (let i = 0; i < warmup; i++) codec.compress(body);
  const before = cpuMicros();
  let bytes = 0;
  for (let i = 0; i < iterations; i++) bytes = codec.compress(body).byteLength;
  const cpuUsPerBatch = (cpuMicros() - before) / iterations;
  return {
    body: label,
    codec: codec.name,
    bytes,
    ratio: body.byteLength / bytes,
    cpuUsPerBatch,
    cpuNsPerEvent: (cpuUsPerBatch * 1000) / events,
    mbPerCpuSecond: cpuUsPerBatch === 0 ? Number.POSITIVE_INFINITY : body.byteLength / cpuUsPerBatch,
  };
}

function main(): void {
  const { values } = parseArgs({
    options: { events: { type: 'string', default: String(BATCH_SIZE) }, iterations: { type: 'string', default: '400' }, json: { type: 'boolean', default: false } },
  });
  const n = Number(values.events);
  const iterations = Number(values.iterations);
  if (!Number.isInteger(n) || n < 1 || !Number.isInteger(iterations) || iterations < 1) {
    process.stderr.write('usage: node bench/dist/compression.js [--events N] [--iterations N] [--json]\n');
    process.exitCode = 2;
    return;
  }
  const events = batch(n);
  const rows: Row[] = [];
  for (const format of ['json', 'otlp'] as const) {
    const body = bodyOf(format, events);
    for (const codec of codecs()) {
      if (codec.name === 'none') {
        rows.push({ body: format, codec: 'none', bytes: body.byteLength, ratio: 1, cpuUsPerBatch: 0, cpuNsPerEvent: 0, mbPerCpuSecond: Number.POSITIVE_INFINITY });
        continue;
      }
      rows.push(measure(body, codec, iterations, n, format));
    }
  }
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ node: process.version, events: n, iterations, rows })}\n`);
    return;
  }
  const lines = [
    `Node.js ${process.version}, ${n} flag evaluations per batch, ${iterations} compressions per row (CPU = user + system).`,
    '',
    '| body | codec | bytes | ratio | CPU µs/batch | CPU ns/event | MB/CPU-s |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (r) =>
        `| ${r.body} | ${r.codec} | ${r.bytes.toLocaleString('en-US')} | ${r.ratio.toFixed(1)}× | ${r.cpuUsPerBatch.toFixed(0)} | ${r.cpuNsPerEvent.toFixed(0)} | ${
          Number.isFinite(r.mbPerCpuSecond) ? r.mbPerCpuSecond.toFixed(0) : '—'
        } |`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main();
