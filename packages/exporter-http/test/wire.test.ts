import type net from 'node:net';
import { afterEach, describe, expect, it, onTestFinished } from 'vitest';
import { type TrackpipeError } from '@trackpipe/core';
import { HttpExporter } from '@trackpipe/exporter-http';
import { batchFor, events } from './helpers/batch.js';
import { closeRawServers, rawServer, writes } from './helpers/raw-server.js';

// Servers that answer with raw bytes, as no well-behaved HTTP server would: what the exporter makes
// of each answer is what the README's classification table says, settled well before the signal.
afterEach(closeRawServers);

/** An answer that writes `head`, then one byte of body every 50 ms until the connection closes. */
const trickles =
  (head: string) =>
  (socket: net.Socket): void => {
    socket.write(head);
    const timer = setInterval(() => socket.write(head.includes('chunked') ? '1\r\nx\r\n' : 'x'), 50);
    socket.on('close', () => clearInterval(timer));
  };

describe('answers written byte by byte by a misbehaving server', () => {
  it.each([
    ['a status line that is not HTTP', 'reject', { code: 'HPE_INVALID_CONSTANT' }, writes('GARBAGE\r\n\r\n')],
    ['a status line cut short, then the connection closed', 'retry', { code: 'ECONNRESET' }, writes('HTTP/1.1 2')],
    ['a header line without a colon', 'reject', { code: 'HPE_INVALID_HEADER_TOKEN' }, writes('HTTP/1.1 200 OK\r\nnot a header\r\n\r\n')],
    ['a 200 whose body is cut short', 'ok', undefined, writes('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{"partial')],
    ['a 503 whose body is cut short', 'retry', { status: 503 }, writes('HTTP/1.1 503 Busy\r\ncontent-length: 100\r\n\r\nbusy')],
    ['a 200 whose chunked body turns to garbage', 'ok', undefined, writes('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\nzz\r\n')],
    ['a complete 200 followed by garbage in the same packet', 'ok', undefined, writes('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}GARBAGE')],
    ['a 102 Processing, then a 200', 'ok', undefined, writes('HTTP/1.1 102 Processing\r\n\r\n', 'HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n')],
    ['a 101 Switching Protocols, the connection left open', 'reject', { status: 101 }, (socket: net.Socket) => socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n')],
    ['a 101 Switching Protocols, then the connection closed', 'reject', { status: 101 }, writes('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n')],
    ['a 200 whose Content-Length promises more than comes, the connection left open', 'ok', undefined, (socket: net.Socket) => socket.write('HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{}')],
    ['an HTTP/1.0 200 whose body runs until a close that never comes', 'ok', undefined, (socket: net.Socket) => socket.write('HTTP/1.0 200 OK\r\n\r\n{}')],
    ['a 200 whose body trickles a byte every 50 ms, never ending', 'ok', undefined, trickles('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n')],
    ['a 503 whose body trickles a byte every 50 ms, never ending', 'retry', { status: 503 }, trickles('HTTP/1.1 503 Busy\r\ncontent-length: 1000000\r\n\r\n')],
  ] as const)('%s: %s, without waiting for the signal', async (_, code, details, answer) => {
    const exporter = new HttpExporter({ url: (await rawServer(answer)).url });
    onTestFinished(() => exporter.shutdown());
    const result = await exporter.export(batchFor(exporter, events(2)), AbortSignal.timeout(10_000));
    expect(result.code).toBe(code);
    if (details !== undefined) expect((result as { error?: TrackpipeError }).error?.details).toMatchObject(details);
  });
});
