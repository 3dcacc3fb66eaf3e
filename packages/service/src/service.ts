import { type Collector, type CollectorStats, type FlushReport, TrackpipeError, describeError } from '@trackpipe/core';
import { metricsHandler } from '@trackpipe/core/metrics';
import { Registry } from 'prom-client';
import { ApiKeyAuth } from './auth.js';
import { ByteBudget } from './budget.js';
import { type Listener, describeExposure, isLoopback, unauthenticatedExposure } from './exposure.js';
import { type IdempotencyStore, MemoryIdempotencyStore, type MemoryIdempotencyStoreOptions } from './idempotency.js';
import { type GrpcServerOptions, grpcSettings, maxMessageBytesOf } from './grpc-options.js';
import type { GrpcIngestServer, GrpcServerParts } from './grpc-server.js';
import { HttpIngestServer, type HttpServerOptions, maxBodyBytesOf } from './http-server.js';
import { Ingestor } from './ingest.js';
import { type ServiceLogger, silentServiceLogger } from './logger.js';
import { durationOption, integerOption } from './options.js';
import { instrumentReceivers } from './receiver-metrics.js';
import type { Receiver, ReceiverStopReport } from './receiving.js';
import { type PromRegistry, ServiceMetrics } from './service-metrics.js';
import { type IngestEvent, type ValidationLimits, resolveLimits } from './validate.js';

/**
 * Options of a {@link TrackpipeService}. Only `collector` is required; defaults follow each field.
 * Each is checked with the bounds the configuration's `service` section has (durations at most
 * 2 147 483 647 ms: a longer Node.js timer fires at once); a bad one throws
 * TRACKPIPE_ERR_OPTIONS_INVALID naming its path, e.g. `http.keepAliveTimeoutMs`.
 */
export interface TrackpipeServiceOptions {
  /**
   * Where accepted events are recorded; its `headroom()` decides admission and its `persisted()`
   * when a request is answered. The service closes it on shutdown. Required.
   */
  collector: Collector<IngestEvent>;
  /**
   * Receivers: sources read besides HTTP and gRPC (a Kafka consumer group, ...), each already given
   * the pipelines it feeds. Started after the listeners; stopped (drained, committed) on shutdown,
   * before the collector closes. Default none.
   */
  receivers?: readonly Receiver[];
  /** Registry for the service's own metrics, served at `GET /metrics`. Default: a fresh prom-client `Registry`. */
  registry?: PromRegistry;
  /** Serve `GET /metrics` on the HTTP port. Default true. */
  metricsEndpoint?: boolean;
  /** Structured logger. Default: silent. */
  logger?: ServiceLogger;
  /** HTTP ingest, or `false` for none. Default: on, 127.0.0.1:8080. */
  http?: HttpServerOptions | false;
  /** gRPC ingest, or `false` for none; `@grpc/grpc-js` is loaded when {@link TrackpipeService.start} starts it. Default: on, 127.0.0.1:50051. */
  grpc?: GrpcServerOptions | false;
  /**
   * Most request bytes read at once over all HTTP and gRPC requests together (a load shedder's bound:
   * N slow or simultaneous clients cannot make the service hold N × the largest request). An HTTP body
   * reserves its `Content-Length` (`http.maxBodyBytes` when chunked) before it is read, a gRPC message
   * its length when its 5-byte prefix arrives, and a compressed one `maxBodyBytes` / `maxMessageBytes`
   * more for its decompressed copy; a request that does not fit is answered at once 503 `overloaded`
   * (HTTP) or RESOURCE_EXHAUSTED (gRPC), both with a retry-after of 1 s. Given back once the request is
   * parsed and queued. At least `http.maxBodyBytes` and `grpc.maxMessageBytes` (of the transports on).
   * Default 16 × the larger of the two (64 MiB with their defaults).
   */
  maxInFlightBytes?: number;
  /** API keys: when any is given, every ingest request must present one. Default none (no auth). */
  apiKeys?: readonly string[];
  /**
   * Allow ingest on a non-loopback host (reachable from other machines) without API keys. Default
   * false: the constructor throws TRACKPIPE_ERR_OPTIONS_INVALID naming the address instead.
   */
  allowUnauthenticated?: boolean;
  /** Share of each queue's capacity that accepted events may fill, in (0, 1]; past it, requests are refused. Default 1. */
  highWaterMark?: number;
  /**
   * Every pipeline keeps its queues on disk: a request is acknowledged only once its events are
   * committed, and answered 503 (`storage_unavailable`) when the commit fails. `createService` sets it
   * when every pipeline has a `spool` section. Default false.
   */
  durable?: boolean;
  /** Seconds a refused client is told to wait (`Retry-After`), an integer from 0 to 3 600 (an hour). Default 1. */
  retryAfterSeconds?: number;
  /** Backpressure changes are logged at most once per this many ms, with counts since the last line. Default 5 000. */
  backpressureLogIntervalMs?: number;
  /** Validation limits. Default: see `ValidationLimits`. */
  limits?: ValidationLimits;
  /**
   * Where the answers to HTTP requests with an `Idempotency-Key` are remembered: a store, or the
   * options of the default in-memory one. Default: a `MemoryIdempotencyStore` (10 000 keys, 10 minutes, 32 MiB).
   */
  idempotency?: IdempotencyStore | MemoryIdempotencyStoreOptions;
  /** Deadline of {@link TrackpipeService.shutdown}, in ms: listeners close and the collector flushes within it. Default 10 000. */
  shutdownTimeoutMs?: number;
}

/** Where a started service listens. */
export interface ServiceAddresses {
  /** The HTTP address, e.g. `http://127.0.0.1:8080`; absent when HTTP is off. */
  readonly http: { readonly host: string; readonly port: number; readonly url: string } | undefined;
  /** The gRPC address, e.g. `127.0.0.1:50051`; absent when gRPC is off. */
  readonly grpc: { readonly host: string; readonly port: number; readonly address: string } | undefined;
}

/** What {@link TrackpipeService.shutdown} answers. */
export interface ShutdownReport {
  /** The collector's close report: `complete` is true when everything accepted was settled. */
  readonly report: FlushReport;
  /** The collector's figures after closing. */
  readonly stats: CollectorStats;
  /** Events the service accepted in its life. */
  readonly accepted: number;
  /** How long the shutdown took, in ms. */
  readonly durationMs: number;
  /** How each receiver stopped: drained and committed, or not (what it did not commit is read again). */
  readonly receivers: readonly ({ readonly name: string } & ReceiverStopReport)[];
  /**
   * True when every accepted event was exported: nothing was dropped since the start — for any
   * reason, before the shutdown or during it (`stats.dropped`) — and nothing was left (`report.complete`).
   * `trackpipe serve` exits 0 only then.
   */
  readonly clean: boolean;
}

/**
 * The runnable collector service: HTTP and gRPC ingest in front of a collector, health endpoints,
 * `/metrics`, and a graceful shutdown that stops accepting, drains, flushes every exporter and
 * reports what was delivered. Handlers only validate and queue; they never wait for an exporter.
 */
export class TrackpipeService {
  /** The registry `/metrics` serves. */
  readonly registry: PromRegistry;
  readonly #collector: Collector<IngestEvent>;
  readonly #ingestor: Ingestor;
  readonly #idempotency: IdempotencyStore;
  readonly #logger: ServiceLogger;
  readonly #http: HttpIngestServer | undefined;
  readonly #grpc: LazyGrpcServer | undefined;
  readonly #shutdownTimeoutMs: number;
  readonly #receivers: readonly Receiver[];
  readonly #budget: ByteBudget;
  /** Listeners reachable from other hosts without authentication (allowed explicitly), for a warning at start. */
  readonly #openTo: readonly string[];
  #state: 'new' | 'starting' | 'ready' | 'draining' | 'stopped' = 'new';
  #addresses: ServiceAddresses = { http: undefined, grpc: undefined };
  #shutdown: Promise<ShutdownReport> | undefined;

  constructor(options: TrackpipeServiceOptions) {
    const auth = new ApiKeyAuth(options.apiKeys ?? []);
    const listeners: Listener[] = [];
    if (options.http !== false) listeners.push({ name: 'HTTP', option: 'http.host', host: options.http?.host ?? '127.0.0.1' });
    if (options.grpc !== false) listeners.push({ name: 'gRPC', option: 'grpc.host', host: options.grpc?.host ?? '127.0.0.1' });
    const exposed = unauthenticatedExposure(listeners, { enabled: auth.enabled, allowUnauthenticated: options.allowUnauthenticated === true });
    if (exposed.length > 0) {
      throw new TrackpipeError('TRACKPIPE_ERR_OPTIONS_INVALID', describeExposure(exposed), {
        details: { option: 'allowUnauthenticated', hosts: exposed.map((l) => l.host) },
      });
    }
    this.#openTo = auth.enabled ? [] : listeners.filter((l) => !isLoopback(l.host)).map((l) => `${l.name} ${l.host}`);
    this.#collector = options.collector;
    this.#logger = options.logger ?? silentServiceLogger;
    this.#shutdownTimeoutMs = durationOption('shutdownTimeoutMs', options.shutdownTimeoutMs, 10_000, 0);
    this.registry = options.registry ?? new Registry();
    this.#receivers = [...(options.receivers ?? [])];
    if (this.#receivers.length > 0) instrumentReceivers(this.registry, this.#receivers);
    const idempotency = isStore(options.idempotency) ? options.idempotency : new MemoryIdempotencyStore(options.idempotency);
    this.#idempotency = idempotency;
    const metrics = new ServiceMetrics(this.registry, {
      ready: () => this.ready,
      draining: () => this.draining,
      idempotencyKeys: () => idempotency.size,
      requestBytesInFlight: () => this.#budget.used,
    });
    this.#ingestor = new Ingestor(options.collector, {
      ...(options.highWaterMark === undefined ? {} : { highWaterMark: options.highWaterMark }),
      durable: options.durable === true,
      ...(options.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: options.retryAfterSeconds }),
      logIntervalMs: durationOption('backpressureLogIntervalMs', options.backpressureLogIntervalMs, 5_000, 0),
      logger: this.#logger,
    });
    this.#budget = budgetOf(options);
    const parts = {
      budget: this.#budget,
      ingestor: this.#ingestor,
      auth,
      limits: resolveLimits(options.limits),
      logger: this.#logger,
      metrics,
    };
    if (options.http !== false) {
      this.#http = new HttpIngestServer(
        {
          ...parts,
          idempotency,
          metricsHandler: options.metricsEndpoint === false ? undefined : metricsHandler(this.registry),
          ready: () => this.ready,
        },
        options.http ?? {},
      );
    }
    if (options.grpc !== false) this.#grpc = new LazyGrpcServer(parts, options.grpc ?? {});
  }

  /** True while the service accepts events (started, not draining). */
  get ready(): boolean {
    return this.#state === 'ready';
  }

  /** True once a shutdown has begun. */
  get draining(): boolean {
    return this.#state === 'draining' || this.#state === 'stopped';
  }

  /** Where the service listens (after {@link start}). */
  get addresses(): ServiceAddresses {
    return this.#addresses;
  }

  /** Events accepted (queued) so far. */
  get accepted(): number {
    return this.#ingestor.accepted;
  }

  /** Request bytes reserved now of `maxInFlightBytes` by HTTP bodies and gRPC messages being read, decoded or parsed; 0 when none is. */
  get inFlightBytes(): number {
    return this.#budget.used;
  }

  /** The collector's figures. */
  stats(): CollectorStats {
    return this.#collector.stats();
  }

  /** The receivers, as given. */
  get receivers(): readonly Receiver[] {
    return this.#receivers;
  }

  /**
   * Starts the listeners, then the receivers; resolves once all run. On failure, stops what started
   * and rethrows.
   */
  async start(): Promise<ServiceAddresses> {
    if (this.#state !== 'new') throw new Error('TrackpipeService.start() can be called once');
    this.#state = 'starting';
    try {
      // Both settle before a failure is thrown: a listener still binding when the other failed would
      // otherwise bind after the clean-up below, and keep listening (and the process alive).
      const [http, grpc] = await Promise.allSettled([this.#http?.listen(), this.#grpc?.listen()]);
      if (http.status === 'rejected') throw http.reason;
      if (grpc.status === 'rejected') throw grpc.reason;
      this.#addresses = { http: http.value, grpc: grpc.value };
      await Promise.all(this.#receivers.map((r) => r.start()));
    } catch (error) {
      this.#state = 'stopped';
      this.#ingestor.startDraining();
      await Promise.allSettled([this.#http?.stop(0), this.#grpc?.stop(0), ...this.#receivers.map((r) => r.stop({ timeoutMs: 2_000 }))]);
      throw error;
    }
    if (this.#shutdown === undefined) this.#state = 'ready';
    this.#logger.info('listening', {
      http: this.#addresses.http?.url,
      grpc: this.#addresses.grpc?.address,
      metrics: this.#addresses.http === undefined ? undefined : `${this.#addresses.http.url}/metrics`,
      ...(this.#receivers.length === 0 ? {} : { receivers: this.#receivers.map((r) => r.name) }),
    });
    if (this.#openTo.length > 0) {
      this.#logger.warn('accepting events without authentication on a non-loopback address (allowUnauthenticated)', { listeners: this.#openTo });
    }
    return this.#addresses;
  }

  /**
   * Graceful shutdown, within `timeoutMs` (default `shutdownTimeoutMs`): marks the service not
   * ready and refuses new requests (503 / UNAVAILABLE), closes the listeners and stops the receivers
   * (each stops fetching, drains what it handed over, commits, leaves its group), then closes the
   * collector, which flushes every exporter. Idempotent: later calls answer the same report.
   * A `timeoutMs` that is not an integer from 0 to 2 147 483 647 is refused (a rejected promise,
   * TRACKPIPE_ERR_OPTIONS_INVALID naming `timeoutMs`) and nothing stops.
   */
  async shutdown(options: { timeoutMs?: number } = {}): Promise<ShutdownReport> {
    // Checked as shutdownTimeoutMs is (a longer timer would fire at once and cut the drain); a bad one rejects, and nothing stops.
    this.#shutdown ??= this.#stop(durationOption('timeoutMs', options.timeoutMs, this.#shutdownTimeoutMs, 0));
    return this.#shutdown;
  }

  /** Releases the idempotency store's files (no request can reach it any more). Never throws. */
  async #closeIdempotency(): Promise<void> {
    try {
      await this.#idempotency.close?.();
    } catch (error) {
      this.#logger.warn('closing the idempotency store failed', { error: describeError(error) });
    }
  }

  async #stop(timeoutMs: number): Promise<ShutdownReport> {
    const started = Date.now();
    this.#state = 'draining';
    this.#ingestor.startDraining();
    this.#logger.info('draining: refusing new requests, closing listeners', { timeoutMs });
    // Requests never wait for exporters, so the listeners close quickly; keep most of the time for the flush.
    // Receivers drain what they handed over (that flush is most of the pipelines' work) and commit it,
    // within the deadline minus a little for closing the collector.
    const listenerBudget = Math.min(5_000, timeoutMs / 2);
    const receiverBudget = Math.max(0, timeoutMs - Math.min(1_000, timeoutMs / 10));
    const [, , receivers] = await Promise.all([
      this.#http?.stop(listenerBudget),
      this.#grpc?.stop(listenerBudget),
      Promise.all(this.#receivers.map((r) => stopOne(r, receiverBudget, this.#logger))),
    ]);
    const remaining = Math.max(0, timeoutMs - (Date.now() - started));
    let report: FlushReport;
    try {
      report = await this.#collector.close({ timeoutMs: remaining });
      await this.#closeIdempotency();
    } catch (error) {
      await this.#closeIdempotency();
      this.#logger.error('closing the collector failed', { error: describeError(error) });
      const stats = this.#collector.stats();
      report = { complete: false, exported: 0, dropped: 0, droppedByReason: {}, remaining: stats.queued + stats.inFlight };
    }
    this.#state = 'stopped';
    const stats = this.#collector.stats();
    // Every drop since the start counts, not only those of the close: an exporter that rejected
    // events an hour ago lost them as surely as a shutdown deadline does.
    const clean = report.complete && stats.dropped === 0;
    const result: ShutdownReport = { report, stats, accepted: this.#ingestor.accepted, durationMs: Date.now() - started, clean, receivers };
    const fields = {
      accepted: result.accepted,
      exported: stats.exported,
      dropped: stats.dropped,
      droppedByReason: nonZero(stats.droppedByReason),
      remaining: report.remaining,
      complete: report.complete,
      durationMs: result.durationMs,
      ...(receivers.length === 0 ? {} : { receivers }),
    };
    if (clean) this.#logger.info('stopped: every accepted event was flushed', fields);
    else this.#logger.warn('stopped: some events were not delivered (dropped counts every drop since the start, by reason)', fields);
    return result;
  }
}

/**
 * The gRPC listener, whose module (`@grpc/grpc-js`, `@grpc/proto-loader`: most of a start-up's
 * loading) is imported when it starts listening: a service with gRPC off, or one never started,
 * never loads it. Its options are checked at once, as the server's constructor checks them.
 */
class LazyGrpcServer {
  readonly #parts: GrpcServerParts;
  readonly #options: GrpcServerOptions;
  #server: Promise<GrpcIngestServer> | undefined;
  #stopped = false;

  constructor(parts: GrpcServerParts, options: GrpcServerOptions) {
    grpcSettings(options);
    this.#parts = parts;
    this.#options = options;
  }

  /** Loads the server and starts listening; rejects, binding nothing, when stop() came first (a shutdown during start). */
  async listen(): Promise<{ host: string; port: number; address: string }> {
    // Set before the first await: a stop() called from here on waits for this server.
    this.#server ??= import('./grpc-server.js').then(({ GrpcIngestServer }) => new GrpcIngestServer(this.#parts, this.#options));
    const server = await this.#server;
    if (this.#stopped) throw new Error('gRPC ingest did not start: the service is shutting down');
    return server.listen();
  }

  /** Stops the server, if listen() made one. Idempotent. */
  async stop(timeoutMs: number): Promise<void> {
    this.#stopped = true;
    if (this.#server === undefined) return;
    // A server that could not be made (its listen() failed with that) has nothing to stop.
    const server = await this.#server.catch(() => undefined);
    await server?.stop(timeoutMs);
  }
}

/** Names a receiver's stop report; a receiver that throws is reported as neither drained nor committed. */
async function stopOne(receiver: Receiver, timeoutMs: number, logger: ServiceLogger): Promise<{ name: string } & ReceiverStopReport> {
  const started = Date.now();
  try {
    return { name: receiver.name, ...(await receiver.stop({ timeoutMs })) };
  } catch (error) {
    logger.error('stopping a receiver failed', { receiver: receiver.name, error: describeError(error) });
    return { name: receiver.name, drained: false, committed: false, durationMs: Date.now() - started };
  }
}

/**
 * The budget of request bytes in flight: `maxInFlightBytes`, default 16 × the largest request an
 * enabled transport takes; TRACKPIPE_ERR_OPTIONS_INVALID naming it when it is no integer >= 1 or
 * is below twice that largest request: a compressed request reserves its own bytes and the largest
 * request's for its decompressed copy, so below that one of the largest size could never be read.
 */
function budgetOf(options: TrackpipeServiceOptions): ByteBudget {
  const largest: { option: string; bytes: number }[] = [];
  if (options.http !== false) largest.push({ option: 'http.maxBodyBytes', bytes: maxBodyBytesOf(options.http ?? {}) });
  if (options.grpc !== false) largest.push({ option: 'grpc.maxMessageBytes', bytes: maxMessageBytesOf(options.grpc ?? {}) });
  const max = integerOption('maxInFlightBytes', options.maxInFlightBytes, 16 * Math.max(1, ...largest.map((l) => l.bytes)), 1);
  for (const { option, bytes } of largest) {
    if (max < 2 * bytes) {
      throw new TrackpipeError(
        'TRACKPIPE_ERR_OPTIONS_INVALID',
        `maxInFlightBytes (${max}) must be >= 2 × ${option} (${bytes}), or no compressed request of the largest size could ever be read (it reserves its bytes and room for its decompressed copy)`,
        { details: { option: 'maxInFlightBytes' } },
      );
    }
  }
  return new ByteBudget(max);
}

function isStore(value: IdempotencyStore | MemoryIdempotencyStoreOptions | undefined): value is IdempotencyStore {
  return typeof (value as { get?: unknown } | undefined)?.get === 'function';
}

function nonZero(counts: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, value] of Object.entries(counts)) if (value > 0) out[key] = value;
  return out;
}
