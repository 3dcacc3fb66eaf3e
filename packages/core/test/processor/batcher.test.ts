import { describe, expect, it } from 'vitest';
import { MemoryQueue, jsonEncoder } from '@trackpipe/core';
import { Batcher } from '@trackpipe/core/internal';

type Event = { name: string; pad?: string; bad?: boolean };

function queueOf(events: Event[]): MemoryQueue<Event> {
  const queue = new MemoryQueue<Event>(1_000);
  queue.open({ dropped: () => undefined, ready: () => undefined });
  for (const e of events) queue.push(e);
  return queue;
}

const wholeJson = (events: readonly Event[]) => {
  if (events.some((e) => e.bad)) throw new Error('poison');
  return Buffer.from(JSON.stringify(events));
};

describe('Batcher', () => {
  it('encodes a batch in one call when the exporter has encodeBatch', () => {
    const queue = queueOf([{ name: 'a' }, { name: 'b' }]);
    const batcher = new Batcher(queue, { encoder: jsonEncoder, encodeBatch: wholeJson }, { maxBatchSize: 10, maxBatchBytes: 1_000 }, () => undefined);
    const [work, ...rest] = batcher.take();
    expect(rest).toEqual([]);
    expect(Buffer.from(work!.batch.payload!).toString()).toBe('[{"name":"a"},{"name":"b"}]');
    expect(work).toMatchObject({ from: 0, batch: { encoded: [], bytes: 27 } });
  });

  it('isolates a poison event by halving, dropping it alone and keeping every range gap-free', () => {
    const events = Array.from({ length: 8 }, (_, i) => ({ name: `e${i}`, bad: i === 5 }));
    const poisoned: number[] = [];
    const batcher = new Batcher(queueOf(events), { encoder: jsonEncoder, encodeBatch: wholeJson }, { maxBatchSize: 8, maxBatchBytes: 10_000 }, (_e, seq) => poisoned.push(seq));
    const works = batcher.take();
    expect(poisoned).toEqual([5]);
    expect(works.map((w) => [w.from, w.batch.events.map((e) => e.name)])).toEqual([
      [0, ['e0', 'e1', 'e2', 'e3']],
      [4, ['e4']],
      [6, ['e6', 'e7']],
    ]);
  });

  it('splits a batch whose payload passes maxBatchBytes; a single large event travels alone', () => {
    const events = [{ name: 'a', pad: 'x'.repeat(100) }, { name: 'b' }, { name: 'c' }, { name: 'd', pad: 'y'.repeat(300) }];
    const batcher = new Batcher(queueOf(events), { encoder: jsonEncoder, encodeBatch: wholeJson }, { maxBatchSize: 4, maxBatchBytes: 200 }, () => undefined);
    const works = batcher.take();
    expect(works.map((w) => w.batch.events.map((e) => e.name))).toEqual([['a', 'b'], ['c'], ['d']]);
    expect(works.every((w) => w.batch.bytes <= 200 || w.batch.events.length === 1)).toBe(true);
  });

  it('without encodeBatch, ends a batch before a poison event and drops it when it reaches the head', () => {
    const events = [{ name: 'a' }, { name: 'b', bad: true }, { name: 'c' }];
    const encoder = (e: Event) => {
      if (e.bad) throw new Error('poison');
      return JSON.stringify(e);
    };
    const poisoned: number[] = [];
    const batcher = new Batcher(queueOf(events), { encoder, encodeBatch: undefined }, { maxBatchSize: 10, maxBatchBytes: 1_000 }, (_e, seq) => poisoned.push(seq));
    expect(batcher.take().map((w) => [w.from, w.batch.encoded])).toEqual([[0, ['{"name":"a"}']]]);
    expect(batcher.take().map((w) => [w.from, w.batch.encoded])).toEqual([[2, ['{"name":"c"}']]]);
    expect(poisoned).toEqual([1]);
  });

  it('halves a batch for too_large, each half keeping its attempts and budget start', () => {
    const batcher = new Batcher(queueOf([{ name: 'a' }, { name: 'b' }, { name: 'c' }]), { encoder: jsonEncoder, encodeBatch: undefined }, { maxBatchSize: 3, maxBatchBytes: 1_000 }, () => undefined);
    const [work] = batcher.take();
    work!.attempts = 2;
    work!.firstAttemptAt = 77;
    const halves = batcher.halve(work!);
    expect(halves.map((h) => [h.from, h.batch.encoded.length, h.attempts, h.firstAttemptAt])).toEqual([
      [0, 2, 2, 77],
      [2, 1, 2, 77],
    ]);
  });
});

describe('Batcher with a queue that holds encoded events', () => {
  it('frames the texts the queue holds instead of encoding again, for an exporter whose encoder is jsonEncoder', () => {
    const queue = queueOf([{ name: 'a' }, { name: 'b' }]);
    const texts = ['{"name":"a","from":"queue"}', '{"name":"b","from":"queue"}'];
    const withTexts = Object.assign(queue, { peekEncoded: () => texts[queue.head] });
    const batcher = new Batcher(withTexts, { encoder: jsonEncoder, encodeBatch: wholeJson }, { maxBatchSize: 10, maxBatchBytes: 1_000 }, () => undefined);
    const [work] = batcher.take();
    expect(work!.batch.payload).toBeUndefined();
    expect(work!.batch.encoded).toEqual(texts);
  });

  it('encodes as usual for an exporter with its own encoder', () => {
    const queue = queueOf([{ name: 'a' }]);
    const withTexts = Object.assign(queue, { peekEncoded: () => '{"from":"queue"}' });
    const own = (e: Event) => `<${e.name}>`;
    const batcher = new Batcher(withTexts, { encoder: own, encodeBatch: undefined }, { maxBatchSize: 10, maxBatchBytes: 1_000 }, () => undefined);
    expect(batcher.take()[0]!.batch.encoded).toEqual(['<a>']);
  });
});
