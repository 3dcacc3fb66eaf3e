import { describe, expect, it } from 'vitest';
import { BatchProcessor, type Exporter, ExportResults, type Recorded, type TelemetryEvent, type TrackpipeError, silentLogger } from '@trackpipe/core';
import { watchEscapes } from './support/escapes.js';
import { identityHolds } from './support/events.js';

// An exporter's encodeBatch is application code: what it returns passed `instanceof Uint8Array`, but
// a subclass or a proxy may answer anything when its length is read. Such a payload is an encoding
// failure like a throw: the batch is halved until the event alone is dropped (unserializable), and
// nothing escapes flush() or the pump.

const escaped = watchEscapes();

class LengthThrows extends Uint8Array {
  override get length(): number {
    throw new Error('no length for you');
  }
}
class LengthNaN extends Uint8Array {
  override get length(): number {
    return Number.NaN;
  }
}

describe.each<[string, () => Uint8Array]>([
  ['whose length getter throws', () => new LengthThrows(4)],
  ['whose length is NaN', () => new LengthNaN(4)],
  ['that is a proxy of a Uint8Array', () => new Proxy(new Uint8Array(4), {})],
])('encodeBatch returning a Uint8Array %s', (_, payload) => {
  it('drops the events it encodes so (unserializable), exports the rest, and flush() resolves', async () => {
    escaped.length = 0;
    const exported: string[] = [];
    const errors: TrackpipeError[] = [];
    const exporter: Exporter<Recorded<TelemetryEvent>> = {
      name: 'odd-payload',
      encodeBatch: (events) => (events.some((e) => e.name === 'odd') ? payload() : Buffer.from(JSON.stringify(events))),
      export: (batch) => {
        for (const e of batch.events) exported.push(e.name);
        return Promise.resolve(ExportResults.ok());
      },
    };
    const processor = new BatchProcessor(exporter, { logger: silentLogger, onError: (e) => errors.push(e), flushIntervalMs: 60_000 });
    processor.record({ name: 'before' });
    processor.record({ name: 'odd' });
    processor.record({ name: 'after' });
    const flushing = new Promise((resolve) => resolve(processor.flush({ timeoutMs: 2_000 })));
    await expect(flushing).resolves.toMatchObject({ complete: true, exported: 2, dropped: 1, droppedByReason: { unserializable: 1 } });
    expect(exported).toEqual(['before', 'after']);
    expect(errors.map((e) => e.code)).toEqual(['TRACKPIPE_ERR_EVENT_UNSERIALIZABLE']);
    expect(identityHolds(processor.stats())).toBe(true);
    await processor.close();
    expect(escaped).toEqual([]);
  });
});
