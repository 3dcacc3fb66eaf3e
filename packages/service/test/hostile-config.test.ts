// Hostile configurations and start-up conditions, through the real CLI: `trackpipe serve` fails at
// start naming the bad field (never its value), with the documented exit status, and never hangs.
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { type AddressInfo, type Server, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TrackpipeError } from '@trackpipe/core';
import { checkServiceConfig, parseServiceConfig } from '../src/index.js';
import { buildCli, cli, exitOf, run, runToEnd, waitForLine } from './cli-support.js';

const SECRET = 'tok-4e3d2c1b0a-secret';

let dir: string;
beforeAll(() => {
  buildCli();
  dir = mkdtempSync(join(tmpdir(), 'trackpipe-hostile-config-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function configFile(name: string, config: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, JSON.stringify(config));
  return file;
}

/** `trackpipe serve --config <file>` to its exit (killed and failed past 15 s): the exit status and the `error` of its line `msg`. */
async function serveToExit(file: string, msg: string, env: Record<string, string> = {}): Promise<{ code: number | null; error: string; all: string }> {
  const c = run(['serve', '--config', file], dir, { TRACKPIPE_CONFIG: undefined, ...env });
  const code = await exitOf(c, 15_000);
  const all = JSON.stringify(c.lines) + c.stderr();
  return { code, error: String(c.lines.find((l) => l.msg === msg)?.error), all };
}

describe('trackpipe serve against a hostile start', () => {
  let blocker: Server;
  let taken: number;
  beforeAll(async () => {
    blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    taken = (blocker.address() as AddressInfo).port;
  });
  afterAll(() => new Promise((resolve) => blocker.close(resolve)));

  it.each([
    ['in-memory queues', undefined],
    ['a spool (and its idempotency store)', 'spool'],
  ])('exits 1 when the HTTP port is taken, closing the gRPC listener that was still binding (%s): it never hangs', async (_, spool) => {
    const file = configFile(`port-taken-${spool ?? 'memory'}.json`, {
      service: { http: { port: taken }, grpc: { port: 0 } },
      pipelines: [{ ...(spool === undefined ? {} : { spool: { path: join(dir, 'port-taken-spool') } }), exporters: [{ type: 'console' }] }],
    });
    const { code, error } = await serveToExit(file, 'could not start');
    expect(error).toContain(`HTTP ingest could not listen on 127.0.0.1:${taken}`);
    expect(code).toBe(1);
  });

  it('refuses, exit 2, a file exporter whose folder cannot be created, naming the field and never the path', async () => {
    const notAFolder = join(dir, 'plain-file');
    writeFileSync(notAFolder, '');
    const file = configFile('folder.json', {
      service: { http: { port: 0 }, grpc: { enabled: false } },
      pipelines: [{ exporters: [{ type: 'console' }, { type: 'file', path: join(notAFolder, SECRET, 'events.ndjson') }] }],
    });
    const { code, error, all } = await serveToExit(file, 'could not build the pipelines');
    expect(error).toContain('pipelines[0].exporters[1].path: its folder cannot be created (ENOTDIR)');
    expect(all).not.toContain(SECRET);
    expect(code).toBe(2);
  });

  it('refuses, exit 2, a file exporter whose path is a folder or holds a NUL byte (every event would be dropped), naming the field', async () => {
    const folder = join(dir, SECRET);
    mkdirSync(folder);
    const file = configFile('is-a-folder.json', {
      service: { http: { port: 0 }, grpc: { enabled: false } },
      pipelines: [
        { name: 'p', exporters: [{ type: 'file', path: folder }] },
        { name: 'q', exporters: [{ type: 'file', path: join(dir, `${SECRET}\u0000.ndjson`) }] },
      ],
    });
    const { code, error, all } = await serveToExit(file, 'could not build the pipelines');
    expect(error).toContain('pipelines[0].exporters[0].path: is a folder, not a file');
    expect(error).toContain('pipelines[1].exporters[0].path: cannot be used (ERR_INVALID_ARG_VALUE)');
    expect(all).not.toContain(SECRET);
    expect(code).toBe(2);
  });
});

describe('command-line flags', () => {
  it('an empty --host ("$UNSET") is a usage error, exit 2, not silently the configuration\'s host', async () => {
    const res = await runToEnd(cli, ['serve', '--host', '', '--port', '0', '--grpc-port', '0'], dir, { TRACKPIPE_CONFIG: undefined });
    expect(res.stderr).toContain('--host must be an address or host name, not empty');
    expect(res.stdout).not.toContain('listening');
    expect(res.code).toBe(2);
  });
});

describe('command-line overrides checked as the configuration is', () => {
  it('--port and --grpc-port naming one port exit 2 at start naming service.grpc.port, before listening (not 1 at the second listen)', async () => {
    const res = await runToEnd(cli, ['serve', '--port', '18765', '--grpc-port', '18765', '--host', '127.0.0.1'], dir, { TRACKPIPE_CONFIG: undefined });
    expect(res.stdout).toContain('service.grpc.port: must differ from service.http.port');
    expect(res.stdout).not.toContain('listening');
    expect(res.code).toBe(2);
  });
});

describe('API keys no client could present', () => {
  // A key read from a secret file keeps its trailing newline; `Authorization: Bearer <key>` (and gRPC
  // metadata) can carry neither that nor a space, so such a service would answer 401 to everyone.
  const unpresentable = [`${SECRET}\n`, ` ${SECRET}`, `${SECRET} two`, `${SECRET}\u00e9`, `${SECRET}\t`];

  it('fail at start with exit 2, naming the key by path and never its value', async () => {
    const file = configFile('keys.json', {
      service: { http: { port: 0 }, grpc: { enabled: false }, auth: { apiKeys: ['good-key', '${env:HOSTILE_KEY}'] } },
      pipelines: [{ exporters: [{ type: 'console' }] }],
    });
    const { code, error, all } = await serveToExit(file, 'invalid configuration', { HOSTILE_KEY: `${SECRET}\n` });
    expect(error).toContain('service.auth.apiKeys[1]: must be visible ASCII characters without spaces');
    expect(all).not.toContain(SECRET);
    expect(code).toBe(2);
    // Fixed, it starts: the check refuses only what could never match.
    const fixed = run(['serve', '--config', file], dir, { TRACKPIPE_CONFIG: undefined, HOSTILE_KEY: SECRET });
    try {
      await expect.poll(() => fixed.lines.some((l) => l.msg === 'listening'), { timeout: 15_000 }).toBe(true);
    } finally {
      fixed.child.kill('SIGTERM');
    }
    expect(await exitOf(fixed)).toBe(0);
  });

  it.each(unpresentable.map((key) => [JSON.stringify(key).replace(SECRET, '<key>'), key]))('%s is refused by validate, by path', async (_, key) => {
    const check = await checkServiceConfig({
      env: { TRACKPIPE_CONFIG: JSON.stringify({ service: { auth: { apiKeys: ['${env:HOSTILE_KEY}'] } }, pipelines: [{ exporters: [{ type: 'console' }] }] }), HOSTILE_KEY: key },
    });
    expect(check.issues.map((i) => i.path)).toEqual(['service.auth.apiKeys[0]']);
    expect(JSON.stringify(check.issues)).not.toContain(SECRET);
  });

  it('an empty key is still "must not be empty", once', async () => {
    const res = await runToEnd(cli, ['validate'], dir, {
      TRACKPIPE_CONFIG: JSON.stringify({ service: { auth: { apiKeys: [''] } }, pipelines: [{ exporters: [{ type: 'console' }] }] }),
    });
    expect(res.stderr.trimEnd().split('\n').slice(1)).toEqual(['service.auth.apiKeys[0]: must not be empty']);
    expect(res.code).toBe(2);
  });
});

describe('a log reader that goes away', () => {
  it('costs the log lines, not the service: after stdout breaks (EPIPE) it keeps accepting, and on SIGTERM delivers every event and exits 0', async () => {
    const out = join(dir, 'epipe', 'events.ndjson');
    const file = configFile('epipe.json', {
      // debug: every request writes a line to the broken pipe.
      service: { http: { port: 0 }, grpc: { enabled: false }, logLevel: 'debug' },
      pipelines: [{ batch: { flushIntervalMs: 50 }, exporters: [{ type: 'file', path: out }] }],
    });
    const c = run(['serve', '--config', file], dir, { TRACKPIPE_CONFIG: undefined });
    const url = String((await waitForLine(c, 'listening')).http);
    // The reader of the service's stdout (`| head -1`, a log shipper that crashed) goes away.
    c.child.stdout.destroy();
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await fetch(`${url}/v1/track`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ id: `e-${i}`, name: 'x' }) });
      expect(res.status).toBe(202);
      ids.push(`e-${i}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    expect(c.child.exitCode).toBeNull();
    c.child.kill('SIGTERM');
    expect(await exitOf(c)).toBe(0);
    expect(c.stderr()).not.toContain('EPIPE');
    const written = readFileSync(out, 'utf8')
      .trimEnd()
      .split('\n')
      .map((line) => (JSON.parse(line) as { id: string }).id);
    expect(written).toEqual(ids);
  });
});

describe('SIGTERM while starting', () => {
  it('right after the "starting" line, while a spool opens, drains what was built and exits 0 (it was killed by the signal)', async () => {
    const file = configFile('early-signal.json', {
      service: { http: { port: 0 }, grpc: { port: 0 } },
      pipelines: [{ spool: { path: join(dir, 'early-signal-spool') }, exporters: [{ type: 'console' }] }],
    });
    const c = run(['serve', '--config', file], dir, { TRACKPIPE_CONFIG: undefined });
    await waitForLine(c, 'starting');
    c.child.kill('SIGTERM');
    const [code, signal] = await c.exited;
    expect(signal).toBeNull();
    expect(code).toBe(0);
    expect(c.lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('stopped'))).toMatchObject({ level: 'info', complete: true });
  });
});

describe('a receiver naming a pipeline twice', () => {
  it('fails at start by path: the receiver would feed that pipeline every record twice (a fan-out over both)', () => {
    let error: unknown;
    try {
      parseServiceConfig(
        {
          receivers: [{ type: 'kafka', brokers: ['127.0.0.1:9092'], topic: 't', groupId: 'g', pipelines: ['a', 'b', 'a'] }],
          pipelines: [
            { name: 'a', exporters: [{ type: 'console' }] },
            { name: 'b', exporters: [{ type: 'console' }] },
          ],
        },
        { env: {} },
      );
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TrackpipeError);
    expect((error as TrackpipeError).message).toContain('receivers[0].pipelines[2]: names a pipeline already listed');
    expect((error as TrackpipeError).message).not.toContain('pipelines[1]:');
  });
});

describe('hosts no listener could bind', () => {
  const parsed = (host: unknown): { hosts?: [string, string]; message?: string } => {
    try {
      const { service } = parseServiceConfig({ service: { http: { host }, grpc: { host, port: 50052 } }, pipelines: [{ exporters: [{ type: 'console' }] }] }, { env: {} });
      return { hosts: [service.http.host, service.grpc.host] };
    } catch (error) {
      expect(error).toBeInstanceOf(TrackpipeError);
      return { message: (error as TrackpipeError).message };
    }
  };

  it.each([' 127.0.0.1', '127.0.0.1\n', '127.0.0.1 # local', 'http://127.0.0.1', '127.0.0.1:8080', '[::1', '[127.0.0.1]', '', 'a..b', '-x', 'hôte', 'x'.repeat(64), 42])(
    '%j is refused by path for both listeners, never echoed',
    (host) => {
      const { message } = parsed(host);
      expect(message).toContain('service.http.host: must be an IP address or a host name');
      expect(message).toContain('service.grpc.host: must be an IP address or a host name');
      if (typeof host === 'string' && host.trim() !== '') expect(message).not.toContain(host.trim());
    },
  );

  it('takes IP addresses, host names (with "_", as container names have) and an IPv6 address in brackets, without them', () => {
    for (const host of ['127.0.0.1', '0.0.0.0', '::', '::1', 'localhost', 'trackpipe_service', 'collector-1.internal.example.com', 'example.com.']) {
      expect(parsed(host).hosts).toEqual([host, host]);
    }
    expect(parsed('[::1]').hosts).toEqual(['::1', '::1']);
  });

  it('trackpipe serve with a host from an env variable ending in a line break exits 2 at start naming service.http.host, not 1 at listen', async () => {
    const file = configFile('host-newline.json', { service: { http: { host: '${env:HOSTILE_HOST}', port: 0 }, grpc: { enabled: false } }, pipelines: [{ exporters: [{ type: 'console' }] }] });
    const { code, error, all } = await serveToExit(file, 'invalid configuration', { HOSTILE_HOST: '127.0.0.9\n' });
    expect(code).toBe(2);
    expect(error).toContain('service.http.host: must be an IP address or a host name');
    expect(all).not.toContain('127.0.0.9');
  });
});
