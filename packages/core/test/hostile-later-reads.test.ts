import { describe, expect, it } from 'vitest';
import { BatchProcessor, type EventQueue, ExportResults, MemoryQueue, type Recorded, type TelemetryEvent, type TrackpipeError, jsonEncoder, plainJsonEvents, silentLogger } from '@trackpipe/core';
import { MemoryExporter, type MemoryExporterOptions } from '@trackpipe/core/testing';
import { watchEscapes } from './support/escapes.js';
import { identityHolds } from './support/events.js';

// record() reads an event once, to admit it; the encoder reads it again at export time, and the
// processor a third time to name it in a message. A getter or proxy may answer differently each time:
// throw, or drop the name it had. Whatever it answers later, the event is dropped alone, counted, and
// nothing escapes — not from flush(), not from the microtask or timer that runs the pump.

const escaped = watchEscapes();

/**
 * An event with a complete id and timestamp (so record() reads the id once) whose id getter answers
 * the first `good` reads, then throws.
 */
function idThrowsLater(good = 1): TelemetryEvent {
  let reads = 0;
  return {
    name: 'changing',
    timestamp: 1_700_000_000_000,
    get id(): string {
      if (reads++ >= good) throw new Error('the id is gone');
      return 'id-first-read';
    },
  };
}

function setup(options: MemoryExporterOptions<Recorded<TelemetryEvent>> = {}, maxBatchSize = 512) {
  const exporter = new MemoryExporter(options);
  const errors: TrackpipeError[] = [];
  const processor = new BatchProcessor(exporter, { logger: silentLogger, onError: (e) => errors.push(e), flushIntervalMs: 60_000, maxBatchSize });
  return { exporter, processor, errors };
}

describe('an event whose id getter throws after record() admitted it', () => {
  it('is dropped alone (unserializable) and flush() resolves instead of throwing', async () => {
    escaped.length = 0;
    const { exporter, processor, errors } = setup();
    processor.record({ name: 'before' });
    processor.record(idThrowsLater());
    processor.record({ name: 'after' });
    // A synchronous throw from flush() becomes a rejection here, so the assertion can say so.
    const flushing = new Promise((resolve) => resolve(processor.flush()));
    await expect(flushing).resolves.toMatchObject({ complete: true, exported: 2, dropped: 1, droppedByReason: { unserializable: 1 }, remaining: 0 });
    expect(exporter.events.map((e) => e.name)).toEqual(['before', 'after']);
    expect(errors.map((e) => e.code)).toEqual(['TRACKPIPE_ERR_EVENT_UNSERIALIZABLE']);
    expect(errors[0]?.message).toContain('its id cannot be read');
    expect(identityHolds(processor.stats())).toBe(true);
    expect(escaped).toEqual([]);
  });

  it('is dropped alone when a full batch starts the export by itself: no exception escapes the pump', async () => {
    escaped.length = 0;
    const { exporter, processor } = setup({}, 2);
    processor.record(idThrowsLater());
    processor.record({ name: 'second' });
    processor.record({ name: 'third' });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(escaped).toEqual([]);
    expect(exporter.events.map((e) => e.name)).toEqual(['second', 'third']);
    expect(processor.stats()).toMatchObject({ recorded: 3, exported: 2, dropped: 1, queued: 0, inFlight: 0 });
    await processor.close();
  });

  it('is dropped alone when a batch encoder halves a batch the destination found too large, and no event goes missing', async () => {
    // Read by record() and by the first encoding of the whole batch; it throws when the halves are encoded.
    escaped.length = 0;
    const { exporter, processor } = setup({ encodeBatch: (events: readonly TelemetryEvent[]) => Buffer.from(JSON.stringify(events)) });
    exporter.script(ExportResults.tooLarge());
    processor.record({ name: 'a' });
    processor.record({ name: 'b' });
    processor.record(idThrowsLater(2));
    processor.record({ name: 'c' });
    const report = await processor.flush({ timeoutMs: 5_000 });
    expect(report).toMatchObject({ complete: true, exported: 3, droppedByReason: { unserializable: 1 }, remaining: 0 });
    expect(exporter.events.map((e) => e.name).sort()).toEqual(['a', 'b', 'c']);
    expect(identityHolds(processor.stats())).toBe(true);
    expect(escaped).toEqual([]);
  });
});

/** An event whose name getter answers `first` once (to record()), then `later` on every read. */
function nameChangesLater(later: unknown): TelemetryEvent {
  let reads = 0;
  return {
    attributes: { plan: 'pro' },
    get name(): string {
      return (reads++ === 0 ? 'first' : later) as string;
    },
  };
}

/** A proxy over a named event whose `get` trap answers the name once, then nothing. */
function proxyForgetsName(): TelemetryEvent {
  let reads = 0;
  return new Proxy({ attributes: { plan: 'pro' }, name: 'first' }, {
    get: (target, key, receiver): unknown => (key === 'name' && reads++ > 0 ? undefined : Reflect.get(target, key, receiver)),
  });
}

/** A batch encoder as the HTTP exporter's JSON format builds one: one JSON.stringify when plainJsonEvents allows it. */
function wholeJson(events: readonly TelemetryEvent[]): Uint8Array {
  return Buffer.from(plainJsonEvents(events) ? JSON.stringify(events) : `[${events.map((e) => jsonEncoder(e)).join(',')}]`);
}

describe('an event whose name reads differently at export time than when record() admitted it', () => {
  const changing: [string, () => TelemetryEvent][] = [
    ['a name getter that answers undefined later', () => nameChangesLater(undefined)],
    ['a name getter that answers an empty string later', () => nameChangesLater('')],
    ['a name getter that answers a number later', () => nameChangesLater(42)],
    ['a proxy whose get trap forgets the name', proxyForgetsName],
  ];

  it.each(changing)('is dropped alone (unserializable) for %s, never sent without a name, encoded event by event', async (_, make) => {
    const { exporter, processor, errors } = setup();
    processor.record({ name: 'before' });
    processor.record(make());
    processor.record({ attributes: {}, name: 'after' });
    const report = await processor.flush();
    expect(report).toMatchObject({ complete: true, exported: 2, droppedByReason: { unserializable: 1 } });
    expect(exporter.calls.flatMap((c) => c.encoded).map((text) => (JSON.parse(text) as { name?: unknown }).name)).toEqual(['before', 'after']);
    expect(errors[0]?.message).toContain("the event's JSON has no non-empty string name");
    expect(identityHolds(processor.stats())).toBe(true);
  });

  it.each(changing)('is dropped alone (unserializable) for %s, never sent without a name, encoded as a whole batch', async (_, make) => {
    const { exporter, processor } = setup({ encodeBatch: wholeJson });
    processor.record({ name: 'before' });
    processor.record(make());
    processor.record({ attributes: {}, name: 'after' });
    const report = await processor.flush();
    expect(report).toMatchObject({ complete: true, exported: 2, droppedByReason: { unserializable: 1 } });
    const sent = exporter.calls.flatMap((c) => JSON.parse(Buffer.from(c.payload!).toString()) as { name?: unknown }[]);
    expect(sent.map((e) => e.name)).toEqual(['before', 'after']);
  });

});

describe('a queue that hands an event over as JSON that does not parse (a forged spool value)', () => {
  it('drops the event alone when the destination finds it too large, naming no id, with no internal error', async () => {
    const queue = new MemoryQueue<Recorded<TelemetryEvent>>(10);
    const texts = Object.assign(queue, { peekEncoded: () => (queue.size > 0 ? '{"name":"forged", "SECRET' : undefined), takeEncoded: () => void queue.shift() });
    const errors: TrackpipeError[] = [];
    const processor = new BatchProcessor(
      { name: 'refuses', export: () => Promise.resolve(ExportResults.tooLarge()) },
      { logger: silentLogger, onError: (e) => errors.push(e), flushIntervalMs: 60_000, queue: texts as unknown as EventQueue<never> },
    );
    processor.record({ name: 'forged' });
    const report = await processor.flush({ timeoutMs: 5_000 });
    expect(report.droppedByReason).toEqual({ too_large: 1 });
    expect(errors.map((e) => e.code)).toEqual(['TRACKPIPE_ERR_EXPORT_TOO_LARGE']);
    expect(errors[0]!.message).toContain('(it cannot be read)');
    expect(JSON.stringify(errors.map((e) => e.message))).not.toContain('SECRET');
    await processor.close({ timeoutMs: 1_000 });
  });
});
