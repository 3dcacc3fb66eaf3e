import { describe, expect, it } from 'vitest';
import { BatchProcessor, type Collector, type CollectorStats, FanoutCollector, type FlushReport, FunctionExporter, type Logger, silentLogger, type TelemetryEvent } from '@trackpipe/core';

/** A processor whose exporter keeps what it was given. */
function keeping(): { processor: BatchProcessor; delivered: TelemetryEvent[] } {
  const delivered: TelemetryEvent[] = [];
  const processor = new BatchProcessor(new FunctionExporter((events) => void delivered.push(...events)), { logger: silentLogger });
  return { processor, delivered };
}

/** A caller's collector that breaks the contract: every method throws or rejects. */
function broken(): Collector {
  const boom = (): never => {
    throw new Error('member broke: token=abc.def.ghi Bearer s3cr3t-value');
  };
  return {
    record: boom,
    flush: boom,
    close: () => Promise.reject(new Error('close broke')),
    stats: () => ({}) as CollectorStats,
    headroom: () => 0,
    persisted: () => Promise.reject(new Error('persisted broke')),
  };
}

function capturing(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { lines, logger: { warn: (m, f) => void lines.push(`${m} ${JSON.stringify(f)}`), error: (m, f) => void lines.push(`${m} ${JSON.stringify(f)}`) } };
}

describe('FanoutCollector', () => {
  it('gives a frozen event the same id in every member (each completed a copy of its own, with its own id)', async () => {
    const a = keeping();
    const b = keeping();
    const fanout = new FanoutCollector([a.processor, b.processor]);
    fanout.record(Object.freeze({ name: 'frozen' }));
    fanout.record(Object.freeze({ name: 'frozen', id: 'given' }));
    await fanout.close();
    expect(a.delivered).toHaveLength(2);
    expect(b.delivered.map((e) => [e.id, e.timestamp])).toEqual(a.delivered.map((e) => [e.id, e.timestamp]));
    expect(a.delivered[1]!.id).toBe('given');
  });

  it('counts a refused event once per member, as each member does alone', async () => {
    const a = keeping();
    const b = keeping();
    const fanout = new FanoutCollector([a.processor, b.processor]);
    fanout.record({ name: '' });
    fanout.record(null as unknown as TelemetryEvent);
    await fanout.close();
    expect(fanout.stats()).toMatchObject({ recorded: 4, dropped: 4, droppedByReason: { invalid: 4 } });
  });

  it("keeps a member that throws from the others: record(), flush(), close() and persisted() do not throw, the breach is reported once per call, redacted", async () => {
    const good = keeping();
    const { logger, lines } = capturing();
    const fanout = new FanoutCollector([broken(), good.processor], { logger });
    expect(() => {
      fanout.record({ name: 'one' });
      fanout.record({ name: 'two' });
    }).not.toThrow();
    const flushed: FlushReport = await fanout.flush();
    expect(flushed).toMatchObject({ complete: false, exported: 2 });
    expect(await fanout.persisted()).toBe(false);
    const closed = await fanout.close();
    expect(closed.complete).toBe(false);
    expect(good.delivered.map((e) => e.name)).toEqual(['one', 'two']);
    expect(lines.filter((l) => l.includes('record()'))).toHaveLength(1);
    expect(lines.filter((l) => l.includes('flush()'))).toHaveLength(1);
    expect(lines.filter((l) => l.includes('close()'))).toHaveLength(1);
    expect(lines.join('\n')).not.toContain('s3cr3t-value');
    expect(lines.join('\n')).not.toContain('abc.def.ghi');
  });

  it('survives a logger that throws while it reports a breach', () => {
    const good = keeping();
    const fanout = new FanoutCollector([broken(), good.processor], {
      logger: {
        warn: () => undefined,
        error: () => {
          throw new Error('logger broke');
        },
      },
    });
    expect(() => fanout.record({ name: 'x' })).not.toThrow();
    expect(good.processor.stats().recorded).toBe(1);
  });
});

describe('FanoutCollector with a member whose flush() or close() answers something that is no report', () => {
  const answers: [string, () => unknown][] = [
    ['undefined', () => undefined],
    ['null', () => null],
    ['a number', () => 42],
    ['an object whose getters throw', () => ({
      get complete(): boolean {
        throw new Error('getter broke');
      },
    })],
    ['a report whose droppedByReason is no object', () => ({ complete: true, exported: 0, dropped: 0, droppedByReason: null, remaining: 0 })],
  ];
  it.each(answers)('resolves, counting the member incomplete, when it answers %s', async (_, answer) => {
    const good = keeping();
    const { logger, lines } = capturing();
    const odd: Collector = {
      record: () => undefined,
      flush: () => Promise.resolve(answer() as FlushReport),
      close: () => Promise.resolve(answer() as FlushReport),
      stats: () => good.processor.stats(),
      headroom: () => 1,
      persisted: () => Promise.resolve(false),
    };
    const fanout = new FanoutCollector([odd, good.processor], { logger });
    fanout.record({ name: 'one' });
    await expect(fanout.flush()).resolves.toMatchObject({ complete: false, exported: 1 });
    await expect(fanout.close()).resolves.toMatchObject({ complete: false });
    expect(good.delivered.map((e) => e.name)).toEqual(['one']);
    expect(lines.filter((l) => l.includes('flush()'))).toHaveLength(1);
  });
});

describe('FanoutCollector with a member whose stats() or headroom() throws or answers nonsense', () => {
  it.each<[string, () => unknown]>([
    ['throws', () => { throw new Error('stats broke'); }],
    ['answers undefined', () => undefined],
    ['answers figures that are not numbers', () => ({ recorded: 'many' })],
  ])('stats() and headroom() leave it out and report it once when it %s', (_, answer) => {
    const good = keeping();
    const { logger, lines } = capturing();
    const odd: Collector = {
      record: () => undefined,
      flush: () => Promise.resolve({ complete: true, exported: 0, dropped: 0, droppedByReason: {}, remaining: 0 }),
      close: () => Promise.resolve({ complete: true, exported: 0, dropped: 0, droppedByReason: {}, remaining: 0 }),
      stats: () => answer() as CollectorStats,
      headroom: () => answer() as number,
      persisted: () => Promise.resolve(false),
    };
    const fanout = new FanoutCollector([odd, good.processor], { logger });
    fanout.record({ name: 'one' });
    expect(fanout.stats()).toMatchObject({ recorded: 1, queued: 1 });
    expect(fanout.stats().recorded).toBe(1);
    expect(fanout.headroom()).toBe(good.processor.headroom());
    expect(lines.filter((l) => l.includes('stats()'))).toHaveLength(1);
    expect(lines.filter((l) => l.includes('headroom()'))).toHaveLength(1);
  });
});

describe('FanoutCollector with a member whose persisted() answers something that is not a boolean', () => {
  it.each<[string, unknown]>([
    ['a string', 'true'],
    ['a number', 1],
    ['an object', {}],
  ])('says false when it answers %s: nothing tells that the events are on disk', async (_, answer) => {
    const { logger } = capturing();
    const odd: Collector = {
      record: () => undefined,
      flush: () => Promise.resolve({ complete: true, exported: 0, dropped: 0, droppedByReason: {}, remaining: 0 }),
      close: () => Promise.resolve({ complete: true, exported: 0, dropped: 0, droppedByReason: {}, remaining: 0 }),
      stats: () => keeping().processor.stats(),
      headroom: () => 1,
      persisted: () => Promise.resolve(answer as boolean),
    };
    const fanout = new FanoutCollector([odd, odd], { logger });
    expect(await fanout.persisted()).toBe(false);
  });
});
