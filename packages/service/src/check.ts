import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname, resolve } from 'node:path';
import { TrackpipeError, silentLogger } from '@trackpipe/core';
import { type ConfigIssue, type Environment, type TrackpipeConfigInput, issuesOf } from '@trackpipe/core/config';
import { createCollector } from '@trackpipe/core/di';
import { type ServiceConfig, exposureIssues, parseServiceConfig, readServiceDocument } from './config.js';
import { serviceExporterModules } from './exporter-modules.js';
import { checkReceivers, loadReceiverFactories } from './receiving.js';
import { type CreateServiceOptions, errnoCode } from './serve.js';
import type { IngestEvent } from './validate.js';

/** Options of {@link checkServiceConfig}. Every field is optional; defaults follow each. */
export interface CheckServiceConfigOptions {
  /** A JSON or YAML file. Default: `TRACKPIPE_CONFIG`, else the embedded defaults (as `trackpipe serve`). */
  file?: string;
  /** Variables for `${env:NAME}`, `TRACKPIPE_CONFIG` and the defaults. Default `process.env`. */
  env?: Environment;
  /**
   * Also check what the exporters will reach: that each `file` exporter's path can be written (or
   * created), and that a TCP connection opens to each HTTP exporter's host and each Kafka broker.
   * Nothing is sent and nothing is created. Default false.
   */
  checkConnections?: boolean;
  /** How long one connection attempt may take, in ms. Default 3 000. */
  connectTimeoutMs?: number;
  /** Extra exporter modules, functions and receiver factories, as for `createService`. Default none. */
  modules?: CreateServiceOptions['modules'];
  functions?: CreateServiceOptions['functions'];
  receivers?: CreateServiceOptions['receivers'];
}

/** What {@link checkServiceConfig} found. */
export interface ServiceConfigCheck {
  /** Where the configuration came from: a file path, `TRACKPIPE_CONFIG`, or `embedded defaults`. */
  readonly source: string;
  /** Every problem, by path; never a value. Empty when the configuration is good. */
  readonly issues: readonly ConfigIssue[];
  /** The validated configuration, when the schema accepted it. */
  readonly config: ServiceConfig | undefined;
}

/**
 * Checks a service configuration without starting anything: the schema and `${env:NAME}` references
 * of every section, ingest exposure (a non-loopback listener without API keys), each exporter's
 * options through its exporter factory (the exporters are built and shut down again; nothing
 * connects, no file is opened, no port is bound), each receiver's options through its receiver
 * factory's schema, and — with `checkConnections` — that files can be written and brokers (of
 * exporters and receivers) and URLs accept a TCP connection. Never throws for a bad configuration:
 * every problem is an issue naming its path.
 */
export async function checkServiceConfig(options: CheckServiceConfigOptions = {}): Promise<ServiceConfigCheck> {
  const env = options.env ?? process.env;
  let source = options.file ?? 'configuration';
  let document: unknown;
  try {
    ({ document, source } = await readServiceDocument({ ...(options.file === undefined ? {} : { file: options.file }), env }));
  } catch (error) {
    return { source, issues: issuesFrom(error, ''), config: undefined };
  }
  let config: ServiceConfig;
  try {
    config = parseServiceConfig(document, { env, source });
  } catch (error) {
    return { source, issues: issuesFrom(error, ''), config: undefined };
  }
  const issues: ConfigIssue[] = [...exposureIssues(config.service)];
  issues.push(...(await exporterIssues(document, config, env, options)));
  issues.push(...checkReceivers(config.receivers, await loadReceiverFactories(config.receivers, options.receivers)).issues);
  if (options.checkConnections === true) issues.push(...(await connectionIssues(config, options.connectTimeoutMs ?? 3_000)));
  return { source, issues, config };
}

/** The issues an error carries; for an error without any, one issue at `path` (its message has no values: ours never do). */
function issuesFrom(error: unknown, path: string): ConfigIssue[] {
  const listed = issuesOf(error);
  if (listed.length > 0) return listed;
  if (error instanceof TrackpipeError) return [{ path, message: error.message.replace(/^TRACKPIPE_ERR_[A-Z_]+: /, '') }];
  return [{ path, message: 'could not be checked (an unexpected error)' }];
}

/**
 * Builds every exporter through its factory, as `createService` would (with the service's exporter
 * modules `config` uses), and closes them at once. The metrics server is left out (it would bind a
 * port) and so are the self-metrics.
 */
async function exporterIssues(document: unknown, config: ServiceConfig, env: Environment, options: CheckServiceConfigOptions): Promise<ConfigIssue[]> {
  const { service: _service, receivers: _receivers, ...core } = document as Record<string, unknown>;
  const metrics = typeof core.metrics === 'object' && core.metrics !== null ? (core.metrics as Record<string, unknown>) : {};
  const { port: _port, ...quiet } = metrics;
  try {
    const collector = await createCollector<IngestEvent>(
      { ...core, metrics: { ...quiet, enabled: false, defaultMetrics: false } } as TrackpipeConfigInput,
      {
        env,
        logger: silentLogger,
        modules: [...(await serviceExporterModules(config.core.pipelines)), ...(options.modules ?? [])],
        ...(options.functions === undefined ? {} : { functions: options.functions }),
      },
    );
    await collector.close({ timeoutMs: 0 });
    return [];
  } catch (error) {
    return issuesFrom(error, 'pipelines');
  }
}

/** A TCP target of an exporter, and the config path it came from. */
interface Target {
  readonly path: string;
  readonly host: string;
  readonly port: number;
}

async function connectionIssues(config: ServiceConfig, timeoutMs: number): Promise<ConfigIssue[]> {
  const checks: Promise<ConfigIssue | undefined>[] = [];
  config.core.pipelines.forEach((pipeline, i) =>
    pipeline.exporters.forEach((exporter, j) => {
      const at = `pipelines[${i}].exporters[${j}]`;
      const entry = exporter as Record<string, unknown>;
      if (exporter.type === 'file' && typeof entry.path === 'string') checks.push(writable(`${at}.path`, entry.path));
      if (exporter.type === 'http' && typeof entry.url === 'string') {
        const target = urlTarget(`${at}.url`, entry.url);
        if (target !== undefined) checks.push(reachable(target, timeoutMs));
      }
      if (exporter.type === 'kafka' && Array.isArray(entry.brokers)) {
        entry.brokers.forEach((broker: unknown, k: number) => {
          const target = typeof broker === 'string' ? brokerTarget(`${at}.brokers[${k}]`, broker) : undefined;
          checks.push(target === undefined ? Promise.resolve({ path: `${at}.brokers[${k}]`, message: 'is not host:port' }) : reachable(target, timeoutMs));
        });
      }
    }),
  );
  config.receivers.forEach((receiver, i) => {
    const entry = receiver as Record<string, unknown>;
    if (!Array.isArray(entry.brokers)) return;
    entry.brokers.forEach((broker: unknown, k: number) => {
      const at = `receivers[${i}].brokers[${k}]`;
      const target = typeof broker === 'string' ? brokerTarget(at, broker) : undefined;
      checks.push(target === undefined ? Promise.resolve({ path: at, message: 'is not host:port' }) : reachable(target, timeoutMs));
    });
  });
  return (await Promise.all(checks)).filter((issue): issue is ConfigIssue => issue !== undefined);
}

function urlTarget(path: string, url: string): Target | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined; // the factory already named it
  }
  const port = parsed.port === '' ? (parsed.protocol === 'https:' ? 443 : 80) : Number(parsed.port);
  return { path, host: parsed.hostname.replace(/^\[(.*)\]$/, '$1'), port };
}

function brokerTarget(path: string, broker: string): Target | undefined {
  const match = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(broker.trim());
  if (match === null) return undefined;
  const port = Number(match[2]);
  return port >= 1 && port <= 65_535 ? { path, host: match[1]!, port } : undefined;
}

/** Opens and closes a TCP connection; an issue naming the path (never the address) when it fails. */
function reachable(target: Target, timeoutMs: number): Promise<ConfigIssue | undefined> {
  return new Promise((done) => {
    const socket = connect({ host: target.host, port: target.port });
    const finish = (issue: ConfigIssue | undefined): void => {
      clearTimeout(timer);
      socket.destroy();
      done(issue);
    };
    const timer = setTimeout(() => finish({ path: target.path, message: `cannot connect (no answer within ${timeoutMs} ms)` }), timeoutMs);
    socket.once('connect', () => finish(undefined));
    socket.once('error', (error: NodeJS.ErrnoException) => finish({ path: target.path, message: `cannot connect (${errnoCode(error)})` }));
  });
}

/** Whether the file exporter could append to `file`: the file is writable, or the nearest existing folder lets it be created. */
async function writable(path: string, file: string): Promise<ConfigIssue | undefined> {
  const full = resolve(file);
  try {
    const found = await stat(full).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (found !== undefined) {
      if (!found.isFile()) return { path, message: 'is not a regular file' };
      await access(full, constants.W_OK);
      return undefined;
    }
    // The service creates missing folders: the nearest existing ancestor must be a writable folder.
    let folder = dirname(full);
    for (;;) {
      const info = await stat(folder).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw error;
      });
      if (info !== undefined) {
        if (!info.isDirectory()) return { path, message: 'cannot be created (ENOTDIR: a parent is not a folder)' };
        await access(folder, constants.W_OK | constants.X_OK);
        return undefined;
      }
      const parent = dirname(folder);
      if (parent === folder) return { path, message: 'cannot be created (no existing parent folder)' };
      folder = parent;
    }
  } catch (error) {
    return { path, message: `cannot be written (${errnoCode(error)})` };
  }
}

