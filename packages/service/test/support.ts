import { request } from 'node:http';
import { promisify } from 'node:util';
import { type Client, Metadata, type ServiceError, credentials } from '@grpc/grpc-js';
import { MemoryExporter } from '@trackpipe/collector-memory';
import { BatchProcessor, type BatchProcessorOptions, type ExportFunction, type Exporter, FunctionExporter, type Recorded, silentLogger } from '@trackpipe/core';
import { afterEach } from 'vitest';
import { type IngestEvent, TrackpipeService, type TrackpipeServiceOptions, loadAnalyticsService } from '../src/index.js';

type Event = Recorded<IngestEvent>;

/** A service on free ports in front of one BatchProcessor (a MemoryExporter unless another exporter is given). */
export async function startService(
  options: Partial<TrackpipeServiceOptions> & { exporter?: Exporter<Event>; processor?: BatchProcessorOptions } = {},
): Promise<{
  service: TrackpipeService;
  processor: BatchProcessor<IngestEvent>;
  memory: MemoryExporter<Event>;
  url: string;
  grpcAddress: string;
}> {
  const memory = new MemoryExporter<Event>();
  const processor = new BatchProcessor<IngestEvent>(options.exporter ?? memory, {
    flushIntervalMs: 20,
    logger: silentLogger,
    ...options.processor,
  });
  const { exporter: _e, processor: _p, ...rest } = options;
  const service = new TrackpipeService({
    collector: processor,
    http: { port: 0 },
    grpc: { port: 0 },
    ...rest,
  });
  const addresses = await service.start();
  return { service, processor, memory, url: addresses.http?.url ?? '', grpcAddress: addresses.grpc?.address ?? '' };
}

/**
 * The services of one test file, shut down after each test: `start(options)` starts one with
 * {@link startService} (gRPC off unless the options turn it on); `adopt(service)` takes one made otherwise.
 */
export function servicesPerTest(shutdownMs = 5_000): {
  start(options?: Parameters<typeof startService>[0]): ReturnType<typeof startService>;
  adopt(service: TrackpipeService): void;
} {
  const running: TrackpipeService[] = [];
  afterEach(async () => {
    for (const service of running.splice(0)) await service.shutdown({ timeoutMs: shutdownMs });
  });
  return {
    async start(options = {}) {
      const started = await startService({ grpc: false, ...options });
      running.push(started.service);
      return started;
    },
    adopt: (service) => void running.push(service),
  };
}

/**
 * POSTs to `endpoint` without a Content-Length (chunked): `chunks` chunks of `chunkSize` spaces, or
 * `json` written before the end (end(data) alone would send a Content-Length); resolves with the status.
 */
export function postChunked(endpoint: string, body: string | { chunks: number; chunkSize: number }, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(endpoint, { method: 'POST', headers: { 'content-type': 'application/json', ...headers } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    // The server may cut the connection once it has answered; only the answer matters here.
    req.on('error', reject);
    if (typeof body === 'string') {
      req.write(body);
      req.end();
      return;
    }
    const chunk = Buffer.alloc(body.chunkSize, 0x20);
    let sent = 0;
    const pump = (): void => {
      while (sent < body.chunks) {
        sent++;
        if (!req.write(chunk)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

/** A slow destination: every export waits until the test opens the gate. */
export function gatedExporter(): { exporter: FunctionExporter<Event>; delivered: string[]; open(): void } {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const delivered: string[] = [];
  const exporter = new FunctionExporter<Event>(async (events) => {
    await gate;
    delivered.push(...events.map((e) => e.id));
  });
  return { exporter, delivered, open };
}

/**
 * The `functions` of a fan-out built from config (exporters of `type: function` with refs `fast` and
 * `slow`): `fast` keeps the ids of every batch at once; `slow` waits until the test calls `open()`.
 */
export function fastAndSlow(): { functions: { fast: ExportFunction<Event>; slow: ExportFunction<Event> }; fast: string[]; slow: string[]; open(): void } {
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const fast: string[] = [];
  const slow: string[] = [];
  const functions = {
    fast: (events: readonly Event[]) => void fast.push(...events.map((e) => e.id)),
    slow: async (events: readonly Event[]) => {
      await gate;
      slow.push(...events.map((e) => e.id));
    },
  };
  return { functions, fast, slow, open };
}

/** The JSON answers of the HTTP API, as the tests read them. */
export interface Answer {
  accepted?: number;
  ids?: string[];
  status?: string;
  error?: { code: string; message: string; issues?: { path: string; message: string }[] };
}

/** The responses of the gRPC methods. */
export interface GrpcResponse {
  id?: string;
  accepted?: number;
  ids?: string[];
}

/** POSTs JSON (or raw text/bytes) and answers status, headers and the parsed body. */
export async function post(
  url: string,
  body: unknown,
  options: { headers?: Record<string, string>; raw?: boolean } = {},
): Promise<{ status: number; headers: Headers; body: Answer }> {
  const payload = options.raw === true ? (body as string | Uint8Array) : JSON.stringify(body);
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...options.headers },
    body: payload,
  });
  const text = await response.text();
  let parsed: Answer = {};
  try {
    parsed = JSON.parse(text) as Answer;
  } catch {
    // Not JSON: an empty answer.
  }
  return { status: response.status, headers: response.headers, body: parsed };
}

/** Waits until `condition()` is true (polling), or fails after `timeoutMs`. */
export async function waitFor(condition: () => boolean, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A proto3 google.protobuf.Value from a JSON value. */
export function toValue(value: unknown): Record<string, unknown> {
  if (value === null) return { nullValue: 'NULL_VALUE' };
  if (typeof value === 'number') return { numberValue: value };
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (Array.isArray(value)) return { listValue: { values: value.map(toValue) } };
  return { structValue: toStruct(value as Record<string, unknown>) };
}

/** A proto3 google.protobuf.Struct from a JSON object. */
export function toStruct(object: Record<string, unknown>): Record<string, unknown> {
  return { fields: Object.fromEntries(Object.entries(object).map(([k, v]) => [k, toValue(v)])) };
}

/** A gRPC status answer: the code and details of a ServiceError, with the trailer. */
export interface GrpcFailure {
  code: number;
  details: string;
  metadata: Metadata;
}

type Unary = (request: unknown, metadata: Metadata, callback: (error: ServiceError | null, response: GrpcResponse) => void) => void;

/** A real @grpc/grpc-js client of analytics.v1.AnalyticsService with promise-returning calls. */
export function grpcClient(address: string): {
  client: Client;
  call(method: 'TrackEvent' | 'TrackBatch' | 'IdentifyUser', request: unknown, metadata?: Record<string, string>): Promise<GrpcResponse>;
  close(): void;
} {
  const Service = loadAnalyticsService();
  const client = new Service(address, credentials.createInsecure());
  return {
    client,
    call(method, request, metadata = {}) {
      const md = new Metadata();
      for (const [key, value] of Object.entries(metadata)) md.set(key, value);
      const fn = (client as unknown as Record<string, Unary>)[method]!.bind(client);
      return promisify((req: unknown, m: Metadata, cb: (error: ServiceError | null, response: GrpcResponse) => void) => fn(req, m, cb))(request, md);
    },
    close: () => client.close(),
  };
}

/** Runs a gRPC call expected to fail; answers its status. */
export async function grpcFailure(promise: Promise<unknown>): Promise<GrpcFailure> {
  try {
    await promise;
  } catch (error) {
    const e = error as ServiceError;
    return { code: e.code, details: e.details, metadata: e.metadata };
  }
  throw new Error('the call succeeded; a failure was expected');
}
