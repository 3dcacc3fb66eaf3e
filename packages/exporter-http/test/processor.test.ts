import { afterEach, describe, expect, it } from 'vitest';
import { BatchProcessor, type CollectorStats, type ExportBatch, type ExportResult, type Recorded, silentLogger, type TelemetryEvent } from '@trackpipe/core';
import { HttpExporter, type HttpExporterOptions } from '@trackpipe/exporter-http';
import { TestServer } from './helpers/test-server.js';

let server: TestServer | undefined;
let processor: BatchProcessor | undefined;
afterEach(async () => {
  await processor?.close({ timeoutMs: 1000 });
  await server?.stop();
  processor = undefined;
  server = undefined;
});

function expectIdentity(stats: CollectorStats): void {
  expect(stats.recorded).toBe(stats.exported + stats.dropped + stats.queued + stats.inFlight);
}

describe('HttpExporter under a real BatchProcessor', () => {
  it('splits batches a server answers 413 to until every event is accepted, and drops alone an event too large by itself', async () => {
    const MAX_EVENTS = 7;
    const received = new Map<string, number>();
    let tooLarge = 0;
    server = await TestServer.start({
      handler: (request) => {
        const list = request.json() as { id: string; attributes?: { huge?: boolean } }[];
        if (list.length > MAX_EVENTS || list.some((e) => e.attributes?.huge === true)) {
          tooLarge++;
          return { status: 413, body: 'payload too large' };
        }
        for (const e of list) received.set(e.id, (received.get(e.id) ?? 0) + 1);
        return { status: 200 };
      },
    });
    processor = new BatchProcessor(new HttpExporter({ url: server.url() }), { maxBatchSize: 64, logger: silentLogger });
    const recorded: TelemetryEvent[] = [];
    for (let i = 0; i < 200; i++) {
      const event: TelemetryEvent = { name: 'split.me', attributes: { i, huge: i === 77 } };
      processor.record(event);
      recorded.push(event);
    }
    const report = await processor.flush({ timeoutMs: 20_000 });

    expect(report.complete).toBe(true);
    expect(tooLarge).toBeGreaterThan(0);
    const stats = processor.stats();
    expect(stats.exported).toBe(199);
    expect(stats.droppedByReason.too_large).toBe(1);
    expect(stats.dropped).toBe(1);
    expectIdentity(stats);
    for (const event of recorded) {
      expect(received.get(event.id!)).toBe(event.attributes?.huge === true ? undefined : 1);
    }
  });

  it('counts an OTLP partial success as exported minus the rejected records', async () => {
    server = await TestServer.start({
      handler: () => ({ status: 200, body: JSON.stringify({ partialSuccess: { rejectedLogRecords: 2, errorMessage: 'invalid attribute' } }) }),
    });
    const errors: string[] = [];
    processor = new BatchProcessor(new HttpExporter({ url: server.url('/v1/logs'), format: 'otlp' }), {
      maxBatchSize: 10,
      logger: silentLogger,
      onError: (error) => errors.push(error.code),
    });
    for (let i = 0; i < 10; i++) processor.record({ name: 'partial', attributes: { i } });
    await processor.flush({ timeoutMs: 20_000 });
    const stats = processor.stats();
    expect(stats.exported).toBe(8);
    expect(stats.droppedByReason.rejected).toBe(2);
    expect(errors).toContain('TRACKPIPE_ERR_EXPORT_REJECTED');
    expectIdentity(stats);
  });

  it('sends no null or text for events whose toJSON is not an object: they are dropped alone as unserializable', async () => {
    const bodies: unknown[] = [];
    server = await TestServer.start({
      handler: (request) => {
        bodies.push(request.json());
        return { status: 200 };
      },
    });
    processor = new BatchProcessor(new HttpExporter({ url: server.url() }), { logger: silentLogger });
    processor.record({ name: 'a' });
    processor.record({ name: 'undefined', toJSON: () => undefined } as TelemetryEvent);
    processor.record({ name: 'text', toJSON: () => 'text' } as TelemetryEvent);
    processor.record({ name: 'object', toJSON: () => ({ name: 'object' }) } as TelemetryEvent);
    processor.record({ name: 'b' });
    await processor.flush({ timeoutMs: 20_000 });
    expect(bodies.flat().map((e) => (e as { name?: string } | null)?.name ?? e)).toEqual(['a', 'object', 'b']);
    const stats = processor.stats();
    expect(stats).toMatchObject({ exported: 3, droppedByReason: expect.objectContaining({ unserializable: 2 }) });
    expectIdentity(stats);
  });

  it('sends only named objects when a batch holds events JSON would write without their name or as a list: those are dropped alone', async () => {
    const bodies: unknown[] = [];
    server = await TestServer.start({
      handler: (request) => {
        for (const line of request.text().split('\n')) if (line !== '') bodies.push(JSON.parse(line));
        return { status: 200 };
      },
    });
    class Getter {
      get name(): string {
        return 'getter';
      }
    }
    for (const format of ['json', 'ndjson'] as const) {
      bodies.length = 0;
      processor = new BatchProcessor(new HttpExporter({ url: server.url(), format, compression: 'none' }), { logger: silentLogger });
      processor.record({ name: 'a' });
      processor.record(new Getter());
      processor.record(Object.assign([], { name: 'list' }));
      processor.record(new Error('boom'));
      processor.record({ name: 'b' });
      await processor.close({ timeoutMs: 20_000 });
      expect(bodies.flat().map((e) => (e as { name?: unknown }).name)).toEqual(['a', 'b']);
      const stats = processor.stats();
      expect(stats).toMatchObject({ exported: 2, droppedByReason: expect.objectContaining({ unserializable: 3 }) });
      expectIdentity(stats);
    }
  });

  it('drops a batch the server rejects permanently, without retrying it', async () => {
    server = await TestServer.start({ handler: () => ({ status: 400, body: 'schema mismatch' }) });
    const messages: string[] = [];
    processor = new BatchProcessor(new HttpExporter({ url: server.url() }), {
      maxBatchSize: 5,
      logger: silentLogger,
      onError: (error) => messages.push(error.message),
    });
    for (let i = 0; i < 5; i++) processor.record({ name: 'bad' });
    await processor.flush({ timeoutMs: 20_000 });
    const stats = processor.stats();
    expect(server.requests).toHaveLength(1);
    expect(stats.droppedByReason.rejected).toBe(5);
    expect(stats.retries).toBe(0);
    expect(messages.some((m) => m.includes('HTTP 400') && m.includes('schema mismatch'))).toBe(true);
  });
});

/** An HttpExporter that notes how each batch reached it: as one payload, or as encoded events. */
class NotingExporter extends HttpExporter {
  readonly paths: ('payload' | 'encoded')[] = [];
  override async export(batch: ExportBatch<Recorded<TelemetryEvent>>, signal: AbortSignal): Promise<ExportResult> {
    this.paths.push(batch.payload === undefined ? 'encoded' : 'payload');
    return super.export(batch, signal);
  }
}

/** The ids in a body of any of the formats used below. */
function idsIn(text: string, format: string): string[] {
  if (format === 'ndjson') return text.split('\n').filter((line) => line !== '').map((line) => (JSON.parse(line) as { id: string }).id);
  const parsed = JSON.parse(text) as unknown;
  if (format === 'otlp') {
    const records = (parsed as { resourceLogs: { scopeLogs: { logRecords: { attributes: { key: string; value: { stringValue: string } }[] }[] }[] }[] })
      .resourceLogs[0]!.scopeLogs[0]!.logRecords;
    return records.map((r) => r.attributes.find((a) => a.key === 'log.record.uid')!.value.stringValue);
  }
  return (parsed as { id?: string; only?: string }[]).map((e) => e.id ?? e.only!);
}

describe.each([
  ['json', { format: 'json' }, 'payload'],
  ['otlp', { format: 'otlp' }, 'payload'],
  ['json with a custom encoder', { format: 'json', encoder: (e: TelemetryEvent) => JSON.stringify({ only: e.id, n: e.attributes?.n }) }, 'encoded'],
  ['ndjson', { format: 'ndjson' }, 'encoded'],
] as const)('through a BatchProcessor, %s', (_label, options, path) => {
  it(`reaches the exporter ${path === 'payload' ? 'encoded at once' : 'event by event'}, delivers every event once, and drops an unserializable one alone`, async () => {
    const format = options.format;
    const received: string[] = [];
    server = await TestServer.start({
      handler: (request) => {
        received.push(...idsIn(request.text(), format));
        return { status: 200 };
      },
    });
    const exporter = new NotingExporter({ url: server.url(), ...(options as Partial<HttpExporterOptions>) });
    processor = new BatchProcessor(exporter, { maxBatchSize: 20, logger: silentLogger });
    const ids: string[] = [];
    // A cycle: no format can write it (JSON.stringify throws; the OTLP writer runs out of stack).
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    for (let i = 0; i < 60; i++) {
      const event: TelemetryEvent = { name: 'paths', attributes: { n: i === 33 ? (cyclic as unknown as number) : i } };
      processor.record(event);
      if (i !== 33) ids.push(event.id!);
    }
    const report = await processor.flush({ timeoutMs: 20_000 });
    expect(report.complete).toBe(true);
    expect(new Set(exporter.paths)).toEqual(new Set([path]));
    expect(received.sort()).toEqual(ids.sort());
    expect(processor.stats()).toMatchObject({ exported: 59, dropped: 1, droppedByReason: expect.objectContaining({ unserializable: 1 }) });
  });
});
