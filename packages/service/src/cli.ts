#!/usr/bin/env node
// The `trackpipe` command: `trackpipe serve [--config <file>] ...`. See README.md.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { TrackpipeError, describeError } from '@trackpipe/core';
import { configError, issuesFromZod, safeErrorMap } from '@trackpipe/core/config';
import { checkServiceConfig } from './check.js';
import { type ServiceConfig, exposureIssues, loadServiceConfig, serviceSchema } from './config.js';
import { LOG_LEVELS, type LogLevel, jsonLogger } from './logger.js';
import { createService, describePipelines, describeReceivers } from './serve.js';
import type { TrackpipeService } from './service.js';

const HELP = `trackpipe — the Trackpipe collector service

Usage:
  trackpipe serve [options]     run the service until SIGTERM or SIGINT
  trackpipe validate [options]  check a configuration without starting anything
  trackpipe --help              show this help
  trackpipe --version           show the version

Options of serve:
  -c, --config <file>     JSON or YAML configuration (service, receivers, pipelines, metrics).
                          Default: $TRACKPIPE_CONFIG (a path or the configuration itself),
                          else embedded defaults: NDJSON files in $TRACKPIPE_DATA_DIR
                          (./trackpipe-data), or Kafka when $KAFKA_BROKERS is set.
      --host <address>    interface for HTTP and gRPC (overrides the configuration)
  -p, --port <port>       HTTP port (overrides service.http.port; 0 = any free port)
      --grpc-port <port>  gRPC port (overrides service.grpc.port; 0 = any free port)
      --log-level <level> debug, info, warn or error (overrides service.logLevel)
      --allow-unauthenticated
                          start even though ingest listens on a non-loopback address with no
                          API key (service.auth.allowUnauthenticated); without keys or this,
                          such a service refuses to start
  -h, --help              show this help

Options of validate:
  -c, --config <file>     the configuration to check (default: as serve)
      --check-connections also check that file exporters can write their files and that
                          Kafka brokers and HTTP exporter hosts accept a TCP connection
  Checks the schema, \${env:NAME} references, exposure without API keys and every
  exporter's and receiver's options (through its factory). Prints one line per problem (its path,
  never a value) on stderr and exits 2; exits 0 when the configuration is good.

Endpoints: POST /v1/track, /v1/batch, /v1/identify; GET /healthz, /readyz, /metrics;
gRPC analytics.v1.AnalyticsService (TrackEvent, IdentifyUser, TrackBatch).
Logs are JSON lines on stdout. Exit status after SIGTERM/SIGINT: 0 when every accepted event
was exported (nothing dropped since the start, for any reason), 1 otherwise; 2 for a usage or
configuration error.
`;

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

function port(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65_535) throw new UsageError(`${flag} must be a port number from 0 to 65535`);
  return n;
}

class UsageError extends Error {}

/** Applies the command-line overrides to a loaded configuration, and checks the result as the configuration was (TRACKPIPE_ERR_CONFIG_INVALID by path). */
function withOverrides(
  config: ServiceConfig,
  flags: { host?: string; port?: number; grpcPort?: number; logLevel?: LogLevel; allowUnauthenticated?: boolean },
): ServiceConfig {
  const s = config.service;
  const auth = flags.allowUnauthenticated === true ? { ...s.auth, allowUnauthenticated: true } : s.auth;
  const http = { ...s.http, ...(flags.host === undefined ? {} : { host: flags.host }), ...(flags.port === undefined ? {} : { port: flags.port }) };
  const grpc = { ...s.grpc, ...(flags.host === undefined ? {} : { host: flags.host }), ...(flags.grpcPort === undefined ? {} : { port: flags.grpcPort }) };
  // The flags go through the checks the file went through: a host no listener can bind, HTTP and gRPC on one port.
  const checked = serviceSchema.safeParse({ ...s, http, grpc, auth, logLevel: flags.logLevel ?? s.logLevel }, { error: safeErrorMap });
  if (!checked.success) throw configError(issuesFromZod(checked.error, 'service'), config.source);
  return { ...config, service: checked.data };
}

async function serve(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      host: { type: 'string' },
      port: { type: 'string', short: 'p' },
      'grpc-port': { type: 'string' },
      'log-level': { type: 'string' },
      'allow-unauthenticated': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help === true) {
    process.stdout.write(HELP);
    return;
  }
  const logLevel = values['log-level'];
  if (logLevel !== undefined && !(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')}`);
  }
  // An empty --host (`--host "$UNSET"`) would otherwise be ignored, leaving the configuration's.
  if (values.host?.trim() === '') throw new UsageError('--host must be an address or host name, not empty');
  const flags = {
    ...(values.host === undefined ? {} : { host: values.host }),
    ...(values.port === undefined ? {} : { port: port(values.port, '--port') }),
    ...(values['grpc-port'] === undefined ? {} : { grpcPort: port(values['grpc-port'], '--grpc-port') }),
    ...(logLevel === undefined ? {} : { logLevel: logLevel as LogLevel }),
    ...(values['allow-unauthenticated'] === true ? { allowUnauthenticated: true } : {}),
  };

  let logger = jsonLogger({ level: flags.logLevel ?? 'info' });
  // Signals are heard from the start: one that arrives while the configuration is read or the
  // pipelines are built (a spool opening) stops the service once it exists, instead of killing the
  // process mid-build (exit by signal, not 0).
  let service: TrackpipeService | undefined = undefined;
  let exiting = false;
  const stop = (running: TrackpipeService): void => {
    running.shutdown().then(
      ({ clean }) => process.exit(clean ? 0 : 1),
      (error: unknown) => {
        logger.error('shutdown failed', { error: describeError(error) });
        process.exit(1);
      },
    );
  };
  const onSignal = (signal: NodeJS.Signals): void => {
    if (exiting) {
      logger.warn('second signal: exiting without waiting for the drain', { signal });
      process.exit(1);
    }
    exiting = true;
    logger.info('signal received: shutting down', { signal });
    if (service !== undefined) stop(service);
  };
  const fail = (code: number): void => {
    process.exitCode = code;
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  let config: ServiceConfig;
  try {
    config = withOverrides(await loadServiceConfig(values.config === undefined ? {} : { file: values.config }), flags);
    const exposed = exposureIssues(config.service);
    if (exposed.length > 0) throw configError(exposed, config.source);
  } catch (error) {
    logger.error('invalid configuration', { error: describeError(error) });
    return fail(2);
  }
  logger = jsonLogger({ level: config.service.logLevel });
  const receivers = describeReceivers(config);
  logger.info('starting', {
    version: version(),
    config: config.source,
    pipelines: describePipelines(config),
    ...(receivers.length === 0 ? {} : { receivers }),
  });

  let built: Awaited<ReturnType<typeof createService>>;
  try {
    built = await createService(config, { logger });
  } catch (error) {
    logger.error('could not build the pipelines', { error: describeError(error) });
    return fail(2);
  }
  service = built.service;
  // A signal came while building: shut down what was built (nothing listens yet), exit 0.
  if (exiting) return stop(service);
  try {
    await service.start();
  } catch (error) {
    logger.error('could not start', { error: describeError(error) });
    await built.collector.close({ timeoutMs: 0 });
    fail(1);
  }
}

async function validate(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', short: 'c' },
      'check-connections': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help === true) {
    process.stdout.write(HELP);
    return;
  }
  const check = await checkServiceConfig({
    ...(values.config === undefined ? {} : { file: values.config }),
    checkConnections: values['check-connections'] === true,
  });
  if (check.issues.length === 0 && check.config !== undefined) {
    const pipelines = check.config.core.pipelines;
    const exporters = pipelines.reduce((n, p) => n + p.exporters.length, 0);
    const receivers = check.config.receivers.length === 0 ? '' : `, ${plural(check.config.receivers.length, 'receiver')}`;
    const reached = values['check-connections'] === true ? '; every file, broker and URL is reachable' : '';
    process.stdout.write(`configuration is valid: ${check.source} (${plural(pipelines.length, 'pipeline')}, ${plural(exporters, 'exporter')}${receivers})${reached}\n`);
    return;
  }
  const lines = check.issues.map((i) => `${i.path === '' ? '(root)' : i.path}: ${i.message}\n`);
  process.stderr.write(`configuration is invalid: ${check.source} (${plural(check.issues.length, 'problem')})\n${lines.join('')}`);
  process.exitCode = 2;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(HELP);
      if (command === undefined) process.exitCode = 2;
      return;
    case '-v':
    case '--version':
      process.stdout.write(`${version()}\n`);
      return;
    case 'serve':
      return serve(rest);
    case 'validate':
      return validate(rest);
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const code = (error as { code?: unknown }).code;
  if (error instanceof UsageError || (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))) {
    process.stderr.write(`trackpipe: ${describeError(error)}\nRun "trackpipe --help" for usage.\n`);
    process.exitCode = 2;
    return;
  }
  const message = error instanceof TrackpipeError ? error.message : describeError(error);
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'error', msg: 'fatal', error: message })}\n`);
  process.exitCode = 1;
});
