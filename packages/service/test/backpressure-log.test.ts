// The backpressure log under a queue flapping around its high-water mark. Time is faked; the
// collector is a real MemoryCollector whose headroom (the Collector contract) the test sets.
import { MemoryCollector } from '@trackpipe/collector-memory';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type IngestEvent, Ingestor, jsonLogger } from '../src/index.js';

type Line = { level: string; msg: string; changes?: number; refused?: number; refusedRequests?: number; room?: number; highWaterMark?: number };

/** A MemoryCollector whose room the test sets (10 at the start: the queue's limit). */
class Filling extends MemoryCollector<IngestEvent> {
  room = 10;
  override headroom(): number {
    return this.room;
  }
}

function setup(logIntervalMs?: number): { ingestor: Ingestor; collector: Filling; lines: Line[] } {
  const lines: Line[] = [];
  const collector = new Filling();
  const ingestor = new Ingestor(collector, {
    logger: jsonLogger({ level: 'debug', write: (line) => lines.push(JSON.parse(line) as Line) }),
    ...(logIntervalMs === undefined ? {} : { logIntervalMs }),
  });
  return { ingestor, collector, lines };
}

const above = 'queue above its high-water mark: refusing events until it drains';
const below = 'queue below its high-water mark: accepting events again';

beforeEach(() => {
  vi.useFakeTimers({ now: 1_700_000_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('the backpressure log', () => {
  it('writes one line per interval under sustained flapping (86 changes a second), counting every change and refusal', async () => {
    const { ingestor, collector, lines } = setup();
    let changes = 0;
    let refused = 0;
    let accepted = 0;
    let pressured = false;
    const until = Date.now() + 20_000;
    while (Date.now() < until) {
      collector.room = 0; // full: refused
      const r = ingestor.admit([{ name: 'a' }, { name: 'b' }]);
      expect(r.ok).toBe(false);
      refused += 2;
      if (!pressured) changes++;
      pressured = true;
      await vi.advanceTimersByTimeAsync(6);
      collector.room = 10; // room: accepted
      expect(ingestor.admit([{ name: 'c' }]).ok).toBe(true);
      accepted++;
      if (pressured) changes++;
      pressured = false;
      await vi.advanceTimersByTimeAsync(6);
    }
    expect(changes).toBeGreaterThan(1_600); // ~86 a second for 20 s
    await vi.advanceTimersByTimeAsync(10_000); // then calm: the pending line comes out

    const pressure = lines.filter((l) => l.msg === above || l.msg === below);
    expect(pressure.length).toBeGreaterThanOrEqual(4);
    expect(pressure.length).toBeLessThanOrEqual(20_000 / 5_000 + 2);
    expect(pressure.reduce((sum, l) => sum + (l.changes ?? 0), 0)).toBe(changes);
    expect(pressure.reduce((sum, l) => sum + (l.refused ?? 0), 0)).toBe(refused);
    expect(pressure.reduce((sum, l) => sum + (l.refusedRequests ?? 0), 0)).toBe(refused / 2);
    // The first change is logged at once; the last line tells the state the service is in now.
    expect(pressure[0]).toMatchObject({ level: 'warn', msg: above, changes: 1, refused: 2, room: 0, highWaterMark: 1 });
    expect(pressure.at(-1)).toMatchObject({ level: 'info', msg: below });
    expect(collector.stats().recorded).toBe(accepted);
  });

  it('logs isolated changes at once, each with what was refused in between', async () => {
    const { ingestor, collector, lines } = setup(1_000);
    collector.room = 0;
    ingestor.admit([{ name: 'x' }]);
    ingestor.admit([{ name: 'x' }, { name: 'y' }]);
    expect(lines).toEqual([expect.objectContaining({ msg: above, changes: 1, refused: 1, refusedRequests: 1 })]);
    await vi.advanceTimersByTimeAsync(1_500);
    collector.room = 10;
    ingestor.admit([{ name: 'z' }]);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({ msg: below, changes: 1, refused: 2, refusedRequests: 1 });
  });

  it('writes a pending line when draining starts, and nothing after', async () => {
    const { ingestor, collector, lines } = setup(5_000);
    collector.room = 0;
    ingestor.admit([{ name: 'x' }]);
    collector.room = 10;
    ingestor.admit([{ name: 'y' }]);
    expect(lines).toHaveLength(1);
    ingestor.startDraining();
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({ msg: below, changes: 1 });
    await vi.advanceTimersByTimeAsync(10_000);
    expect(lines).toHaveLength(2);
  });
});
