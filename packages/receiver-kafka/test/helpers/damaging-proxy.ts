// A TCP proxy between Kafka clients and the test broker that damages record batches in Fetch
// responses: the hostile (or broken) broker of the damaged-batch tests. It reads the Kafka framing
// both ways (requests: size, api key, version, correlation id; responses: size, correlation id),
// points the clients at itself (the broker port in Metadata and FindCoordinator responses becomes
// the proxy's), and hands each record batch of a Fetch response (v4+) to `damage`, which may change
// its bytes in place. Only the non-flexible versions kafkajs 2.2.4 speaks are understood.
import net from 'node:net';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const crc32C = require('kafkajs/src/protocol/recordBatch/crc32C/index.js') as (buffer: Buffer) => number;

const API_FETCH = 1;
const API_METADATA = 3;
const API_FIND_COORDINATOR = 10;

/** One record batch of a Fetch response: its bytes (from firstOffset to its end), changed in place. */
export type Damage = (batch: Buffer, where: { topic: string; partition: number }) => void;

/** Recomputes a batch's CRC32C (over attributes to the end), as a broker that means it would. */
export function fixCrc(batch: Buffer): void {
  batch.writeUInt32BE(crc32C(batch.subarray(21)), 17);
}

class Reader {
  at: number;
  constructor(
    readonly buffer: Buffer,
    at = 0,
  ) {
    this.at = at;
  }
  int16(): number {
    const v = this.buffer.readInt16BE(this.at);
    this.at += 2;
    return v;
  }
  int32(): number {
    const v = this.buffer.readInt32BE(this.at);
    this.at += 4;
    return v;
  }
  skip(n: number): void {
    this.at += n;
  }
  string(): string {
    const length = this.int16();
    if (length < 0) return '';
    const s = this.buffer.toString('utf8', this.at, this.at + length);
    this.at += length;
    return s;
  }
}

/** Frames of a stream: int32 size, then that many bytes. */
function framer(onFrame: (frame: Buffer) => void): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  return (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    while (pending.length >= 4) {
      const size = pending.readInt32BE(0);
      if (pending.length < 4 + size) break;
      onFrame(pending.subarray(0, 4 + size));
      pending = pending.subarray(4 + size);
    }
  };
}

function rewriteMetadata(frame: Buffer, version: number, port: number): void {
  const r = new Reader(frame, 8);
  if (version >= 3) r.skip(4);
  const brokers = r.int32();
  for (let i = 0; i < brokers; i++) {
    r.skip(4);
    r.string();
    frame.writeInt32BE(port, r.at);
    r.skip(4);
    if (version >= 1) r.string();
  }
}

function rewriteCoordinator(frame: Buffer, version: number, port: number): void {
  const r = new Reader(frame, 8);
  if (version >= 1) r.skip(4);
  r.skip(2);
  if (version >= 1) r.string();
  r.skip(4);
  r.string();
  frame.writeInt32BE(port, r.at);
}

function damageFetch(frame: Buffer, version: number, damage: Damage): void {
  if (version < 4) throw new Error(`damaging proxy: Fetch v${version} is not understood`);
  const r = new Reader(frame, 8);
  r.skip(4); // throttle_time_ms
  if (version >= 7) r.skip(2 + 4); // error_code, session_id
  const topics = r.int32();
  for (let t = 0; t < topics; t++) {
    const topic = r.string();
    const partitions = r.int32();
    for (let p = 0; p < partitions; p++) {
      const partition = r.int32();
      r.skip(2 + 8 + 8); // error_code, high_watermark, last_stable_offset
      if (version >= 5) r.skip(8); // log_start_offset
      const aborted = r.int32();
      if (aborted > 0) r.skip(aborted * 16);
      if (version >= 11) r.skip(4); // preferred_read_replica
      const size = r.int32();
      const end = r.at + Math.max(0, size);
      while (r.at + 12 <= end) {
        const length = frame.readInt32BE(r.at + 8);
        if (r.at + 12 + length > end) break;
        damage(frame.subarray(r.at, r.at + 12 + length), { topic, partition });
        r.skip(12 + length);
      }
      r.at = end;
    }
  }
}

/** A proxy in front of `broker` (host:port); `address` is what clients bootstrap from. */
export async function damagingProxy(broker: string, damage: Damage): Promise<{ address: string; close(): Promise<void> }> {
  const [host, portText] = broker.split(':') as [string, string];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host, port: Number(portText) });
    sockets.add(client).add(upstream);
    const requests = new Map<number, { apiKey: number; version: number }>();
    const close = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    client.on(
      'data',
      framer((frame) => {
        requests.set(frame.readInt32BE(8), { apiKey: frame.readInt16BE(4), version: frame.readInt16BE(6) });
        upstream.write(frame);
      }),
    );
    upstream.on(
      'data',
      framer((frame) => {
        const correlationId = frame.readInt32BE(4);
        const request = requests.get(correlationId);
        requests.delete(correlationId);
        if (request?.apiKey === API_METADATA) rewriteMetadata(frame, request.version, proxyPort);
        else if (request?.apiKey === API_FIND_COORDINATOR) rewriteCoordinator(frame, request.version, proxyPort);
        else if (request?.apiKey === API_FETCH) damageFetch(frame, request.version, damage);
        client.write(frame);
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxyPort = (server.address() as net.AddressInfo).port;
  return {
    address: `127.0.0.1:${proxyPort}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
