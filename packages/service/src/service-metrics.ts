import { Counter, Gauge, type OpenMetricsContentType, type PrometheusContentType, type Registry } from 'prom-client';
import type { RefusedReason } from './ingest.js';

/** A prom-client registry of either exposition format. */
export type PromRegistry = Registry<PrometheusContentType> | Registry<OpenMetricsContentType>;

/** How a request reached the service. */
export type Transport = 'http' | 'grpc';

/** What became of a request with an `Idempotency-Key`: queued (`first`), answered from memory (`replayed`), or refused for another body (`conflict`). */
export type IdempotencyOutcome = 'first' | 'replayed' | 'conflict';

/** The service's own metrics, by name. Labels are bounded: transport, route (a fixed set), status, reason. */
export const SERVICE_METRICS = {
  requests: 'trackpipe_service_requests_total',
  accepted: 'trackpipe_service_events_accepted_total',
  refused: 'trackpipe_service_events_refused_total',
  ready: 'trackpipe_service_ready',
  draining: 'trackpipe_service_draining',
  decoded: 'trackpipe_service_decoded_bytes_total',
  idempotent: 'trackpipe_service_idempotent_requests_total',
  idempotencyKeys: 'trackpipe_service_idempotency_keys',
  requestBytesInFlight: 'trackpipe_service_request_bytes_in_flight',
} as const;

/** The routes the request counter knows; anything else is counted as `other`. */
export const HTTP_ROUTES = ['/v1/track', '/v1/batch', '/v1/identify', '/healthz', '/readyz', '/metrics'] as const;

/** The service's own counters in a prom-client registry: requests by route and status, events accepted and refused. */
export class ServiceMetrics {
  readonly #requests: Counter<'transport' | 'route' | 'status'>;
  readonly #accepted: Counter<'transport'>;
  readonly #refused: Counter<'transport' | 'reason'>;
  readonly #decoded: Counter<'transport'>;
  readonly #idempotent: Counter<'transport' | 'outcome'>;

  /**
   * @param registry where the metrics go (the same one as the pipelines' self-metrics, so `/metrics` serves both).
   * @param state read at scrape time for the `ready`, `draining`, idempotency-keys and request-bytes gauges.
   */
  constructor(registry: PromRegistry, state: { ready(): boolean; draining(): boolean; idempotencyKeys(): number; requestBytesInFlight(): number }) {
    const registers = [registry];
    this.#requests = new Counter({
      name: SERVICE_METRICS.requests,
      help: 'Requests answered, by transport, route (HTTP path or gRPC method) and status (HTTP code or gRPC status name).',
      labelNames: ['transport', 'route', 'status'],
      registers,
    });
    this.#accepted = new Counter({
      name: SERVICE_METRICS.accepted,
      help: 'Events accepted (validated and queued), by transport.',
      labelNames: ['transport'],
      registers,
    });
    this.#refused = new Counter({
      name: SERVICE_METRICS.refused,
      help: 'Valid events refused, by transport and reason (too_large, overloaded, draining, storage: a spool could not commit). Invalid and unauthenticated requests are counted by trackpipe_service_requests_total.',
      labelNames: ['transport', 'reason'],
      registers,
    });
    this.#decoded = new Counter({
      name: SERVICE_METRICS.decoded,
      help: 'Request bytes decoded (gRPC messages; HTTP bodies after gzip), by transport. Requests without a valid API key are refused before decoding and add nothing.',
      labelNames: ['transport'],
      registers,
    });
    this.#idempotent = new Counter({
      name: SERVICE_METRICS.idempotent,
      help: 'Accepted-or-repeated requests carrying an Idempotency-Key, by transport and outcome: first (queued), replayed (a repeat answered with the original acknowledgement, queueing nothing), conflict (the key came with another body: 422).',
      labelNames: ['transport', 'outcome'],
      registers,
    });
    new Gauge({
      name: SERVICE_METRICS.idempotencyKeys,
      help: 'Idempotency keys remembered now.',
      registers,
      collect() {
        this.set(state.idempotencyKeys());
      },
    });
    new Gauge({
      name: SERVICE_METRICS.requestBytesInFlight,
      help: 'Request bytes reserved now by HTTP bodies and gRPC messages being read, decoded or parsed; at maxInFlightBytes, further requests are answered 503 overloaded (gRPC RESOURCE_EXHAUSTED).',
      registers,
      collect() {
        this.set(state.requestBytesInFlight());
      },
    });
    new Gauge({
      name: SERVICE_METRICS.ready,
      help: '1 while the service accepts events, 0 while it starts or drains.',
      registers,
      collect() {
        this.set(state.ready() ? 1 : 0);
      },
    });
    new Gauge({
      name: SERVICE_METRICS.draining,
      help: '1 once a shutdown has begun.',
      registers,
      collect() {
        this.set(state.draining() ? 1 : 0);
      },
    });
  }

  /** Counts one answered request. `route` must come from a fixed set (see {@link HTTP_ROUTES}, gRPC method names). */
  request(transport: Transport, route: string, status: string | number): void {
    this.#requests.inc({ transport, route, status: String(status) });
  }

  /** Counts accepted events. */
  accepted(transport: Transport, events: number): void {
    if (events > 0) this.#accepted.inc({ transport }, events);
  }

  /** Counts request bytes about to be decoded (parsed as JSON or protobuf). */
  decoded(transport: Transport, bytes: number): void {
    this.#decoded.inc({ transport }, bytes);
  }

  /** Counts a request carrying an idempotency key by outcome. */
  idempotent(transport: Transport, outcome: IdempotencyOutcome): void {
    this.#idempotent.inc({ transport, outcome });
  }

  /** Counts refused events. */
  refused(transport: Transport, reason: RefusedReason, events: number): void {
    if (events > 0) this.#refused.inc({ transport, reason }, events);
  }
}
