// `trackpipe validate` through the package's real bin.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { type Server as HttpServer, createServer as createHttpServer } from 'node:http';
import { type AddressInfo, type Server as TcpServer, createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkServiceConfig } from '../src/index.js';
import { bin, buildCli, runToEnd } from './cli-support.js';

const SECRET = 'tok-9f8e7d6c5b4a-secret';

let dir: string;
let http: HttpServer;
let broker: TcpServer;
let httpUrl: string;
let brokerAddress: string;
let closedPort: number;

async function listening<T extends HttpServer | TcpServer>(server: T): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

beforeAll(async () => {
  buildCli();
  dir = mkdtempSync(join(tmpdir(), 'trackpipe-validate-'));
  http = createHttpServer((req, res) => res.end());
  httpUrl = `http://user:${SECRET}@127.0.0.1:${await listening(http)}/ingest`;
  // Stands in for a broker: validate only opens (and closes) a TCP connection.
  broker = createTcpServer((socket) => socket.destroy());
  brokerAddress = `127.0.0.1:${await listening(broker)}`;
  const spare = createTcpServer();
  closedPort = await listening(spare);
  await new Promise((resolve) => spare.close(resolve));
});

afterAll(async () => {
  await new Promise((resolve) => http.close(resolve));
  await new Promise((resolve) => broker.close(resolve));
  rmSync(dir, { recursive: true, force: true });
});

function configFile(name: string, config: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(config));
  return file;
}

function goodConfig(): Record<string, unknown> {
  return {
    service: { http: { port: 0 }, grpc: { port: 0 }, auth: { apiKeys: ['${env:VALIDATE_KEY}'] } },
    pipelines: [
      {
        name: 'flags',
        exporters: [
          { type: 'file', path: join(dir, 'not-yet', 'created', 'events.ndjson') },
          { type: 'http', url: httpUrl, headers: { authorization: `Bearer ${SECRET}` } },
          { type: 'kafka', brokers: [brokerAddress], topic: 'flags' },
        ],
      },
    ],
    metrics: { port: 1 }, // a port validate must never try to bind
  };
}

describe('trackpipe validate', () => {
  it('exits 0 for a good configuration, checking connections on request, and starts and creates nothing', async () => {
    const file = configFile('good.json', goodConfig());
    const plain = await runToEnd(bin, ['validate', '--config', file], dir, { VALIDATE_KEY: SECRET });
    expect(plain.stderr).toBe('');
    expect(plain.code).toBe(0);
    expect(plain.stdout).toBe(`configuration is valid: ${file} (1 pipeline, 3 exporters)\n`);

    const checked = await runToEnd(bin, ['validate', '--config', file, '--check-connections'], dir, { VALIDATE_KEY: SECRET });
    expect(checked.code).toBe(0);
    expect(checked.stdout).toContain('every file, broker and URL is reachable');
    expect(existsSync(join(dir, 'not-yet'))).toBe(false);
  });

  it('exits 2 naming every bad path, one line each, without echoing any value', async () => {
    const config = goodConfig();
    config.service = { http: { port: 'eighty', host: '0.0.0.0' }, colour: SECRET, auth: { apiKeys: [] } };
    config.pipelines = [
      {
        name: 'flags',
        exporters: [
          { type: 'http', url: httpUrl, format: SECRET, headers: { 'x-token': '${env:MISSING_TOKEN}' } },
          { type: 'kafka', brokers: [brokerAddress] },
          { type: 'carrier-pigeon', name: 'pigeon' },
        ],
      },
    ];
    const file = configFile('bad-schema.json', config);
    const res = await runToEnd(bin, ['validate', '--config', file], dir);
    expect(res.code).toBe(2);
    expect(res.stdout).toBe('');
    const lines = res.stderr.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^configuration is invalid: .*bad-schema\.json \(\d+ problems\)$/);
    const paths = lines.slice(1).map((l) => l.slice(0, l.indexOf(': ')));
    expect(paths).toEqual(expect.arrayContaining(['service.http.port', 'service.colour', 'pipelines[0].exporters[0].headers["x-token"]']));
    expect(res.stderr).toContain('environment variable MISSING_TOKEN is not set');
    expect(res.stderr).not.toContain(SECRET);
    expect(res.stderr).not.toContain('eighty');

    // Schema-valid, so the exporter factories and the exposure check have their say.
    config.service = { http: { port: 0, host: '0.0.0.0' }, grpc: { enabled: false } };
    (config.pipelines as { exporters: Record<string, unknown>[] }[])[0]!.exporters[0]!.headers = {};
    const factories = await runToEnd(bin, ['validate', '--config', configFile('bad-exporters.json', config)], dir);
    expect(factories.code).toBe(2);
    const problems = factories.stderr.trimEnd().split('\n').slice(1);
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^service\.http\.host: HTTP ingest would listen on 0\.0\.0\.0, not a loopback address/),
        expect.stringMatching(/^pipelines\[0\]\.exporters\[2\]\.type: unknown exporter type/),
      ]),
    );
    expect(factories.stderr).not.toContain(SECRET);
  });

  it('names each exporter option its factory refuses', async () => {
    const config = goodConfig();
    config.pipelines = [
      {
        exporters: [
          { type: 'http', url: httpUrl, format: SECRET },
          { type: 'kafka', brokers: [brokerAddress] },
        ],
      },
    ];
    const res = await runToEnd(bin, ['validate', '--config', configFile('bad-options.json', config)], dir, { VALIDATE_KEY: 'k' });
    expect(res.code).toBe(2);
    const problems = res.stderr.trimEnd().split('\n').slice(1);
    expect(problems.some((l) => l.startsWith('pipelines[0].exporters[0].format'))).toBe(true);
    expect(problems.some((l) => l.startsWith('pipelines[0].exporters[1].topic'))).toBe(true);
    expect(res.stderr).not.toContain(SECRET);
  });

  it('with --check-connections, names each file that cannot be written and each broker and URL that cannot be reached', async () => {
    const notAFolder = join(dir, 'plain-file');
    writeFileSync(notAFolder, '');
    const config = goodConfig();
    config.pipelines = [
      {
        exporters: [
          { type: 'file', path: join(notAFolder, SECRET, 'events.ndjson') },
          { type: 'http', url: `http://user:${SECRET}@127.0.0.1:${closedPort}/ingest` },
          { type: 'kafka', brokers: [brokerAddress, `127.0.0.1:${closedPort}`], topic: 'flags' },
        ],
      },
    ];
    const file = configFile('unreachable.json', config);
    const unchecked = await runToEnd(bin, ['validate', '--config', file], dir, { VALIDATE_KEY: 'k' });
    expect(unchecked.code).toBe(0);

    const res = await runToEnd(bin, ['validate', '--config', file, '--check-connections'], dir, { VALIDATE_KEY: 'k' });
    expect(res.code).toBe(2);
    expect(res.stderr.trimEnd().split('\n').slice(1).sort()).toEqual([
      'pipelines[0].exporters[0].path: cannot be written (ENOTDIR)',
      'pipelines[0].exporters[1].url: cannot connect (ECONNREFUSED)',
      'pipelines[0].exporters[2].brokers[1]: cannot connect (ECONNREFUSED)',
    ]);
    expect(res.stderr).not.toContain(SECRET);
    expect(res.stderr).not.toContain(String(closedPort));
  });

  it('reports a configuration file that cannot be read, and TRACKPIPE_CONFIG without its value', async () => {
    const missing = await runToEnd(bin, ['validate', '--config', join(dir, 'nope.yaml')], dir);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('cannot read the configuration file');
    const env = await runToEnd(bin, ['validate'], dir, { TRACKPIPE_CONFIG: SECRET });
    expect(env.code).toBe(2);
    expect(env.stderr).toContain('TRACKPIPE_CONFIG does not name a readable file');
    expect(env.stderr).not.toContain(SECRET);
  });

  it('checks the embedded defaults when there is no configuration', async () => {
    const res = await runToEnd(bin, ['validate', '--check-connections'], dir, { TRACKPIPE_CONFIG: undefined, KAFKA_BROKERS: undefined, TRACKPIPE_DATA_DIR: join(dir, 'data') });
    expect(res.stdout).toBe('configuration is valid: embedded defaults (1 pipeline, 1 exporter); every file, broker and URL is reachable\n');
    expect(res.code).toBe(0);
  });

  it('is also a function: checkServiceConfig answers the issues instead of printing them', async () => {
    const check = await checkServiceConfig({ env: { TRACKPIPE_CONFIG: '{"pipelines": []}' } });
    expect(check.source).toBe('TRACKPIPE_CONFIG');
    expect(check.issues).toEqual([{ path: 'pipelines', message: 'must list at least one pipeline' }]);
    expect(check.config).toBeUndefined();
  });
});
