import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchProcessor, ExportResults, type Logger, type TelemetryEvent, type TrackpipeError } from '@trackpipe/core';
import { MemoryExporter, type MemoryExporterOptions } from '@trackpipe/core/testing';
import { identityHolds } from './support/events.js';

// record() reads an event once, to admit it; the encoder reads it again at export time, and the
// processor a third time to name it in a message. A getter or proxy may answer differently each time:
// throw, or drop the name it had. Whatever it answers later, the event is dropped alone, counted, and
// nothing escapes — not from flush(), not from the microtask or timer that runs the pump.

const quiet: Logger = { warn: () => undefined, error: () => undefined };

const escaped: unknown[] = [];
const onEscaped = (reason: unknown): void => void escaped.push(reason);
beforeAll(() => {
  process.on('unhandledRejection', onEscaped);
  process.on('uncaughtException', onEscaped);
});
afterAll(() => {
  process.off('unhandledRejection', onEscaped);
  process.off('uncaughtException', onEscaped);
});

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

function setup(options: MemoryExporterOptions = {}, maxBatchSize = 512) {
  const exporter = new MemoryExporter(options);
  const errors: TrackpipeError[] = [];
  const processor = new BatchProcessor(exporter, { logger: quiet, onError: (e) => errors.push(e), flushIntervalMs: 60_000, maxBatchSize });
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
    const { exporter, processor } = setup({ encodeBatch: (events) => Buffer.from(JSON.stringify(events)) });
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
