import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { gunzip } from 'node:zlib';

/** Failures the sink produces on purpose. Each request draws one number: resets first, then 503s, then hangs. */
export interface SinkFaults {
  /** Fraction of requests answered 503 (body read, events not counted). Default 0. */
  failRate?: number;
  /** Fraction of requests whose connection is destroyed before the body is read (nothing counted). Default 0. */
  resetRate?: number;
  /**
   * Fraction of requests that hang: the body is read, then nothing is answered for {@link hangMs};
   * then the request is answered as any other (200, events counted) — unless the client gave up and
   * closed the connection meanwhile (counted as `abandoned`, events not counted). Default 0.
   */
  hangRate?: number;
  /** How long a hanging request waits before its answer, in ms. Default 5 000. */
  hangMs?: number;
  /** Seed of the fault draws, so a run's fault pattern can be repeated. Default 1. */
  seed?: number;
}

/** What the sink has seen since its last {@link Sink.reset}. */
export interface SinkCounts {
  /** HTTP requests received (all outcomes). */
  readonly requests: number;
  /** Requests answered 2xx (their events are counted). */
  readonly accepted: number;
  /** Requests answered 503 on purpose. */
  readonly failed: number;
  /** Connections destroyed on purpose. */
  readonly resets: number;
  /** Requests held without an answer on purpose (see {@link SinkFaults.hangRate}). */
  readonly hung: number;
  /** Hung requests whose client closed the connection before the answer (nothing counted). */
  readonly abandoned: number;
  /** Bodies that could not be decoded or parsed (answered 400). */
  readonly malformed: number;
  /** Events in accepted requests (with or without an id). */
  readonly events: number;
  /** Events that carried an id. */
  readonly withId: number;
  /** Distinct ids. */
  readonly distinct: number;
  /** Ids seen again (`withId - distinct`). */
  readonly duplicates: number;
  /** Request body bytes as they came over the wire (compressed when gzip), all requests. */
  readonly wireBytes: number;
  /** Decoded body bytes of accepted requests. */
  readonly bodyBytes: number;
  /** Accepted requests that were gzip-compressed. */
  readonly gzipped: number;
}

/** Small, fast, seedable PRNG (mulberry32). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The events of one decoded document: a bare array, an envelope (`{ batch: [...] }` or any one array), OTLP logs, or one event. */
export function eventsOf(doc: unknown): unknown[] {
  if (Array.isArray(doc)) return doc;
  if (!isObject(doc)) return [];
  if (Array.isArray(doc.batch)) return doc.batch; // posthog /batch/, segment /v1/batch
  if (Array.isArray(doc.resourceLogs)) {
    const records: unknown[] = [];
    for (const resourceLogs of doc.resourceLogs) {
      if (!isObject(resourceLogs) || !Array.isArray(resourceLogs.scopeLogs)) continue;
      for (const scopeLogs of resourceLogs.scopeLogs) {
        if (isObject(scopeLogs) && Array.isArray(scopeLogs.logRecords)) records.push(...(scopeLogs.logRecords as unknown[]));
      }
    }
    return records;
  }
  const arrays = Object.values(doc).filter((value) => Array.isArray(value));
  if (arrays.length === 1) return arrays[0] as unknown[];
  return [doc];
}

const OTLP_ID_KEYS = new Set(['event.id', 'log.record.uid']);

/**
 * A set of ids without a Set's 2^24-entry limit (the flapping scenario alone delivers 18 million
 * ids): 64 Sets, chosen by the id's last two characters.
 */
class IdSet {
  readonly #shards: Set<string>[] = Array.from({ length: 64 }, () => new Set<string>());
  size = 0;

  #shard(id: string): Set<string> {
    const n = id.length;
    return this.#shards[((n > 0 ? id.charCodeAt(n - 1) : 0) + 31 * (n > 1 ? id.charCodeAt(n - 2) : 0)) & 63]!;
  }

  add(id: string): void {
    const shard = this.#shard(id);
    const before = shard.size;
    shard.add(id);
    this.size += shard.size - before;
  }

  has(id: string): boolean {
    return this.#shard(id).has(id);
  }
}

/**
 * The id an event carries: `id`, posthog/segment `properties.id`, segment `messageId`, posthog
 * `uuid`, or an OTLP log record's `event.id` / `log.record.uid` attribute, in that order.
 */
export function idOf(event: unknown): string | undefined {
  if (!isObject(event)) return undefined;
  const direct = event.id;
  if (typeof direct === 'string' || typeof direct === 'number') return String(direct);
  const properties = event.properties;
  if (isObject(properties) && (typeof properties.id === 'string' || typeof properties.id === 'number')) return String(properties.id);
  if (typeof event.messageId === 'string') return event.messageId;
  if (Array.isArray(event.attributes)) {
    for (const attribute of event.attributes) {
      if (isObject(attribute) && typeof attribute.key === 'string' && OTLP_ID_KEYS.has(attribute.key) && isObject(attribute.value)) {
        const value = attribute.value.stringValue;
        if (typeof value === 'string') return value;
      }
    }
  }
  if (typeof event.uuid === 'string') return event.uuid;
  return undefined;
}

/** Parses a body: JSON (array, envelope, OTLP) or NDJSON. Throws when it is neither. */
export function parseBody(text: string, contentType: string | undefined): unknown[] {
  const ndjson = contentType !== undefined && contentType.includes('ndjson');
  if (!ndjson) {
    try {
      return eventsOf(JSON.parse(text) as Json);
    } catch (error) {
      if (!text.includes('\n')) throw error;
    }
  }
  const events: unknown[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() !== '') events.push(JSON.parse(line) as Json);
  }
  return events;
}

interface Waiter {
  readonly n: number;
  readonly resolve: (at: number) => void;
}

/**
 * The benchmark's receiving end: a `node:http` server on 127.0.0.1 that accepts POSTs on any path,
 * decodes the bodies every client under test sends (JSON arrays and envelopes, NDJSON, gzip, OTLP/HTTP
 * JSON logs, posthog's and segment's batch bodies), and counts events, distinct ids, duplicates and
 * bytes. It can fail on purpose (503s, connection resets) and go down and come back on the same port.
 */
export class Sink {
  readonly #server: http.Server;
  readonly #sockets = new Set<Socket>();
  #port = 0;
  #listening = false;
  #ids = new IdSet();
  #waiters: Waiter[] = [];
  #faults: Required<SinkFaults> = { failRate: 0, resetRate: 0, hangRate: 0, hangMs: 5_000, seed: 1 };
  /** Hung requests waiting for their answer: their timers, and the request to close on reset. */
  readonly #hanging = new Map<NodeJS.Timeout, http.IncomingMessage>();
  #random: () => number = mulberry32(1);
  #lastNewAt = 0;
  #counts = {
    requests: 0,
    accepted: 0,
    failed: 0,
    resets: 0,
    hung: 0,
    abandoned: 0,
    malformed: 0,
    events: 0,
    withId: 0,
    wireBytes: 0,
    bodyBytes: 0,
    gzipped: 0,
  };

  constructor() {
    this.#server = http.createServer({ keepAliveTimeout: 30_000 }, (request, response) => this.#onRequest(request, response));
    this.#server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    // Clients that reset or abort mid-request must not take the sink down.
    this.#server.on('clientError', (_error, socket: Socket) => socket.destroy());
  }

  /** Starts listening on 127.0.0.1 (a free port the first time, the same port after {@link stop}). */
  async start(): Promise<void> {
    if (this.#listening) return;
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.#port, '127.0.0.1', () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    this.#port = (this.#server.address() as AddressInfo).port;
    this.#listening = true;
  }

  /** Goes down: stops accepting connections and destroys the open ones (clients then see ECONNREFUSED). */
  async stop(): Promise<void> {
    if (!this.#listening) return;
    this.#listening = false;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }

  /** True while the sink accepts connections. */
  get up(): boolean {
    return this.#listening;
  }

  /** Base URL, e.g. `http://127.0.0.1:40123` (valid once started; it keeps its port across stop/start). */
  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /**
   * Forgets everything counted and sets the faults for what comes next. Pending waiters are dropped;
   * requests still hanging are closed unanswered (they belong to what came before).
   */
  reset(faults: SinkFaults = {}): void {
    this.#faults = { failRate: faults.failRate ?? 0, resetRate: faults.resetRate ?? 0, hangRate: faults.hangRate ?? 0, hangMs: faults.hangMs ?? 5_000, seed: faults.seed ?? 1 };
    this.#random = mulberry32(this.#faults.seed);
    for (const [timer, request] of this.#hanging) {
      clearTimeout(timer);
      request.socket.destroy();
    }
    this.#hanging.clear();
    this.#ids = new IdSet();
    this.#waiters = [];
    this.#lastNewAt = 0;
    const counts = this.#counts;
    for (const key of Object.keys(counts) as (keyof typeof counts)[]) counts[key] = 0;
  }

  /** Changes the faults without forgetting the counts. */
  setFaults(faults: SinkFaults): void {
    this.#faults = {
      failRate: faults.failRate ?? 0,
      resetRate: faults.resetRate ?? 0,
      hangRate: faults.hangRate ?? 0,
      hangMs: faults.hangMs ?? this.#faults.hangMs,
      seed: faults.seed ?? this.#faults.seed,
    };
  }

  /** The counts since the last reset. */
  counts(): SinkCounts {
    return { ...this.#counts, distinct: this.#ids.size, duplicates: this.#counts.withId - this.#ids.size };
  }

  /** True when the id was received. */
  has(id: string): boolean {
    return this.#ids.has(id);
  }

  /** `performance.now()` of the last time a new id arrived (0 before any). */
  get lastNewAt(): number {
    return this.#lastNewAt;
  }

  /** Resolves with `performance.now()` at the moment the n-th distinct id arrives (at once if it has). */
  whenDistinct(n: number): Promise<number> {
    if (this.#ids.size >= n) return Promise.resolve(this.#lastNewAt || performance.now());
    return new Promise((resolve) => this.#waiters.push({ n, resolve }));
  }

  #onRequest(request: http.IncomingMessage, response: http.ServerResponse): void {
    const counts = this.#counts;
    counts.requests++;
    const draw = this.#random();
    if (draw < this.#faults.resetRate) {
      counts.resets++;
      request.socket.destroy();
      return;
    }
    const fail = draw < this.#faults.resetRate + this.#faults.failRate;
    const hang = !fail && draw < this.#faults.resetRate + this.#faults.failRate + this.#faults.hangRate;
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.byteLength;
    });
    request.on('error', () => undefined);
    request.on('end', () => {
      counts.wireBytes += size;
      if (request.method !== 'POST') {
        response.writeHead(405).end();
        return;
      }
      if (fail) {
        counts.failed++;
        response.writeHead(503, { 'content-type': 'application/json' }).end('{"error":"unavailable (on purpose)"}');
        return;
      }
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
      if (hang) {
        counts.hung++;
        const timer = setTimeout(() => {
          this.#hanging.delete(timer);
          if (request.socket.destroyed) counts.abandoned++;
          else this.#decode(body, request, response);
        }, this.#faults.hangMs);
        this.#hanging.set(timer, request);
        return;
      }
      this.#decode(body, request, response);
    });
  }

  /** Decodes (gunzip when compressed) and accepts a body. */
  #decode(body: Buffer, request: http.IncomingMessage, response: http.ServerResponse): void {
    if (request.headers['content-encoding'] !== 'gzip') {
      this.#accept(body, request.headers['content-type'], response);
      return;
    }
    gunzip(body, (error, decoded) => {
      if (error) this.#malformed(response);
      else {
        this.#counts.gzipped++;
        this.#accept(decoded, request.headers['content-type'], response);
      }
    });
  }

  #malformed(response: http.ServerResponse): void {
    this.#counts.malformed++;
    response.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"malformed body"}');
  }

  #accept(body: Buffer, contentType: string | undefined, response: http.ServerResponse): void {
    let events: unknown[];
    try {
      events = parseBody(body.toString('utf8'), contentType);
    } catch {
      this.#malformed(response);
      return;
    }
    const counts = this.#counts;
    counts.accepted++;
    counts.bodyBytes += body.byteLength;
    counts.events += events.length;
    const ids = this.#ids;
    const before = ids.size;
    for (const event of events) {
      const id = idOf(event);
      if (id === undefined) continue;
      counts.withId++;
      ids.add(id);
    }
    if (ids.size > before) {
      this.#lastNewAt = performance.now();
      if (this.#waiters.length > 0) this.#wake();
    }
    response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  }

  #wake(): void {
    const size = this.#ids.size;
    const still: Waiter[] = [];
    for (const waiter of this.#waiters) {
      if (size >= waiter.n) waiter.resolve(this.#lastNewAt);
      else still.push(waiter);
    }
    this.#waiters = still;
  }
}
