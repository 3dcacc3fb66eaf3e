import { mkdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type CreateCollectorOptions, type TrackpipeCollector, createCollector } from '@trackpipe/core/di';
import { type ConfigIssue, configError } from '@trackpipe/core/config';
import { type ServiceConfig, receiverName } from './config.js';
import { serviceExporterModules } from './exporter-modules.js';
import { type ServiceLogger, silentServiceLogger } from './logger.js';
import { type Receiver, type ReceiverFactory, buildReceivers, checkReceivers, loadReceiverFactories, reorderingPipelines } from './receiving.js';
import { type IdempotencyPersistence, MemoryIdempotencyStore, type PersistedAnswer } from './idempotency.js';
import { TrackpipeService } from './service.js';
import type { IngestEvent } from './validate.js';

/** Options of {@link createService}. Every field is optional; defaults follow each. */
export interface CreateServiceOptions {
  /** Structured logger for the service and the pipelines. Default: silent. */
  logger?: ServiceLogger;
  /**
   * Extra ContainerModules binding exporter factories (see `@trackpipe/core/di`). The `http`,
   * `kafka` and `memory` types (and core's `console`, `file`, `function`) are always available.
   * Default none.
   */
  modules?: CreateCollectorOptions['modules'];
  /** Functions the `function` exporter type refers to. Default none. */
  functions?: CreateCollectorOptions<IngestEvent>['functions'];
  /**
   * Extra receiver factories (a receiver `type` of your own, or one replacing a built-in type). The
   * `kafka` type is always available. Default none.
   */
  receivers?: readonly ReceiverFactory[];
}

/** A service built from a configuration, with the collector it feeds. */
export interface ConfiguredService {
  readonly service: TrackpipeService;
  readonly collector: TrackpipeCollector<IngestEvent>;
}

/**
 * Builds a {@link TrackpipeService} from a validated {@link ServiceConfig}: checks every receiver
 * entry against its factory (before anything is built), creates the folders of `file` exporters (a
 * folder that cannot be created, or a path that is a folder, is a problem at the exporter's `path`),
 * builds the pipelines with core's `createCollector` (http, kafka, memory, console, file and function
 * exporter types), builds the receivers (`kafka`), each fed with the pipelines it names, and puts the
 * service in front of them, with admission asking the collector's headroom and `/metrics` serving the
 * pipelines' registry. Throws TRACKPIPE_ERR_CONFIG_INVALID naming every bad path. Call
 * `service.start()` next.
 */
export async function createService(config: ServiceConfig, options: CreateServiceOptions = {}): Promise<ConfiguredService> {
  const logger = options.logger;
  const receivers = checkReceivers(config.receivers, await loadReceiverFactories(config.receivers, options.receivers));
  if (receivers.issues.length > 0) throw configError(receivers.issues, config.source);
  const files: ConfigIssue[] = [];
  for (const [i, pipeline] of config.core.pipelines.entries()) {
    for (const [j, exporter] of pipeline.exporters.entries()) {
      const path = (exporter as { path?: unknown }).path;
      if (exporter.type !== 'file' || typeof path !== 'string' || path === '') continue;
      const problem = await prepareFile(path);
      if (problem !== undefined) files.push({ path: `pipelines[${i}].exporters[${j}].path`, message: problem });
    }
  }
  if (files.length > 0) throw configError(files, config.source);
  const collector = await createCollector<IngestEvent>(config.core, {
    modules: [...(await serviceExporterModules(config.core.pipelines)), ...(options.modules ?? [])],
    ...(logger === undefined ? {} : { logger }),
    ...(options.functions === undefined ? {} : { functions: options.functions }),
  });
  const s = config.service;
  let service: TrackpipeService;
  try {
    const built: Receiver[] = buildReceivers(receivers.checked, collector, logger ?? silentServiceLogger);
    for (const { receiver, pipeline } of reorderingPipelines(config)) {
      logger?.warn('a receiver feeds a pipeline that may reorder batches: set batch.maxConcurrentExports to 1 there to keep each partition in order', {
        receiver,
        pipeline,
      });
    }
    const spooled = config.core.pipelines.filter((p) => p.spool !== undefined);
    if (spooled.length > 0 && spooled.length < config.core.pipelines.length) {
      logger?.warn('some pipelines keep their queues in memory: a 202 does not mean "on disk" until every pipeline has a spool', {
        inMemory: config.core.pipelines.filter((p) => p.spool === undefined).map((p) => p.name),
      });
    }
    const durable = spooled.length === config.core.pipelines.length;
    // A durable service keeps its idempotency keys beside the first pipeline's spool: a repeat of a
    // request acknowledged before a restart is answered, not queued again.
    const keys = durable ? await keyStoreBeside((spooled[0]!.spool as { path: string }).path, logger ?? silentServiceLogger) : undefined;
    service = new TrackpipeService({
      collector,
      receivers: built,
      registry: collector.registry,
      metricsEndpoint: s.metricsEndpoint,
      ...(logger === undefined ? {} : { logger }),
      http: s.http.enabled && {
        host: s.http.host,
        port: s.http.port,
        maxBodyBytes: s.http.maxBodyBytes,
        requestTimeoutMs: s.http.requestTimeoutMs,
        headersTimeoutMs: s.http.headersTimeoutMs,
        keepAliveTimeoutMs: s.http.keepAliveTimeoutMs,
      },
      grpc: s.grpc.enabled && {
        host: s.grpc.host,
        port: s.grpc.port,
        maxMessageBytes: s.grpc.maxMessageBytes,
        requestTimeoutMs: s.grpc.requestTimeoutMs,
        maxConnectionAgeMs: s.grpc.maxConnectionAgeMs,
        maxConcurrentStreams: s.grpc.maxConcurrentStreams,
      },
      ...(s.maxInFlightBytes === undefined ? {} : { maxInFlightBytes: s.maxInFlightBytes }),
      apiKeys: s.auth.apiKeys,
      allowUnauthenticated: s.auth.allowUnauthenticated,
      highWaterMark: s.backpressure.highWaterMark,
      durable,
      retryAfterSeconds: s.backpressure.retryAfterSeconds,
      backpressureLogIntervalMs: s.backpressure.logIntervalMs,
      limits: s.limits,
      idempotency: keys === undefined ? s.idempotency : new MemoryIdempotencyStore({ ...s.idempotency, persistence: keys }),
      shutdownTimeoutMs: s.shutdownTimeoutMs,
    });
  } catch (error) {
    await collector.close({ timeoutMs: 0 });
    throw error;
  }
  return { service, collector };
}

/**
 * Creates the folder of a `file` exporter's file; the problem when that fails, or when the path is a
 * folder or cannot be a file at all (every write would fail and every accepted event be dropped).
 * Never names the path.
 */
async function prepareFile(file: string): Promise<string | undefined> {
  try {
    await mkdir(dirname(file), { recursive: true });
  } catch (error) {
    return `its folder cannot be created (${errnoCode(error)})`;
  }
  try {
    return (await stat(file)).isDirectory() ? 'is a folder, not a file' : undefined;
  } catch (error) {
    // Absent is fine: the exporter creates it. Anything else (a NUL byte in the path) no write gets past either.
    const code = errnoCode(error);
    return code === 'ENOENT' ? undefined : `cannot be used (${code})`;
  }
}

/** The `code` of a Node.js system error (`ENOTDIR`, `EACCES`, ...), or `error`: never its message, which quotes paths. */
export function errnoCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z_]+$/.test(code) ? code : 'error';
}

/** The idempotency key store of a durable service: `<spool path>/.idempotency` (no pipeline name starts with a dot). */
async function keyStoreBeside(spoolPath: string, logger: ServiceLogger): Promise<IdempotencyPersistence> {
  // The spool's package (lmdb) is loaded here, for a durable service only.
  const { KeyStore } = await import('@trackpipe/spool');
  return KeyStore.open<PersistedAnswer>(join(spoolPath, '.idempotency'), logger);
}

/** Names and types of the configured exporters, for a start-up log line (no options: they may hold secrets). */
export function describePipelines(config: ServiceConfig): { pipeline: string; exporters: string[] }[] {
  return config.core.pipelines.map((p) => ({ pipeline: p.name, exporters: p.exporters.map((e) => `${e.name ?? e.type} (${e.type})`) }));
}

/** Names and types of the configured receivers and the pipelines each feeds, for a start-up log line. */
export function describeReceivers(config: ServiceConfig): { receiver: string; pipelines: string[] }[] {
  return config.receivers.map((r) => ({ receiver: `${receiverName(r)} (${r.type})`, pipelines: [...(r.pipelines ?? config.core.pipelines.map((p) => p.name))] }));
}
