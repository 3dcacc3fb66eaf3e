// A processor started on a spool that holds a backlog (a restart): the events read back from disk
// reach the exporter as text (their JSON, parsed only if the exporter reads batch.events). Whatever
// the exporter: every event delivered once, in order, equal to what was stored; the HTTP exporter's
// Idempotency-Key is the one idempotencyKey() gives for the batch's events.
import { type IncomingMessage, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BatchProcessor, type Exporter, ExportResults, FunctionExporter, type Recorded, type TelemetryEvent, jsonEncoder, silentLogger } from '@trackpipe/core';
import { MemoryExporter } from '@trackpipe/core/testing';
import { HttpExporter, idempotencyKey } from '@trackpipe/exporter-http';
import { Spool } from '../src/index.js';
import { tempDir } from './helpers.js';

type Event = Recorded<TelemetryEvent>;

let dir: string;
let cleanup: () => void;
beforeEach(() => {
  ({ dir, cleanup } = tempDir('trackpipe-spool-restart-'));
});
afterEach(() => cleanup());

const STORED = 40;

/** What a previous run left in the spool: events as the processor records them (id, timestamp), with awkward text. */
async function backlog(): Promise<Event[]> {
  const events: Event[] = Array.from({ length: STORED }, (_, n) => ({
    id: `0190-${String(n).padStart(4, '0')}`,
    timestamp: 1_700_000_000_000 + n,
    name: n % 3 === 0 ? 'checkout.completed' : 'flag',
    attributes: { n, text: `é"\\\n\u2028 ${'x'.repeat(n * 7)}`, ok: n % 2 === 0, ratio: n / 7 },
  }));
  const spool = new Spool<Event>({ path: dir, logger: silentLogger, sync: { maxEvents: 9 } });
  for (const event of events) spool.push(event);
  expect(await spool.persisted()).toBe(true);
  await spool.close();
  return events;
}

/** A real HTTP server on 127.0.0.1 recording each accepted body and its headers; answers 413 to bodies over `maxEvents` events. */
async function destination(count: (body: string) => number, maxEvents = Infinity) {
  const accepted: { body: Buffer; key: string }[] = [];
  let tooLarge = 0;
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      if (count(body.toString()) > maxEvents) {
        tooLarge++;
        response.writeHead(413).end();
        return;
      }
      accepted.push({ body, key: String(request.headers['idempotency-key']) });
      response.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`,
    accepted,
    tooLarge: () => tooLarge,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const otlpCount = (body: string): number =>
  (JSON.parse(body) as { resourceLogs: { scopeLogs: { logRecords: unknown[] }[] }[] }).resourceLogs[0]!.scopeLogs[0]!.logRecords.length;
const jsonCount = (body: string): number => (JSON.parse(body) as unknown[]).length;
const ndjsonCount = (body: string): number => body.split('\n').filter((l) => l !== '').length;

/** Runs a processor with `exporter` on the spool until it delivered everything; the backlog must be gone after. */
async function drain(exporter: Exporter<Event>, maxBatchBytes?: number): Promise<void> {
  const processor = new BatchProcessor<TelemetryEvent>(exporter, {
    logger: silentLogger,
    queue: new Spool({ path: dir, logger: silentLogger, memoryEvents: 8 }),
    maxBatchSize: 7,
    ...(maxBatchBytes === undefined ? {} : { maxBatchBytes }),
    retry: { initialBackoffMs: 5, maxBackoffMs: 20, maxElapsedMs: 30_000 },
  });
  try {
    expect((await processor.flush({ timeoutMs: 8_000 })).complete).toBe(true);
    expect(processor.stats()).toMatchObject({ exported: STORED, dropped: 0 });
  } finally {
    await processor.close({ timeoutMs: 2_000 });
  }
  const again = new Spool<Event>({ path: dir, logger: silentLogger });
  const recovered = again.open({ dropped: () => undefined, ready: () => undefined });
  await again.close();
  expect(recovered).toBe(0);
}

describe('a processor restarted on a spool with a backlog', () => {
  it.each<[string, (e: readonly Event[]) => Exporter<Event>]>([
    ['MemoryExporter (reads batch.events)', () => new MemoryExporter<Event>()],
    ['MemoryExporter with jsonEncoder (texts reused)', () => new MemoryExporter<Event>({ encoder: jsonEncoder })],
  ])('delivers every stored event once, in order, equal to what was stored: %s', async (_what, make) => {
    const stored = await backlog();
    const exporter = make(stored) as MemoryExporter<Event>;
    await drain(exporter);
    expect(exporter.events).toEqual(stored);
    for (const call of exporter.calls) if (call.encoded.length > 0) expect(call.encoded).toEqual(call.events.map((e) => JSON.stringify(e)));
  });

  it('hands a FunctionExporter the stored events, once, in order, whether it reads events or only the texts', async () => {
    const stored = await backlog();
    const texts: string[] = [];
    await drain(
      new FunctionExporter<Event>(
        (_events, { batch }) => {
          for (const text of batch.encoded) texts.push(text);
          return ExportResults.ok();
        },
        { encoder: jsonEncoder },
      ),
    );
    expect(texts.map((t) => JSON.parse(t) as Event)).toEqual(stored);
  });

  it.each<[string, 'json' | 'ndjson' | 'otlp' | 'custom' | 'custom-json', (body: string) => number, number]>([
    ['json', 'json', jsonCount, Infinity],
    ['json, halved on 413 above 3 events', 'json', jsonCount, 3],
    ['ndjson', 'ndjson', ndjsonCount, Infinity],
    ['ndjson, halved on 413 above 2 events', 'ndjson', ndjsonCount, 2],
    ['otlp', 'otlp', otlpCount, Infinity],
    ['otlp, halved on 413 above 3 events', 'otlp', otlpCount, 3],
    ['a custom serializer', 'custom', jsonCount, Infinity],
    ['a custom serializer with jsonEncoder, halved on 413 above 3 events', 'custom-json', jsonCount, 3],
  ])('sends every stored event once, in order, with the idempotency key of its events: HttpExporter %s', async (_what, format, count, maxEvents) => {
    const stored = await backlog();
    const server = await destination(count, maxEvents);
    const exporter = new HttpExporter<Event>({
      url: server.url,
      compression: 'none',
      format:
        format === 'custom' || format === 'custom-json'
          ? {
              contentType: 'application/json',
              ...(format === 'custom-json' ? { encoder: jsonEncoder } : {}),
              body: (encoded: readonly string[], events: readonly Event[]) => {
                expect(events.map((e) => JSON.stringify(e))).toEqual(encoded);
                return `[${encoded.join(',')}]`;
              },
            }
          : format,
    });
    try {
      await drain(exporter);
    } finally {
      await exporter.shutdown();
      await server.close();
    }
    if (maxEvents !== Infinity) expect(server.tooLarge()).toBeGreaterThan(0);
    // Batches may land out of order (two exports in flight): each is a run of the stored events, all of them once.
    const delivered = new Array<number>(STORED).fill(0);
    for (const { body, key } of server.accepted) {
      const text = body.toString();
      const at = format === 'otlp' ? otlpFirst(text) : (format === 'ndjson' ? ndjsonLines(text) : (JSON.parse(text) as Event[]))[0]!.attributes!['n'] as number;
      const events = stored.slice(at, at + count(text));
      if (format !== 'otlp') expect(format === 'ndjson' ? ndjsonLines(text) : JSON.parse(text)).toEqual(events);
      expect(key).toBe(idempotencyKey(events, body));
      for (let i = at; i < at + events.length; i++) delivered[i]!++;
    }
    expect(delivered).toEqual(new Array<number>(STORED).fill(1));
  });

  it('cuts batches of events read back from disk at maxBatchBytes', async () => {
    const stored = await backlog();
    const exporter = new MemoryExporter<Event>({ encoder: jsonEncoder });
    const limit = 600;
    await drain(exporter, limit);
    expect(exporter.events).toEqual(stored);
    for (const call of exporter.calls) {
      const bytes = call.encoded.reduce((n, t) => n + Buffer.byteLength(t), 0);
      if (call.encoded.length > 1) expect(bytes).toBeLessThanOrEqual(limit);
    }
    expect(exporter.calls.length).toBeGreaterThan(STORED / 7);
  });
});

/** The attribute `n` of a body's first OTLP log record. */
function otlpFirst(body: string): number {
  const first = (JSON.parse(body) as { resourceLogs: { scopeLogs: { logRecords: { attributes: { key: string; value: Record<string, unknown> }[] }[] }[] }[] })
    .resourceLogs[0]!.scopeLogs[0]!.logRecords[0]!;
  const value = first.attributes.find((a) => a.key === 'n')!.value;
  return Number(value['intValue'] ?? value['doubleValue']);
}

function ndjsonLines(body: string): Event[] {
  return body
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Event);
}

describe('a processor restarted on a backlog with an event the spool drops when it reads it back', () => {
  it.each<[string, number, 'json' | 'own' | 'whole']>([
    ['first, texts taken as they are (jsonEncoder)', 0, 'json'],
    ['first, events parsed (an encoder of its own)', 0, 'own'],
    ['first, batches encoded whole (encodeBatch)', 0, 'whole'],
    ['in the middle, texts taken as they are (jsonEncoder)', 3, 'json'],
    ['in the middle, events parsed (an encoder of its own)', 3, 'own'],
    ['in the middle, batches encoded whole (encodeBatch)', 3, 'whole'],
  ])('releases exactly the keys it exported: nothing comes back after the next restart (the dropped one %s)', async (_what, at, encoding) => {
    const events: Event[] = Array.from({ length: 6 }, (_, n) => ({ id: `id-${n}`, timestamp: n, name: 'e', attributes: { n } }));
    {
      const spool = new Spool<Event & { big?: bigint }>({ path: dir, logger: silentLogger });
      for (let n = 0; n <= events.length; n++) {
        // Stored as null (JSON has no BigInt): dropped, counted, when read back.
        if (n === at) spool.push({ id: 'poison', timestamp: 0, name: 'e', big: 1n });
        if (n < events.length) spool.push(events[n]!);
      }
      expect(await spool.persisted()).toBe(true);
      await spool.close();
    }
    const exporter = new MemoryExporter<Event>(
      encoding === 'whole' ? { encoder: (e) => JSON.stringify(e), encodeBatch: (batch) => Buffer.from(JSON.stringify(batch)) } : { encoder: encoding === 'json' ? jsonEncoder : (e) => JSON.stringify(e) },
    );
    const processor = new BatchProcessor<TelemetryEvent>(exporter, { logger: silentLogger, queue: new Spool({ path: dir, logger: silentLogger }) });
    try {
      expect((await processor.flush({ timeoutMs: 5_000 })).complete).toBe(true);
      expect(processor.stats()).toMatchObject({ exported: 6, dropped: 1 });
    } finally {
      await processor.close({ timeoutMs: 2_000 });
    }
    expect(exporter.events).toEqual(events);
    const again = new Spool<Event>({ path: dir, logger: silentLogger });
    const recovered = again.open({ dropped: () => undefined, ready: () => undefined });
    await again.close();
    expect(recovered).toBe(0);
  });
});

describe('a processor restarted on a backlog, its spool full under drop-oldest', () => {
  it('drops the oldest events on disk, counted, exports the rest once, and releases exactly what it exported', async () => {
    const stored = await backlog();
    const exporter = new MemoryExporter<Event>({ encoder: jsonEncoder }).holdNext(2);
    const processor = new BatchProcessor<TelemetryEvent>(exporter, {
      logger: silentLogger,
      queue: new Spool({ path: dir, logger: silentLogger, memoryEvents: 4, maxBytes: 8 * 1024, overflow: 'drop-oldest' }),
      maxBatchSize: 5,
    });
    let recorded = 0;
    try {
      // Two batches held; the spool's disk backlog is dropped from its oldest end while events keep coming.
      await new Promise((resolve) => setTimeout(resolve, 50));
      for (let i = 0; i < 60; i++, recorded++) processor.record({ name: 'later', attributes: { i, pad: 'y'.repeat(100) } });
      await new Promise((resolve) => setTimeout(resolve, 50));
      exporter.release();
      expect((await processor.flush({ timeoutMs: 8_000 })).complete).toBe(true);
    } finally {
      await processor.close({ timeoutMs: 2_000 });
    }
    const stats = processor.stats();
    const exported = exporter.events;
    expect(stats.droppedByReason).toMatchObject({ spool_full: expect.any(Number) });
    const dropped = (stats.droppedByReason as Record<string, number>)['spool_full']!;
    expect(dropped).toBeGreaterThan(0);
    expect(exported.length + dropped).toBe(STORED + recorded);
    expect(new Set(exported.map((e) => e.id)).size).toBe(exported.length);
    // The stored ones exported are in order (the oldest dropped, not exported).
    const fromDisk = exported.filter((e) => e.name !== 'later').map((e) => e.attributes!['n'] as number);
    expect(fromDisk).toEqual([...fromDisk].sort((a, b) => a - b));
    for (const e of exported.filter((x) => x.name !== 'later')) expect(e).toEqual(stored[e.attributes!['n'] as number]);
    const again = new Spool<Event>({ path: dir, logger: silentLogger });
    const recovered = again.open({ dropped: () => undefined, ready: () => undefined });
    await again.close();
    expect(recovered).toBe(0);
  });
});
