import type { TelemetryEvent } from '@trackpipe/core';
import { MemoryCollector } from '@trackpipe/collector-memory';
import { describe, expect, it } from 'vitest';

// A waitFor predicate or filter is application code run inside record(). When it records into the
// same collector (or closes it), record() still never throws, each record is one event, and every
// wait settles once, with the right event.

describe('waitFor predicates and filters that record into the collector', () => {
  it('never make record() throw when the records they make settle other waits', async () => {
    const collector = new MemoryCollector<TelemetryEvent>();
    const first = collector.waitFor((e) => e.name === 'x');
    const second = collector.waitFor((e) => e.name === 'x');
    let calls = 0;
    const recorder = collector.waitFor((e) => {
      if (calls++ === 0) collector.record({ name: 'x' });
      return e.name === 'a';
    });
    expect(() => collector.record({ name: 'a' })).not.toThrow();
    await expect(first).resolves.toMatchObject({ name: 'x' });
    await expect(second).resolves.toMatchObject({ name: 'x' });
    await expect(recorder).resolves.toMatchObject({ name: 'a' });
    expect(collector.stats()).toMatchObject({ recorded: 2, exported: 2 });
  });

  it('do not recurse: a predicate that records on every call makes one record per call it gets', async () => {
    const collector = new MemoryCollector<TelemetryEvent>();
    const wait = collector.waitFor(
      (e) => {
        collector.record({ name: 'echo' });
        return e.name === 'stop';
      },
      { timeoutMs: 1_000 },
    );
    collector.record({ name: 'a' });
    expect(collector.stats().recorded).toBe(2); // 'a' and the one echo its check recorded
    collector.record({ name: 'stop' });
    await expect(wait).resolves.toMatchObject({ name: 'stop' });
    expect(collector.stats().recorded).toBe(4);
    expect(collector.count({ name: 'echo' })).toBe(2);
  });

  it('keep a count wait exact when its own filter records matching events', async () => {
    const collector = new MemoryCollector<TelemetryEvent>();
    let echoed = false;
    const wait = collector.waitFor(3, {
      where: (e) => {
        if (e.name === 'a' && !echoed) {
          echoed = true;
          collector.record({ name: 'b' });
        }
        return true;
      },
      timeoutMs: 1_000,
    });
    collector.record({ name: 'a' });
    // 'a', then the 'b' its check recorded: two held, both matching.
    collector.record({ name: 'c' });
    const events = await wait;
    expect(events.map((e) => e.name)).toEqual(['a', 'b', 'c']);
  });
});

describe('an event whose getter closes the collector while record() reads it', () => {
  it('is dropped (closed), not kept in the collector close() released', () => {
    const collector = new MemoryCollector<TelemetryEvent>();
    collector.record({
      get name(): string {
        void collector.close();
        return 'closes on read';
      },
    });
    expect(collector.size).toBe(0);
    expect(collector.stats()).toMatchObject({ recorded: 1, exported: 0, dropped: 1, droppedByReason: expect.objectContaining({ closed: 1 }) });
  });
});

describe('an event whose timestamp getter throws after record() admitted it', () => {
  it('is stored and record() does not throw', () => {
    const collector = new MemoryCollector<TelemetryEvent>();
    let reads = 0;
    const event = {
      name: 'clockwork',
      id: 'given',
      get timestamp(): number {
        if (reads++ > 0) throw new Error('timestamp getter broke');
        return 1_700_000_000_000;
      },
    };
    expect(() => collector.record(event)).not.toThrow();
    expect(collector.size).toBe(1);
    expect(collector.stats()).toMatchObject({ recorded: 1, exported: 1, dropped: 0 });
  });
});

describe('a waitFor failure message over events whose name or flagKey cannot be read any more', () => {
  /** Admitted with a string name; later reads throw, or answer a symbol. */
  function hostile(): TelemetryEvent {
    let reads = 0;
    const event = {
      get name(): string {
        if (reads++ > 0) throw new Error('name getter broke');
        return 'hostile';
      },
      get flagKey(): string {
        return Symbol('not text') as unknown as string;
      },
    };
    return event;
  }

  it('rejects the wait with its message on timeout (no uncaught exception from the timer)', async () => {
    const collector = new MemoryCollector<TelemetryEvent>();
    collector.record(hostile());
    await expect(collector.waitFor(2, { timeoutMs: 5 })).rejects.toThrow(/timed out after 5 ms waiting for 2 events; saw 1 event held/);
  });

  it('rejects the wait when close() ends it, and close() does not throw', async () => {
    const collector = new MemoryCollector<TelemetryEvent>();
    collector.record(hostile());
    const waiting = collector.waitFor(2, { timeoutMs: 1_000 });
    expect(() => void collector.close()).not.toThrow();
    await expect(waiting).rejects.toThrow(/closed while waiting for 2 events/);
  });
});
