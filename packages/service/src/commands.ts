// The `serve` and `validate` commands of `trackpipe` (cli.ts imports this module for them only).
// What a configuration does not use is not loaded: Kafka (kafkajs), the spool (lmdb) and gRPC
// (@grpc/grpc-js) are imported when the configuration has them (see serve.ts, check.ts).
import { parseArgs } from 'node:util';
import { describeError } from '@trackpipe/core';
import { configError, issuesFromZod, safeErrorMap } from '@trackpipe/core/config';
import { checkServiceConfig } from './check.js';
import { type ServiceConfig, exposureIssues, loadServiceConfig, serviceSchema } from './config.js';
import { LOG_LEVELS, type LogLevel, jsonLogger } from './logger.js';
import { createService, describePipelines, describeReceivers } from './serve.js';
import type { TrackpipeService } from './service.js';
import { HELP, UsageError, version } from './usage.js';

function port(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65_535) throw new UsageError(`${flag} must be a port number from 0 to 65535`);
  return n;
}

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

/** `trackpipe serve [options]`. */
export async function serve(args: string[]): Promise<void> {
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

/** `trackpipe validate [options]`. */
export async function validate(args: string[]): Promise<void> {
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
