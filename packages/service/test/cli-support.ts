// Runs the built `trackpipe` CLI as a child process and reads its JSON log lines.
import { type ChildProcessWithoutNullStreams, execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const servicePackage = join(here, '..');
/** The built CLI. */
export const cli = join(servicePackage, 'dist/cli.js');
/** The package's `trackpipe` bin (it runs the built CLI). */
export const bin = join(servicePackage, 'bin/trackpipe.js');

/** Builds the service package (and what it depends on), so that dist/cli.js is current. */
export function buildCli(): void {
  execFileSync(process.execPath, [join(servicePackage, '../../node_modules/typescript/bin/tsc'), '-b', servicePackage], { stdio: 'inherit' });
}

/** A running CLI: its process, the JSON lines of its stdout, its stderr, and its exit. */
export interface Child {
  child: ChildProcessWithoutNullStreams;
  lines: Record<string, unknown>[];
  stderr: () => string;
  exited: Promise<[number | null, NodeJS.Signals | null]>;
}

/**
 * Starts `node dist/cli.js ...args` in `cwd` with `env` added to the environment. `fileSizeLimitKiB`
 * runs it under `ulimit -f` with SIGXFSZ ignored: writes past the limit fail (EIO) as on a full disk.
 */
export function run(args: string[], cwd: string, env: Record<string, string | undefined> = {}, fileSizeLimitKiB?: number): Child {
  const options = { env: { ...process.env, ...env }, cwd };
  const child =
    fileSizeLimitKiB === undefined
      ? spawn(process.execPath, [cli, ...args], options)
      : spawn('sh', ['-c', `trap '' XFSZ && ulimit -f ${fileSizeLimitKiB} && exec "$0" "$@"`, process.execPath, cli, ...args], options);
  const lines: Record<string, unknown>[] = [];
  let buffer = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ text: line });
      }
    }
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.once('exit', (code, signal) => resolve([code, signal])));
  return { child, lines, stderr: () => stderr, exited };
}

/** Waits for the log line whose `msg` is `msg`. */
export async function waitForLine(c: Child, msg: string, timeoutMs = 30_000): Promise<Record<string, unknown>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = c.lines.find((l) => l.msg === msg);
    if (line) return line;
    if (c.child.exitCode !== null) throw new Error(`the CLI exited early: ${JSON.stringify(c.lines)} ${c.stderr()}`);
    if (Date.now() > deadline) throw new Error(`no "${msg}" line: ${JSON.stringify(c.lines)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Starts `trackpipe serve --config <config>` in `cwd` (TRACKPIPE_CONFIG unset) and waits for its `listening` line: the CLI and its HTTP URL. */
export async function serve(config: string, cwd: string, timeoutMs?: number, fileSizeLimitKiB?: number): Promise<{ service: Child; url: string }> {
  const service = run(['serve', '--config', config], cwd, { TRACKPIPE_CONFIG: undefined }, fileSizeLimitKiB);
  return { service, url: String((await waitForLine(service, 'listening', timeoutMs)).http) };
}

/**
 * Writes `<dir>/service.json` and answers its path: HTTP ingest on a free port, no gRPC, one pipeline
 * `events` with a spool at `<dir>/spool`, `batch` as given, short retries, and an HTTP exporter to `sinkUrl`.
 */
export function writeSpooledConfig(dir: string, sinkUrl: string, batch: Record<string, unknown>): string {
  const config = join(dir, 'service.json');
  writeFileSync(
    config,
    JSON.stringify({
      service: { http: { port: 0 }, grpc: { enabled: false } },
      pipelines: [
        {
          name: 'events',
          spool: { path: join(dir, 'spool') },
          batch,
          retry: { initialBackoffMs: 20, maxBackoffMs: 200 },
          exporters: [{ type: 'http', url: sinkUrl, compression: 'none' }],
        },
      ],
    }),
  );
  return config;
}

/** Waits for the CLI to exit on its own; past `timeoutMs` kills it (SIGKILL) and fails. */
export async function exitOf(c: Child, timeoutMs = 20_000): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      c.child.kill('SIGKILL');
      reject(new Error(`the CLI did not exit within ${timeoutMs} ms: ${JSON.stringify(c.lines)} ${c.stderr()}`));
    }, timeoutMs);
  });
  try {
    const [code] = await Promise.race([c.exited, late]);
    return code;
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `node <script> ...args` to its end (asynchronously: servers in the test process keep answering). */
export async function runToEnd(
  script: string,
  args: string[],
  cwd: string,
  env: Record<string, string | undefined> = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [script, ...args], { env: { ...process.env, ...env }, cwd });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('close', (c) => resolve(c)));
  return { code, stdout, stderr };
}

/**
 * A destination for the service's HTTP exporter: a real server on 127.0.0.1 that answers 503 while
 * `refuse()` says so and otherwise counts every event of the JSON body it stored, by id.
 */
export async function countingSink(refuse: () => boolean): Promise<{ url: string; received: Map<string, number>; close(): Promise<void> }> {
  const received = new Map<string, number>();
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (refuse()) {
        response.writeHead(503).end();
        return;
      }
      for (const event of JSON.parse(Buffer.concat(chunks).toString()) as { id: string }[]) received.set(event.id, (received.get(event.id) ?? 0) + 1);
      response.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/ingest`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
