// The CLI loads a feature's modules only when the configuration uses it: `--help`, and `validate` or
// `serve` of a configuration without Kafka, a spool or gRPC, never load kafkajs, lmdb or
// @grpc/grpc-js (most of a start-up's time). Each run records every module file it loads through a
// module hook preloaded with NODE_OPTIONS; nothing here is timed.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, cli, exitOf, run, runToEnd, waitForLine } from './cli-support.js';

/** Packages of the optional features, as they appear in a loaded file's path (pnpm's real paths end so too: `.pnpm/kafkajs@2.2.4/node_modules/kafkajs/...`). */
const HEAVY = {
  kafkajs: '/node_modules/kafkajs/',
  platformaticKafka: '/node_modules/@platformatic/kafka/',
  lmdb: '/node_modules/lmdb/',
  grpc: '/node_modules/@grpc/grpc-js/',
  protoLoader: '/node_modules/@grpc/proto-loader/',
} as const;

let dir: string;
let recorder: string;

beforeAll(() => {
  buildCli();
  dir = mkdtempSync(join(tmpdir(), 'trackpipe-cli-loading-'));
  // Preloaded with --import: writes the URL of every module file loaded (ES modules through a load
  // hook; CommonJS ones, kafkajs's own require()s included, from require.cache at exit) to
  // $TRACKPIPE_LOAD_LOG. registerHooks (Node 22.15+) runs in the thread and sees require() too;
  // register (Node 20) runs its hooks in their own thread.
  const hooks = join(dir, 'hooks.mjs');
  writeFileSync(
    hooks,
    `import { appendFileSync } from 'node:fs';
export function record(url) { appendFileSync(process.env.TRACKPIPE_LOAD_LOG, url + '\\n'); }
export function load(url, context, next) { record(url); return next(url, context); }
`,
  );
  recorder = join(dir, 'record.mjs');
  writeFileSync(
    recorder,
    `import * as mod from 'node:module';
import { record, load } from ${JSON.stringify(pathToFileURL(hooks).href)};
if (typeof mod.registerHooks === 'function') mod.registerHooks({ load });
else mod.register(${JSON.stringify(pathToFileURL(hooks).href)});
const require = mod.createRequire(import.meta.url);
process.on('exit', () => record(Object.keys(require.cache).map((file) => String(pathToFile(file))).join('\\n')));
function pathToFile(file) { return file.replaceAll('\\\\', '/'); }
`,
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

let runs = 0;
/** Environment that records the run's loaded files, and the function that reads them. */
function recording(): { env: Record<string, string>; loaded: () => string[] } {
  const log = join(dir, `loaded-${++runs}.log`);
  writeFileSync(log, '');
  return {
    env: { NODE_OPTIONS: `--import ${pathToFileURL(recorder).href}`, TRACKPIPE_LOAD_LOG: log, TRACKPIPE_CONFIG: '' },
    loaded: () => readFileSync(log, 'utf8').split('\n').filter((line) => line !== ''),
  };
}

/** The features among `loaded`, by the names of {@link HEAVY}. */
function features(loaded: readonly string[]): string[] {
  return Object.entries(HEAVY)
    .filter(([, marker]) => loaded.some((file) => file.includes(marker)))
    .map(([name]) => name);
}

function configFile(name: string, config: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(config));
  return file;
}

/** HTTP and gRPC ingest, a file exporter: nothing optional. */
function plain(grpc: boolean): Record<string, unknown> {
  return {
    service: { http: { port: 0 }, grpc: grpc ? { port: 0 } : { enabled: false } },
    pipelines: [{ name: 'events', exporters: [{ type: 'file', path: join(dir, 'events.ndjson') }] }],
  };
}

describe('trackpipe loads what the configuration uses', () => {
  it('--help loads none of the optional features (nor the service)', async () => {
    const { env, loaded } = recording();
    const result = await runToEnd(cli, ['--help'], dir, env);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Usage:');
    expect(loaded().some((file) => file.endsWith('/dist/cli.js'))).toBe(true);
    expect(features(loaded())).toEqual([]);
    expect(loaded().some((file) => file.endsWith('/dist/serve.js'))).toBe(false);
  });

  it('validate of a configuration without Kafka, a spool or receivers loads none of kafkajs, lmdb or @grpc/grpc-js, gRPC ingest on or not', async () => {
    const { env, loaded } = recording();
    const result = await runToEnd(cli, ['validate', '--config', configFile('plain.json', plain(true))], dir, env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    // The recorder saw the service's modules and a CommonJS package (zod is ESM, yaml CommonJS).
    expect(loaded().some((file) => file.endsWith('/dist/check.js'))).toBe(true);
    expect(loaded().some((file) => file.includes('/node_modules/') && file.includes('yaml'))).toBe(true);
    expect(features(loaded())).toEqual([]);
  });

  it('serve of a configuration without Kafka, a spool or gRPC listens, answers and stops without loading any of them', async () => {
    const { env, loaded } = recording();
    const c = run(['serve', '--config', configFile('serve-plain.json', plain(false))], dir, env);
    const url = String((await waitForLine(c, 'listening')).http);
    const response = await fetch(`${url}/v1/track`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'plain' }) });
    expect(response.status).toBe(202);
    c.child.kill('SIGTERM');
    expect(await exitOf(c)).toBe(0);
    expect(loaded().some((file) => file.endsWith('/dist/http-server.js'))).toBe(true);
    expect(features(loaded())).toEqual([]);
  });

  it('validate of a configuration with a Kafka exporter, a Kafka receiver and a spool still checks them, loading kafkajs and lmdb (not gRPC)', async () => {
    const { env, loaded } = recording();
    const config = {
      service: { http: { port: 0 }, grpc: { port: 0 } },
      receivers: [{ type: 'kafka', brokers: ['127.0.0.1:9'], topic: 'in', groupId: 'g' }],
      pipelines: [
        {
          name: 'events',
          spool: { path: join(dir, 'spool-validate') },
          exporters: [{ type: 'kafka', brokers: ['127.0.0.1:9'], topic: 'out' }],
        },
      ],
    };
    const good = await runToEnd(cli, ['validate', '--config', configFile('kafka.json', config)], dir, env);
    expect(good.stderr).toBe('');
    expect(good.code).toBe(0);
    expect(good.stdout).toContain('(1 pipeline, 1 exporter, 1 receiver)');
    expect(features(loaded())).toEqual(expect.arrayContaining(['kafkajs', 'lmdb']));
    expect(features(loaded())).not.toContain('grpc');
    // Their options are still checked by their factories, by path.
    const bad = {
      ...config,
      receivers: [{ type: 'kafka', brokers: [], topic: 'in', groupId: 'g' }],
      pipelines: [{ name: 'events', spool: { path: join(dir, 'spool-validate'), colour: 1 }, exporters: [{ type: 'kafka', brokers: ['127.0.0.1:9'] }] }],
    };
    const refused = await runToEnd(cli, ['validate', '--config', configFile('kafka-bad.json', bad)], dir, recording().env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('receivers[0].brokers');
    expect(refused.stderr).toContain('pipelines[0].spool.colour');
    expect(refused.stderr).toContain('pipelines[0].exporters[0].topic');
  });

  it('an unknown exporter or receiver type is still named with every known type', async () => {
    const config = {
      receivers: [{ type: 'kinesis' }],
      pipelines: [{ exporters: [{ type: 'carrier-pigeon' }] }],
    };
    const result = await runToEnd(cli, ['validate', '--config', configFile('unknown.json', config)], dir, recording().env);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('receivers[0].type: unknown receiver type (known: kafka)');
    expect(result.stderr).toContain('pipelines[0].exporters[0].type: unknown exporter type (known: console, file, function, http, kafka, memory)');
  });

  it('serve with a spool and gRPC ingest loads lmdb and @grpc/grpc-js, listens on both and stops cleanly', async () => {
    const { env, loaded } = recording();
    const config = {
      service: { http: { port: 0 }, grpc: { port: 0 } },
      pipelines: [{ name: 'events', spool: { path: join(dir, 'spool-serve') }, exporters: [{ type: 'file', path: join(dir, 'spooled.ndjson') }] }],
    };
    const c = run(['serve', '--config', configFile('spool-grpc.json', config)], dir, env);
    const listening = await waitForLine(c, 'listening');
    expect(String(listening.grpc)).toMatch(/^127\.0\.0\.1:\d+$/);
    const response = await fetch(`${String(listening.http)}/v1/track`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'spooled' }) });
    expect(response.status).toBe(202);
    c.child.kill('SIGTERM');
    expect(await exitOf(c)).toBe(0);
    expect(features(loaded())).toEqual(expect.arrayContaining(['lmdb', 'grpc', 'protoLoader']));
    expect(features(loaded())).not.toContain('kafkajs');
    expect(readFileSync(join(dir, 'spooled.ndjson'), 'utf8')).toContain('"spooled"');
  });
});
