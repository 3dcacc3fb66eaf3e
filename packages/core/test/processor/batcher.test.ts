import { describe, expect, it } from 'vitest';
import { MemoryQueue, TrackpipeError, jsonEncoder } from '@trackpipe/core';
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

  /**
   * A queue like a spool's after a restart: it holds some events as objects (each with its JSON) and
   * others as their JSON alone (`undefined` in `held`), which `takeEncoded()` hands over unparsed.
   */
  function textQueue(held: (Event | undefined)[], texts: string[]) {
    const queue = queueOf(held.map((e, i) => e ?? { name: `parsed-${i}` }));
    return Object.assign(queue, {
      peekEncoded: () => (queue.head < texts.length ? texts[queue.head] : undefined),
      takeEncoded: () => {
        const i = queue.head;
        queue.shift();
        return held[i];
      },
    });
  }

  it('takes events the queue holds only as JSON without parsing them: the batch parses them when (and only when) its events are read', () => {
    // The second text is no JSON at all: taking, sizing and framing the batch must not parse it.
    const texts = ['{"name":"a"}', '{"name":"b", oops', '{"name":"c"}'];
    const a = { name: 'a' };
    const batcher = new Batcher(textQueue([a, undefined, undefined], texts), { encoder: jsonEncoder, encodeBatch: wholeJson }, { maxBatchSize: 10, maxBatchBytes: 1_000 }, () => undefined);
    const [work, ...rest] = batcher.take();
    expect(rest).toEqual([]);
    expect(work!.batch.size).toBe(3);
    expect(work!.batch.encoded).toEqual(texts);
    expect(work!.batch.bytes).toBe(texts.join('').length);
    // Naming the event's place, never quoting its text (JSON.parse's own error would).
    expect(() => work!.batch.events).toThrow(TrackpipeError);
    expect(() => work!.batch.events).toThrow('event 1 of the batch: its stored JSON is not an object');
  });

  it('refuses a text that parses to no object (null, a number) when its events are read, naming its place', () => {
    for (const text of [' null', '42', '"a string"']) {
      const batcher = new Batcher(textQueue([undefined], [text]), { encoder: jsonEncoder, encodeBatch: undefined }, { maxBatchSize: 10, maxBatchBytes: 1_000 }, () => undefined);
      const [work] = batcher.take();
      expect(() => work!.batch.events).toThrow('event 0 of the batch: its stored JSON is not an object');
    }
  });

  it('parses what it holds as JSON into the events, keeping the objects it was given as they are', () => {
    const a = { name: 'a' };
    const texts = ['{"name":"a"}', '{"name":"b","n":1.5,"nested":{"list":[1,"x",null]}}', '{"name":"c"}'];
    const batcher = new Batcher(textQueue([a, undefined, undefined], texts), { encoder: jsonEncoder, encodeBatch: undefined }, { maxBatchSize: 10, maxBatchBytes: 1_000 }, () => undefined);
    const { batch } = batcher.take()[0]!;
    expect(batch.events).toEqual([a, { name: 'b', n: 1.5, nested: { list: [1, 'x', null] } }, { name: 'c' }]);
    expect(batch.events[0]).toBe(a);
    expect(batch.events).toBe(batch.events); // parsed once
  });

  it('halves a batch of JSON-only events for too_large without parsing them, each half with its own texts and bytes', () => {
    const texts = ['{"name":"a"}', '{"name":"bb"}', '{"name":"ccc"}'];
    const batcher = new Batcher(textQueue([undefined, undefined, undefined], texts), { encoder: jsonEncoder, encodeBatch: wholeJson }, { maxBatchSize: 3, maxBatchBytes: 1_000 }, () => undefined);
    const halves = batcher.halve(batcher.take()[0]!);
    expect(halves.map((h) => [h.from, h.batch.size, h.batch.encoded, h.batch.bytes])).toEqual([
      [0, 2, texts.slice(0, 2), 25],
      [2, 1, texts.slice(2), 14],
    ]);
    expect(halves[1]!.batch.events).toEqual([{ name: 'ccc' }]);
  });

  it('cuts batches of JSON-only events by bytes like any other', () => {
    const texts = [`{"name":"a","pad":"${'x'.repeat(80)}"}`, '{"name":"b"}', '{"name":"c"}'];
    const batcher = new Batcher(textQueue([undefined, undefined, undefined], texts), { encoder: jsonEncoder, encodeBatch: wholeJson }, { maxBatchSize: 10, maxBatchBytes: 100 }, () => undefined);
    expect(batcher.take().map((w) => w.batch.encoded)).toEqual([[texts[0]]]);
    expect(batcher.take().map((w) => w.batch.encoded)).toEqual([texts.slice(1)]);
  });

  it('encodes as usual for an exporter with its own encoder', () => {
    const queue = queueOf([{ name: 'a' }]);
    const withTexts = Object.assign(queue, { peekEncoded: () => '{"from":"queue"}' });
    const own = (e: Event) => `<${e.name}>`;
    const batcher = new Batcher(withTexts, { encoder: own, encodeBatch: undefined }, { maxBatchSize: 10, maxBatchBytes: 1_000 }, () => undefined);
    expect(batcher.take()[0]!.batch.encoded).toEqual(['<a>']);
  });
});
