import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { BatchProcessor, type TrackpipeError } from '@trackpipe/core';
import { HttpExporter } from '@trackpipe/exporter-http';
import { capturingLogger } from './helpers/logger.js';
import { closeRawServers, rawServer } from './helpers/raw-server.js';
import { type Handler, refusedPort, TestServer } from './helpers/test-server.js';

// A webhook URL carries its token in the path (and here also in the user info and the query). None of
// it may appear in an error, a log line or stats().lastError, whatever goes wrong.
const USER = 'user-token-1234';
const PASSWORD = 'pass-token-5678';
const PATH_TOKEN = 'XyZ9webhookSecret42';
const QUERY = 'query-secret-0042';
const PATH = `/services/T0001ABC/B0002DEF/${PATH_TOKEN}`;
// What Node sends for the user info: `authorization: Basic <base64 of user:password>`.
const BASIC = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
const SECRETS = [USER, PASSWORD, PATH_TOKEN, QUERY, PATH, 'T0001ABC', 'B0002DEF', BASIC];

const cert = readFileSync(new URL('fixtures/tls/localhost.crt', import.meta.url), 'utf8');
const key = readFileSync(new URL('fixtures/tls/localhost.key', import.meta.url), 'utf8');

let server: TestServer | undefined;
afterEach(async () => {
  closeRawServers();
  await server?.stop();
  server = undefined;
});

/** Answers with a body that echoes everything it got: path, query, headers (as careless servers do). */
const echo =
  (status: number): Handler =>
  (request) => ({ status, body: `error at ${request.path}; got ${JSON.stringify(request.headers)}` });

type Kind = 'refused' | 'reset' | 'timeout' | '4xx' | '5xx' | '401' | '401 echoing the bare credential' | 'an answer the HTTP parser refuses, echoing the request' | 'bad TLS';

async function endpoint(kind: Kind): Promise<string> {
  const credentials = `${USER}:${PASSWORD}@`;
  const rest = `${PATH}?key=${QUERY}`;
  switch (kind) {
    case 'refused':
      return `http://${credentials}127.0.0.1:${await refusedPort()}${rest}`;
    case 'reset':
      server = await TestServer.start({ handler: () => ({ destroy: true }) });
      break;
    case 'timeout':
      server = await TestServer.start({ handler: () => ({ hang: true }) });
      break;
    case '4xx':
      server = await TestServer.start({ handler: echo(422) });
      break;
    case '5xx':
      server = await TestServer.start({ handler: echo(503) });
      break;
    case '401':
      server = await TestServer.start({ handler: echo(401) });
      break;
    case '401 echoing the bare credential':
      server = await TestServer.start({ handler: (request) => ({ status: 401, body: `unknown credential ${request.headers.authorization?.split(' ')[1]}` }) });
      break;
    case 'an answer the HTTP parser refuses, echoing the request': {
      // The parser keeps the bytes it refused on its error (Node's `rawPacket`): here the request line and headers.
      const raw = await rawServer((socket, head) => socket.end(`HTTP/1.1 400 Bad\r\nx-echo: ${head.replaceAll('\r\n', ' | ')}\r\nnot a header\r\n\r\n`));
      return `http://${credentials}${new URL(raw.url).host}${rest}`;
    }
    case 'bad TLS':
      server = await TestServer.start({ tls: { cert, key } });
      return `https://${credentials}127.0.0.1:${server.port}${rest}`;
  }
  return `http://${credentials}127.0.0.1:${server.port}${rest}`;
}

/** Every string and byte an error holds, its causes' included, enumerable or not (bytes as Latin-1 text). */
function everything(value: unknown, seen = new Set<unknown>()): string {
  if (typeof value === 'string') return value;
  if (value instanceof Uint8Array) return Buffer.from(value).toString('latin1');
  if (typeof value !== 'object' || value === null || seen.has(value)) return '';
  seen.add(value);
  return Reflect.ownKeys(value)
    .map((key) => everything((value as Record<PropertyKey, unknown>)[key], seen))
    .join('\n');
}

describe('the URL path, credentials and query never leak', () => {
  it.each<Kind>(['refused', 'reset', 'timeout', '4xx', '5xx', '401', '401 echoing the bare credential', 'an answer the HTTP parser refuses, echoing the request', 'bad TLS'])(
    'when the failure is %s: not in errors (causes included), log lines or stats().lastError',
    async (kind) => {
      const url = await endpoint(kind);
      const logger = capturingLogger();
      const errors: TrackpipeError[] = [];
      const exporter = new HttpExporter({ url });
      const processor = new BatchProcessor(exporter, {
        maxBatchSize: 5,
        exportTimeoutMs: 300,
        retry: { initialBackoffMs: 10, maxBackoffMs: 20, maxElapsedMs: 400 },
        logger,
        onError: (error) => errors.push(error),
      });
      for (let i = 0; i < 5; i++) processor.record({ name: 'leak.check', attributes: { i } });
      await processor.flush({ timeoutMs: 10_000 });
      const lastError = processor.stats().lastError;
      await processor.close({ timeoutMs: 2_000 });

      // Something failed and was reported, or this test would prove nothing.
      expect(errors.length).toBeGreaterThan(0);
      expect(lastError).toBeDefined();
      expect(processor.stats().exported).toBe(0);
      const written = [
        ...errors.map((error) => inspect(error, { depth: 10 })),
        ...errors.map((error) => everything(error)),
        ...errors.map((error) => JSON.stringify(error.details)),
        logger.text(),
        JSON.stringify(lastError),
      ].join('\n');
      for (const secret of SECRETS) expect(written).not.toContain(secret);
      // What the exporter's errors do say: the endpoint's origin (a timeout is the processor's error).
      if (kind !== 'timeout') expect(errors.some((error) => error.message.includes('127.0.0.1'))).toBe(true);
      if (kind === '4xx' || kind === '5xx' || kind.startsWith('401')) expect(written).toContain('[REDACTED]');
    },
  );
});

describe('a token given as a bare query (no name=value)', () => {
  it.each(['?bare-query-token-0099', '?a=1&bare-query-token-0099', '?bare-query-token-0099=', '?bare-query-token-0099=&a=1'])(
    'never reaches an excerpt of an answer that echoes the request (%s)',
    async (query) => {
      server = await TestServer.start({ handler: echo(422) });
      const exporter = new HttpExporter({ url: `http://127.0.0.1:${server.port}/ingest${query}` });
      const result = await exporter.export({ size: 0, events: [], encoded: [], bytes: 0 }, AbortSignal.timeout(10_000));
      await exporter.shutdown();
      const error = (result as { error?: TrackpipeError }).error;
      expect(error?.message).toContain('HTTP 422');
      expect(everything(error)).not.toContain('bare-query-token-0099');
    },
  );
});
