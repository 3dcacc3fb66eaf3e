import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BatchProcessor,
  ExportResults,
  FanoutCollector,
  FunctionExporter,
  NdjsonExporter,
  TrackpipeError,
  silentLogger,
} from '@trackpipe/core';

const dir = mkdtempSync(join(tmpdir(), 'trackpipe-exporters-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const batch = (n: number) => {
  const events = Array.from({ length: n }, (_, i) => ({ name: 'e', id: `id-${i}`, timestamp: i }));
  const encoded = events.map((e) => JSON.stringify(e));
  return { size: n, events, encoded, bytes: encoded.join('').length };
};
const signal = new AbortController().signal;

describe('FunctionExporter', () => {
  it('answers ok when the function returns nothing, and passes its own ExportResult through', async () => {
    const seen: number[] = [];
    const ok = new FunctionExporter((events) => void seen.push(events.length));
    expect(await ok.export(batch(3), signal)).toEqual({ code: 'ok' });
    expect(seen).toEqual([3]);
    const retry = new FunctionExporter(() => ExportResults.retry({ retryAfterMs: 5 }));
    expect(await retry.export(batch(1), signal)).toEqual({ code: 'retry', retryAfterMs: 5 });
  });

  it('retries a thrown error marked retriable and rejects any other', async () => {
    const transient = new TrackpipeError('TRACKPIPE_ERR_EXPORT_RETRYABLE', 'busy', { retriable: true });
    expect(await new FunctionExporter(() => Promise.reject(transient)).export(batch(1), signal)).toMatchObject({ code: 'retry' });
    const unknown = new Error('boom');
    expect(await new FunctionExporter(() => Promise.reject(unknown)).export(batch(1), signal)).toEqual({ code: 'reject', error: unknown });
  });
});

describe('NdjsonExporter', () => {
  it('appends one JSON line per event to a file and closes it on shutdown', async () => {
    const path = join(dir, 'out.ndjson');
    const processor = new BatchProcessor(new NdjsonExporter({ destination: { path } }), { maxBatchSize: 3, logger: silentLogger });
    for (let i = 0; i < 7; i++) processor.record({ name: 'line', attributes: { i } });
    expect(await processor.close()).toMatchObject({ complete: true, exported: 7 });
    const lines = readFileSync(path, 'utf8').trimEnd().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as { attributes: { i: number } }).attributes.i)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('writes concurrent exports to a file whole and in the order they were called (a large batch is written in chunks)', async () => {
    const path = join(dir, 'concurrent.ndjson');
    const exporter = new NdjsonExporter({ destination: { path } });
    const pad = 'x'.repeat(2_000);
    const make = (label: string, n: number) => {
      const events = Array.from({ length: n }, (_, i) => ({ name: 'e', id: `${label}-${i}`, timestamp: i, attributes: { pad } }));
      return { size: events.length, events, encoded: events.map((e) => JSON.stringify(e)), bytes: 0 };
    };
    // 2 000 lines of 2 KB: 4 MB, which Node writes in chunks; the small batches after it must wait for it.
    const batches = [make('big', 2_000), make('a', 3), make('b', 3), make('big2', 1_000), make('c', 3)];
    const results = await Promise.all(batches.map((b) => exporter.export(b)));
    await exporter.shutdown();
    expect(results.every((r) => r.code === 'ok')).toBe(true);
    const ids = readFileSync(path, 'utf8').trimEnd().split('\n').map((line) => (JSON.parse(line) as { id: string }).id);
    expect(ids).toEqual(batches.flatMap((b) => b.events.map((e) => e.id)));
  });

  it('writes to any stream, and names itself after its destination', async () => {
    const chunks: string[] = [];
    const stream = new Writable({ write: (c: Buffer, _e, cb) => (chunks.push(c.toString()), cb()) });
    const exporter = new NdjsonExporter({ destination: stream });
    expect(await exporter.export(batch(2))).toEqual({ code: 'ok' });
    expect(chunks.join('')).toBe('{"name":"e","id":"id-0","timestamp":0}\n{"name":"e","id":"id-1","timestamp":1}\n');
    expect([exporter.name, new NdjsonExporter().name, new NdjsonExporter({ destination: { path: 'x' } }).name]).toEqual(['ndjson', 'console', 'file']);
  });

  it('rejects when the file cannot be opened (a missing folder), naming the cause', async () => {
    const exporter = new NdjsonExporter({ destination: { path: join(dir, 'missing', 'out.ndjson') } });
    const result = await exporter.export(batch(1));
    expect(result.code).toBe('reject');
    expect(String((result as { error: Error }).error.message)).toContain('ENOENT');
  });
});

describe('FanoutCollector', () => {
  it('feeds every member, so a dead exporter does not stall a healthy one', async () => {
    const delivered: string[] = [];
    const healthy = new BatchProcessor(new FunctionExporter((es) => void delivered.push(...es.map((e) => e.id))), { logger: silentLogger });
    const dead = new BatchProcessor(new FunctionExporter(() => ExportResults.retry({ retryAfterMs: 60_000 })), { logger: silentLogger });
    const fanout = new FanoutCollector([healthy, dead]);
    for (let i = 0; i < 10; i++) fanout.record({ name: 'x' });
    expect((await healthy.flush()).complete).toBe(true);
    expect(delivered).toHaveLength(10);
    const report = await fanout.close({ timeoutMs: 50 });
    expect(report).toMatchObject({ complete: false, exported: 0, droppedByReason: { shutdown_timeout: 10 } });
    const s = fanout.stats();
    expect(s).toMatchObject({ recorded: 20, exported: 10, dropped: 10, queued: 0, inFlight: 0 });
  });
});
