import { isIP } from 'node:net';
import { join } from 'node:path';
import {
  type ConfigIssue,
  type ConfigSource,
  type Environment,
  type TrackpipeConfig,
  configError,
  issuesFromZod,
  issuesOf,
  listenHostSchema,
  parseConfig,
  readConfigSource,
  safeErrorMap,
  substituteEnv,
} from '@trackpipe/core/config';
import { BATCH_OPTIONS } from '@trackpipe/core';
import { MAX_TIMER_MS } from '@trackpipe/core/internal';
import * as z from 'zod';
import { API_KEY_RULE, isPresentableKey } from './auth.js';
import { MAX_BODY_BYTES } from './http-server.js';
import { EXPOSURE_HINT, type Listener, unauthenticatedExposure } from './exposure.js';
import { MAX_RETRY_AFTER_SECONDS } from './ingest.js';
import { LOG_LEVELS, type LogLevel } from './logger.js';
import { MAX_DEPTH_LIMIT } from './validate.js';

const int = (min: number, max?: number) => {
  const rule = max === undefined ? `must be an integer >= ${min}` : `must be an integer from ${min} to ${max}`;
  const base = z.number({ error: rule }).int({ error: rule }).min(min, { error: rule });
  return max === undefined ? base : base.max(max, { error: rule });
};
/** A duration in ms: Node fires a longer timer at once (after 1 ms, with a TimeoutOverflowWarning). */
const ms = (min: number) => int(min, MAX_TIMER_MS);
/** An interface to listen on (core's rule, shared with `metrics.host`). */
const host = listenHostSchema;

const httpSchema = z.strictObject({
  /** Serve HTTP ingest. Default true. */
  enabled: z.boolean().default(true),
  /** Interface to listen on. Default "127.0.0.1". */
  host: host.default('127.0.0.1'),
  /** Port; 0 picks a free one. Default 8080. */
  port: int(0, 65_535).default(8080),
  /** Largest request body (as sent and decompressed), in bytes; at most the longest string Node.js can make (a body becomes one to be parsed). Default 4 MiB. */
  maxBodyBytes: int(1, MAX_BODY_BYTES).default(4 * 1024 * 1024),
  /** A request not fully received within this many ms is answered 408. Default 30 000. */
  requestTimeoutMs: ms(1).default(30_000),
  /** Headers not complete within this many ms (at most requestTimeoutMs) → 408. Default 10 000. */
  headersTimeoutMs: ms(1).default(10_000),
  /** Idle keep-alive connections close after this many ms; keep it above a load balancer's idle timeout. Default 65 000. */
  keepAliveTimeoutMs: ms(1).default(65_000),
});

const grpcSchema = z.strictObject({
  /** Serve gRPC ingest. Default true. */
  enabled: z.boolean().default(true),
  /** Interface to listen on. Default "127.0.0.1". */
  host: host.default('127.0.0.1'),
  /** Port; 0 picks a free one. Default 50051. */
  port: int(0, 65_535).default(50_051),
  /** Largest request message, in bytes. Default 4 MiB. */
  maxMessageBytes: int(1, 2_147_483_647).default(4 * 1024 * 1024),
  /** A call whose message is not in within this many ms is answered DEADLINE_EXCEEDED; also a closing connection's grace. Default 30 000. */
  requestTimeoutMs: ms(1).default(30_000),
  /** Every connection gets a GOAWAY after this many ms (±10 %) and is closed once its calls are done. Default 120 000. */
  maxConnectionAgeMs: int(1, 1_952_257_860).default(120_000),
  /** Calls (HTTP/2 streams) one connection may have open at once; the client queues the rest. Default 100. */
  maxConcurrentStreams: int(1, 4_294_967_295).default(100),
});

/** The `service` section of a configuration file: everything about the service around the pipelines. */
/** Hosts that listen on every interface: a port there is taken on all of them. */
const WILDCARDS = new Set(['0.0.0.0', '::']);

/** True when two listeners would bind one port: the same port (not 0: any free one) on one interface, or on the wildcard. */
function sharePort(a: { host: string; port: number | undefined }, b: { host: string; port: number | undefined }): boolean {
  if (a.port === undefined || a.port === 0 || a.port !== b.port) return false;
  const [x, y] = [interfaceOf(a.host), interfaceOf(b.host)];
  return x === y || WILDCARDS.has(x) || WILDCARDS.has(y);
}

/** A host as the interface it names, for comparing two: an IPv6 address in its shortest form (`0:0:0:0:0:0:0:1` is `::1`), anything else in lower case. */
function interfaceOf(host: string): string {
  if (isIP(host) === 6) {
    try {
      return new URL(`http://[${host}]`).hostname.slice(1, -1);
    } catch {
      // A zone (`fe80::1%eth0`) is no URL host: compared as written.
    }
  }
  return host.toLowerCase();
}

export const serviceSchema = z.strictObject({
  /** HTTP ingest. */
  http: httpSchema.prefault({}),
  /** gRPC ingest. */
  grpc: grpcSchema.prefault({}),
  /** Most request bytes read at once over all HTTP bodies and gRPC messages (at least the largest of each); past it, 503 overloaded / RESOURCE_EXHAUSTED. Default 16 × the larger of http.maxBodyBytes and grpc.maxMessageBytes (64 MiB). */
  maxInFlightBytes: int(1).optional(),
  /** API-key authentication: when keys are listed, every ingest request must present one. */
  auth: z
    .strictObject({
      /** Accepted keys; use `${env:NAME}` rather than writing them in the file. Default none (no auth). */
      apiKeys: z
        .array(z.string().refine(isPresentableKey, { error: (issue) => (issue.input === '' ? 'must not be empty' : API_KEY_RULE) }))
        .default([]),
      /**
       * Start even though no API key is set and an ingest listener is on a non-loopback host
       * (reachable from other machines). Default false: such a service refuses to start.
       */
      allowUnauthenticated: z.boolean().default(false),
    })
    .prefault({}),
  /** When to push back. */
  backpressure: z
    .strictObject({
      /** Share of each queue's capacity accepted events may fill, in (0, 1]. Default 1. */
      highWaterMark: z.number().gt(0).max(1).default(1),
      /** Seconds a refused client is told to wait (Retry-After), at most 3 600 (an hour). Default 1. */
      retryAfterSeconds: int(0, MAX_RETRY_AFTER_SECONDS).default(1),
      /** Backpressure changes are logged at most once per this many ms, with counts since the last line. Default 5 000. */
      logIntervalMs: ms(0).default(5_000),
    })
    .prefault({}),
  /** Requests carrying an `Idempotency-Key`: how many recent keys are remembered, and for how long. */
  idempotency: z
    .strictObject({
      /** Most keys remembered; the oldest go first. Default 10 000. */
      maxKeys: int(1).default(10_000),
      /** How long a key is remembered, in ms. Default 600 000 (10 minutes). */
      ttlMs: ms(1).default(600_000),
      /** Most bytes of remembered answers. Default 32 MiB. */
      maxBytes: int(1).default(32 * 1024 * 1024),
    })
    .prefault({}),
  /** Validation limits. */
  limits: z
    .strictObject({
      maxNameLength: int(1),
      maxIdLength: int(1),
      maxDepth: int(1, MAX_DEPTH_LIMIT),
      maxBatchEvents: int(1),
    })
    .partial()
    .prefault({}),
  /** Serve `GET /metrics` on the HTTP port. Default true. */
  metricsEndpoint: z.boolean().default(true),
  /** Shutdown deadline in ms: stop listening, drain, flush every exporter. Default 10 000. */
  shutdownTimeoutMs: ms(0).default(10_000),
  /** Least severe level logged. Default "info". */
  logLevel: z.enum(LOG_LEVELS as [LogLevel, ...LogLevel[]]).default('info'),
}).superRefine((service, ctx) => {
  const { http, grpc, maxInFlightBytes: inFlight } = service;
  // Only a valid value is compared (a bad one already has its issue): the largest request of each transport on must fit.
  if (inFlight !== undefined && Number.isInteger(inFlight) && inFlight >= 1) {
    // A compressed request reserves its bytes and room for its decompressed copy: twice the largest.
    if (http.enabled && inFlight < 2 * http.maxBodyBytes) {
      ctx.addIssue({ code: 'custom', path: ['maxInFlightBytes'], message: 'must be >= 2 × service.http.maxBodyBytes (a compressed body of the largest size and its decompressed copy must fit)' });
    }
    if (grpc.enabled && inFlight < 2 * grpc.maxMessageBytes) {
      ctx.addIssue({ code: 'custom', path: ['maxInFlightBytes'], message: 'must be >= 2 × service.grpc.maxMessageBytes (a compressed message of the largest size and its decompressed copy must fit)' });
    }
  }
  // Both on one port (and interface) cannot start: the second to bind would fail with EADDRINUSE.
  if (http.enabled && grpc.enabled && sharePort(http, grpc)) {
    ctx.addIssue({ code: 'custom', path: ['grpc', 'port'], message: 'must differ from service.http.port (both would listen on it)' });
  }
});

const RECEIVER_NAME_RULE = 'must be a name of 1 to 100 letters, digits, "_", ".", ":" or "-", starting with a letter, digit or "_"';
const receiverNameSchema = z.string({ error: (issue) => (issue.input === undefined ? 'is required' : RECEIVER_NAME_RULE) }).regex(/^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,99}$/, {
  error: RECEIVER_NAME_RULE,
});

/**
 * One entry of the `receivers` section: `type` picks the receiver factory (`kafka`), `name` labels
 * it (default: the type), `pipelines` names the pipelines it feeds (default: all); every other key is
 * the receiver's own option, which its factory validates.
 */
export const receiverEntrySchema = z.looseObject({
  type: z.string({ error: (issue) => (issue.input === undefined ? 'is required' : 'must be a string') }).min(1, { error: 'must not be empty' }),
  name: receiverNameSchema.optional(),
  pipelines: z.array(z.string().min(1)).min(1, { error: 'must name at least one pipeline (or leave it out: all of them)' }).optional(),
});

/** The `receivers` section: sources the service reads from besides its HTTP and gRPC ingest. Default none. */
export const receiversSchema = z.array(receiverEntrySchema).default([]);

/** One validated receiver entry (its own options included). */
export type ReceiverConfig = z.output<typeof receiverEntrySchema>;

/** The name a receiver entry is known by: its `name`, or its `type`. */
export function receiverName(entry: ReceiverConfig): string {
  return entry.name ?? entry.type;
}

/** A receiver entry's own options: everything but `type`, `name` and `pipelines`. */
export function receiverOptions(entry: ReceiverConfig): Record<string, unknown> {
  const { type: _type, name: _name, pipelines: _pipelines, ...options } = entry;
  return options;
}

/** The validated `service` section, defaults applied. */
export type ServiceSettings = z.output<typeof serviceSchema>;
/** The `service` section as written. */
export type ServiceSettingsInput = z.input<typeof serviceSchema>;

/** A whole service configuration: the `service` and `receivers` sections plus core's sections (`pipelines`, `metrics`). */
export interface ServiceConfig {
  readonly service: ServiceSettings;
  /** The receivers (default none); each entry's own options are checked by its factory when the service is built. */
  readonly receivers: readonly ReceiverConfig[];
  readonly core: TrackpipeConfig;
  /** Where it came from: a file path, `TRACKPIPE_CONFIG`, or `embedded defaults`. */
  readonly source: string;
}

/** Options of {@link parseServiceConfig}. */
export interface ParseServiceConfigOptions {
  /** Variables for `${env:NAME}`. Default `process.env`. */
  env?: Environment;
  /** Where the configuration came from, for error messages. */
  source?: string;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Validates a service configuration object: the `service` and `receivers` sections here,
 * `pipelines` and `metrics` with core's loader (`parseConfig`). `${env:NAME}` works in all. Throws
 * TRACKPIPE_ERR_CONFIG_INVALID listing every bad path (never a value). A receiver's own options are
 * checked by its factory (`createService`, `checkServiceConfig`); here its `type`, `name` (unique)
 * and `pipelines` (each must exist).
 */
export function parseServiceConfig(input: unknown, options: ParseServiceConfigOptions = {}): ServiceConfig {
  const env = options.env ?? process.env;
  const source = options.source ?? 'configuration';
  if (!isRecord(input)) throw configError([{ path: '', message: 'must be an object with pipelines (and optionally service, receivers, metrics)' }], source);
  const { service: rawService, receivers: rawReceivers, ...rest } = input;
  const issues: ConfigIssue[] = [];
  const substituted = substituteEnv(rawService ?? {}, env, issues, 'service');
  const parsed = serviceSchema.safeParse(substituted, { error: safeErrorMap });
  if (!parsed.success) {
    const missing = new Set(issues.map((i) => i.path));
    for (const issue of issuesFromZod(parsed.error, 'service')) if (!missing.has(issue.path)) issues.push(issue);
  }
  const receiverIssues: ConfigIssue[] = [];
  const receivers = receiversSchema.safeParse(substituteEnv(rawReceivers ?? [], env, receiverIssues, 'receivers'), { error: safeErrorMap });
  issues.push(...receiverIssues);
  if (!receivers.success) {
    const missing = new Set(receiverIssues.map((i) => i.path));
    for (const issue of issuesFromZod(receivers.error, 'receivers')) if (!missing.has(issue.path)) issues.push(issue);
  }
  let core: TrackpipeConfig | undefined;
  try {
    core = parseConfig(rest, { env, source });
  } catch (error) {
    const coreIssues = issuesOf(error);
    if (coreIssues.length === 0) throw error;
    issues.push(...coreIssues);
  }
  if (receivers.success) issues.push(...receiverEntryIssues(receivers.data, core));
  if (parsed.success && core !== undefined) issues.push(...metricsPortIssues(parsed.data, core), ...highWaterMarkIssues(parsed.data, core));
  if (issues.length > 0 || !parsed.success || !receivers.success || core === undefined) throw configError(issues, source);
  return { service: parsed.data, receivers: receivers.data, core, source };
}

/**
 * A queue whose high-water limit, `floor(maxQueueSize × highWaterMark)`, is 0 events has no room ever:
 * every request would be refused (503, RESOURCE_EXHAUSTED) for as long as the service runs, though it
 * started and answers /readyz.
 */
function highWaterMarkIssues(service: ServiceSettings, core: TrackpipeConfig): ConfigIssue[] {
  const highWaterMark = service.backpressure.highWaterMark;
  return core.pipelines.flatMap((pipeline, i) => {
    const size = pipeline.batch?.maxQueueSize ?? BATCH_OPTIONS.maxQueueSize.default;
    if (Math.floor(size * highWaterMark) >= 1) return [];
    return [
      {
        path: 'service.backpressure.highWaterMark',
        message: `leaves no room in the queues of pipelines[${i}] (floor(batch.maxQueueSize × highWaterMark) is 0 events): every request would be refused`,
      },
    ];
  });
}

/**
 * Core's metrics server (`metrics.port`) starts with the pipelines, before the service listens: on the
 * port of an ingest listener, that listener could then never bind (exit 1 at start, after the build).
 */
function metricsPortIssues(service: ServiceSettings, core: TrackpipeConfig): ConfigIssue[] {
  const metrics = { host: core.metrics.host, port: core.metrics.port };
  const issues: ConfigIssue[] = [];
  if (service.http.enabled && sharePort(metrics, service.http)) {
    issues.push({ path: 'metrics.port', message: 'must differ from service.http.port (both would listen on it; GET /metrics is served on the HTTP port already)' });
  }
  if (service.grpc.enabled && sharePort(metrics, service.grpc)) issues.push({ path: 'metrics.port', message: 'must differ from service.grpc.port (both would listen on it)' });
  return issues;
}

/** Receiver names unique; every pipeline a receiver names exists, and is named once. */
function receiverEntryIssues(receivers: readonly ReceiverConfig[], core: TrackpipeConfig | undefined): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const names = new Set<string>();
  const pipelines = core === undefined ? undefined : new Set(core.pipelines.map((p) => p.name));
  receivers.forEach((entry, i) => {
    const name = receiverName(entry);
    if (names.has(name)) {
      issues.push({ path: `receivers[${i}].${entry.name === undefined ? 'type' : 'name'}`, message: 'duplicate receiver name (give each receiver a distinct "name")' });
    }
    names.add(name);
    entry.pipelines?.forEach((pipeline, j, list) => {
      // Named twice, a pipeline would be fed every record twice (a fan-out over both entries).
      if (list.indexOf(pipeline) < j) issues.push({ path: `receivers[${i}].pipelines[${j}]`, message: 'names a pipeline already listed (it would get every record twice)' });
      else if (pipelines !== undefined && !pipelines.has(pipeline)) {
        issues.push({ path: `receivers[${i}].pipelines[${j}]`, message: `no such pipeline (known: ${[...pipelines].join(', ')})` });
      }
    });
  });
  return issues;
}

/** The enabled ingest listeners of a `service` section. */
export function listenersOf(settings: ServiceSettings): Listener[] {
  const listeners: Listener[] = [];
  if (settings.http.enabled) listeners.push({ name: 'HTTP', option: 'service.http.host', host: settings.http.host });
  if (settings.grpc.enabled) listeners.push({ name: 'gRPC', option: 'service.grpc.host', host: settings.grpc.host });
  return listeners;
}

/**
 * The problems of a `service` section that only show once the command line has had its say: an
 * ingest listener on a non-loopback host with authentication off (and not explicitly allowed).
 */
export function exposureIssues(settings: ServiceSettings): ConfigIssue[] {
  const exposed = unauthenticatedExposure(listenersOf(settings), {
    enabled: settings.auth.apiKeys.length > 0,
    allowUnauthenticated: settings.auth.allowUnauthenticated,
  });
  return exposed.map((l) => ({
    path: l.option,
    message: `${l.name} ingest would listen on ${l.host}, not a loopback address, with authentication off: ${EXPOSURE_HINT}`,
  }));
}

/** Options of {@link loadServiceConfig}. */
export interface LoadServiceConfigOptions {
  /** A JSON or YAML file. Default: `TRACKPIPE_CONFIG` (a path, or the configuration itself), else the embedded defaults. */
  file?: string;
  /** Variables for `${env:NAME}`, `TRACKPIPE_CONFIG` and the defaults. Default `process.env`. */
  env?: Environment;
}

/**
 * Loads the service configuration: from `file`; else from `TRACKPIPE_CONFIG` (the configuration
 * itself when it starts with `{` or spans lines, else a file path); else {@link defaultServiceConfig}.
 */
export async function loadServiceConfig(options: LoadServiceConfigOptions = {}): Promise<ServiceConfig> {
  const env = options.env ?? process.env;
  const { document, source } = await readServiceDocument({ ...options, env });
  return parseServiceConfig(document, { env, source });
}

/**
 * The configuration document {@link loadServiceConfig} would validate, and where it came from:
 * `file`, else `TRACKPIPE_CONFIG`, else the embedded defaults.
 */
export async function readServiceDocument(options: LoadServiceConfigOptions = {}): Promise<ConfigSource> {
  const env = options.env ?? process.env;
  return (await readConfigSource({ ...options, env })) ?? { document: defaultServiceConfig(env), source: 'embedded defaults' };
}

/** A file-name-safe timestamp, e.g. `20240102T030405Z`. */
function stamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

/**
 * The embedded defaults: HTTP on 127.0.0.1:8080, gRPC on 127.0.0.1:50051, one pipeline `default`
 * that writes NDJSON to a new file in `TRACKPIPE_DATA_DIR` (default `./trackpipe-data`) — or, when
 * `KAFKA_BROKERS` is set (comma-separated `host:port`), to the Kafka topic `KAFKA_TOPIC` (default
 * `trackpipe-events`). `TRACKPIPE_API_KEYS` (comma-separated) turns authentication on.
 */
export function defaultServiceConfig(env: Environment = process.env, now: Date = new Date()): Record<string, unknown> {
  const brokers = (env.KAFKA_BROKERS ?? '')
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b !== '');
  const exporter =
    brokers.length > 0
      ? { type: 'kafka', brokers, topic: env.KAFKA_TOPIC?.trim() || 'trackpipe-events' }
      : { type: 'file', path: join(env.TRACKPIPE_DATA_DIR?.trim() || 'trackpipe-data', `events-${stamp(now)}-${process.pid}.ndjson`) };
  const apiKeys = (env.TRACKPIPE_API_KEYS ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter((k) => k !== '');
  return {
    service: { auth: { apiKeys } },
    pipelines: [{ name: 'default', batch: { flushIntervalMs: 1_000 }, exporters: [exporter] }],
  };
}
