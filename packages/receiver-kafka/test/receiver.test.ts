// The receiver's algorithm through the consumer seam: a fake consumer (our own contract) on one side,
// a real BatchProcessor with a destination the test controls on the other.
import { BatchProcessor, type BatchProcessorOptions, FunctionExporter, type Recorded, type TelemetryEvent, TrackpipeError, silentLogger } from '@trackpipe/core';
import { afterEach, describe, expect, it } from 'vitest';
import { KafkaReceiver, type KafkaReceiverOptions } from '../src/index.js';
import { FakeClient, eventRecord, rawRecord } from './helpers/fake-consumer.js';

type Event = Recorded<TelemetryEvent>;

/** A destination that holds every export until `open()`; `delivered` lists event ids in arrival order. */
function destination(): { exporter: FunctionExporter<Event>; delivered: string[]; open(): void; close(): void } {
  let gate: Promise<void> | undefined;
  let release: () => void = () => undefined;
  const shut = (): void => {
    gate = new Promise<void>((resolve) => (release = resolve));
  };
  shut();
  const delivered: string[] = [];
  const exporter = new FunctionExporter<Event>(async (events) => {
    await gate;
    delivered.push(...events.map((e) => e.id));
  });
  return {
    exporter,
    delivered,
    open: () => {
      release();
      gate = undefined;
    },
    close: shut,
  };
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Setup {
  receiver: KafkaReceiver;
  client: FakeClient;
  processor: BatchProcessor<TelemetryEvent>;
  dest: ReturnType<typeof destination>;
  lines: { level: string; message: string; fields?: Record<string, unknown> }[];
}

async function setup(options: Partial<KafkaReceiverOptions> = {}, processor: BatchProcessorOptions = {}): Promise<Setup> {
  const dest = destination();
  const collector = new BatchProcessor<TelemetryEvent>(dest.exporter, { flushIntervalMs: 60_000, logger: silentLogger, ...processor });
  const client = new FakeClient();
  const lines: Setup['lines'] = [];
  const logger = {
    info: (message: string, fields?: Record<string, unknown>) => void lines.push({ level: 'info', message, ...(fields ? { fields } : {}) }),
    warn: (message: string, fields?: Record<string, unknown>) => void lines.push({ level: 'warn', message, ...(fields ? { fields } : {}) }),
    error: (message: string, fields?: Record<string, unknown>) => void lines.push({ level: 'error', message, ...(fields ? { fields } : {}) }),
  };
  const receiver = new KafkaReceiver({ client, topic: 't', groupId: 'g', commitIntervalMs: 20, lagIntervalMs: 100, logger, ...options }, collector);
  await receiver.start();
  cleanups.push(async () => {
    dest.open();
    await receiver.stop({ timeoutMs: 1_000 });
    await collector.close({ timeoutMs: 1_000 });
  });
  return { receiver, client, processor: collector, dest, lines };
}

async function until(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const seq = (prefix: string) => (offset: number) => eventRecord(offset, { id: `${prefix}-${offset}`, name: 'e', timestamp: 1 });

describe('KafkaReceiver', () => {
  it('records each record as its event, in offset order, and commits a partition only after a flush settled everything below it', async () => {
    const { client, dest, processor } = await setup({}, { maxBatchSize: 5 });
    const consumer = client.last;
    consumer.append('t', 0, seq('a'), 12);
    consumer.append('t', 1, seq('b'), 3);
    consumer.assign([{ topic: 't', partition: 0 }, { topic: 't', partition: 1 }]);
    expect(await consumer.fetch()).toBe(15);
    expect(processor.stats().recorded).toBe(15);
    // The destination holds everything: ticks flush, nothing settles, nothing is committed.
    await new Promise((resolve) => setTimeout(resolve, 120));
    expect(consumer.commits).toEqual([]);
    dest.open();
    await until(() => consumer.committed('t', 0) === '12' && consumer.committed('t', 1) === '3', 'the commit');
    expect(dest.delivered.filter((id) => id.startsWith('a-'))).toEqual(Array.from({ length: 12 }, (_, i) => `a-${i}`));
    expect(dest.delivered.filter((id) => id.startsWith('b-'))).toEqual(['b-0', 'b-1', 'b-2']);
    // Every commit came after the exports it covers.
    expect(consumer.calls.filter((c) => c.startsWith('commit')).length).toBeGreaterThanOrEqual(1);
  });

  it('keeps fetched records beyond the pipelines\' room in memory, hands them over in order as room appears, and holds the client (heartbeating) while more than 10 000 wait', async () => {
    const { client, dest, processor, receiver } = await setup({ highWaterMark: 0.5, lowWaterMark: 0.2 }, { maxQueueSize: 100, maxBatchSize: 10, flushIntervalMs: 5 });
    const consumer = client.last;
    dest.open();
    consumer.append('t', 0, seq('w'), 12_000);
    consumer.assign([{ topic: 't', partition: 0 }]);
    expect(await consumer.fetch()).toBe(12_000);
    expect(consumer.heartbeats).toBeGreaterThan(0); // it waited until no more than 10 000 were left
    await until(() => dest.delivered.length === 12_000, 'every record to be delivered', 20_000);
    expect(dest.delivered).toEqual(Array.from({ length: 12_000 }, (_, i) => `w-${i}`));
    expect(receiver.stats()).toMatchObject({ pauses: 0, pausedPartitions: 0, handed: 12_000 });
    expect(processor.stats().dropped).toBe(0);
  });

  it('pauses the partitions when more than 10 000 fetched records wait and none found room for a second, and resumes once they did, dropping nothing', async () => {
    const { client, dest, processor, receiver } = await setup({ highWaterMark: 0.5, lowWaterMark: 0.2 }, { maxQueueSize: 100, maxBatchSize: 10, maxConcurrentExports: 1 });
    const consumer = client.last;
    const total = 10_400;
    consumer.append('t', 0, seq('p'), total);
    consumer.append('t', 1, seq('q'), 100);
    consumer.assign([{ topic: 't', partition: 0 }, { topic: 't', partition: 1 }]);
    const first = await consumer.fetch();
    expect(first).toBe(total + 100); // taken: the first records into the pipeline, the rest waiting in memory
    expect(consumer.paused.has('t/0')).toBe(true);
    expect(consumer.paused.has('t/1')).toBe(true); // it holds records waiting too
    expect(receiver.stats()).toMatchObject({ pausedPartitions: 2, pauses: 2 });
    expect(await consumer.fetch()).toBe(0); // paused: nothing fetched
    dest.open();
    const deadline = Date.now() + 20_000;
    while (dest.delivered.length < total + 100) {
      if (Date.now() > deadline) throw new Error(`not every record was delivered (${dest.delivered.length})`);
      await processor.flush();
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await until(() => !consumer.paused.has('t/0') && !consumer.paused.has('t/1'), 'the partitions to be resumed');
    expect(dest.delivered.filter((id) => id.startsWith('p-'))).toEqual(Array.from({ length: total }, (_, i) => `p-${i}`));
    expect(dest.delivered.filter((id) => id.startsWith('q-'))).toEqual(Array.from({ length: 100 }, (_, i) => `q-${i}`));
    expect(processor.stats().dropped).toBe(0);
  });

  it('hears of a rebalance while waiting for room: drains and commits what it handed over before the rejoin goes on', async () => {
    const { client, dest } = await setup({ commitIntervalMs: 60_000 }, { maxQueueSize: 20, maxBatchSize: 5, maxConcurrentExports: 1 });
    const consumer = client.last;
    consumer.append('t', 0, seq('b'), 10_200);
    consumer.assign([{ topic: 't', partition: 0 }]);
    consumer.rebalanceOnHeartbeat = true;
    setTimeout(() => dest.open(), 50);
    await expect(consumer.fetch()).rejects.toMatchObject({ type: 'REBALANCE_IN_PROGRESS' });
    const committed = Number(consumer.committed('t', 0));
    expect(committed).toBeGreaterThanOrEqual(18); // what it had handed over when the heartbeat came
    expect(dest.delivered).toEqual(Array.from({ length: committed }, (_, i) => `b-${i}`));
  });

  it('commits past records with nothing to hand over (transaction markers, aborted records) once the records fetched before them were handed over', async () => {
    const { client, dest, receiver } = await setup({ highWaterMark: 0.5, lowWaterMark: 0.2 }, { maxQueueSize: 20, maxBatchSize: 5, flushIntervalMs: 5 });
    const consumer = client.last;
    consumer.append('t', 0, seq('k'), 30);
    consumer.assign([{ topic: 't', partition: 0 }, { topic: 't', partition: 1 }]);
    // What had been delivered when the offset past the markers was committed.
    let deliveredAtCommit: number | undefined;
    const commit = consumer.commit.bind(consumer);
    consumer.commit = async (offsets) => {
      if (offsets.some((o) => o.partition === 0 && o.offset === '33')) deliveredAtCommit ??= dest.delivered.length;
      return commit(offsets);
    };
    await consumer.fetch(); // 10 fit below the high-water mark, 20 wait in memory
    consumer.listener!.skipped({ topic: 't', partition: 0, offset: '33' });
    // A partition whose fetches hold nothing to hand over at all.
    consumer.listener!.skipped({ topic: 't', partition: 1, offset: '4' });
    dest.open();
    await until(() => consumer.committed('t', 0) === '33' && consumer.committed('t', 1) === '4', 'the commits past the markers');
    expect(deliveredAtCommit).toBe(30); // not before the records fetched before the markers were handed over and settled
    expect(dest.delivered).toEqual(Array.from({ length: 30 }, (_, i) => `k-${i}`));
    expect(receiver.stats()).toMatchObject({ handed: 30, consumed: { t: 30 } });
  });

  it('drops records that are not our encoding with a counted reason, and commits past them', async () => {
    const { client, dest, receiver, lines } = await setup();
    const consumer = client.last;
    const records = [
      eventRecord(0, { id: 'ok-0', name: 'e' }),
      rawRecord(1, Buffer.from('not json at all, password=hunter2')),
      rawRecord(2, null),
      rawRecord(3, Buffer.from([0xff, 0xfe, 0x7b])),
      rawRecord(4, Buffer.from('[1,2,3]')),
      rawRecord(5, Buffer.from('{"name":""}')),
      rawRecord(6, Buffer.from('{"name":"x","timestamp":"yesterday"}')),
      rawRecord(7, Buffer.from('{"name":"x"}'), { 'content-type': 'text/plain' }),
      rawRecord(8, Buffer.from('{"name":"x","id":"ok-8"}'), { 'content-type': 'application/vnd.acme+json; charset=utf-8' }),
      rawRecord(9, Buffer.from(`${'['.repeat(20_000)}${']'.repeat(20_000)}`)),
      // Valid UTF-8 that holds U+FFFD itself, with the exporter's content-type as bytes: an event.
      rawRecord(10, Buffer.from('{"name":"x\uFFFD","id":"ok-10"}'), { 'content-type': Buffer.from('application/json') }),
      // Invalid UTF-8 inside a JSON string: it would parse (as U+FFFD), but it is not text.
      rawRecord(11, Buffer.concat([Buffer.from('{"name":"x'), Buffer.from([0xc3, 0x28]), Buffer.from('","id":"bad-11"}')])),
      rawRecord(12, Buffer.from('{"name":"x","id":"bad-12"}'), { 'content-type': Buffer.from('text/plain') }),
      // The header repeated: one that is not JSON is enough, in whichever place it comes.
      rawRecord(13, Buffer.from('{"name":"x","id":"bad-13"}'), { 'content-type': [Buffer.from('application/json'), Buffer.from('text/plain')] }),
      rawRecord(14, Buffer.from('{"name":"x","id":"bad-14"}'), { 'content-type': ['text/plain', 'application/json'] }),
      rawRecord(15, Buffer.from('{"name":"x","id":"ok-15"}'), { 'content-type': [Buffer.from('application/json'), 'application/cloudevents+json'] }),
      // A header without a value (null), alone or repeated: it names no JSON (and decoding it must not throw).
      rawRecord(16, Buffer.from('{"name":"x","id":"bad-16"}'), { 'content-type': null }),
      rawRecord(17, Buffer.from('{"name":"x","id":"bad-17"}'), { 'content-type': [Buffer.from('application/json'), null] }),
      rawRecord(18, Buffer.from('{"name":"x","id":"ok-18"}'), { 'event-name': null, 'content-type': Buffer.from('application/json') }),
    ];
    consumer.append('t', 0, (offset) => records[offset]!, records.length);
    consumer.assign([{ topic: 't', partition: 0 }]);
    expect(await consumer.fetch()).toBe(19);
    dest.open();
    await until(() => consumer.committed('t', 0) === '19', 'the commit past the poison records');
    expect(dest.delivered).toEqual(['ok-0', 'ok-8', 'ok-10', 'ok-15', 'ok-18']);
    expect(receiver.stats()).toMatchObject({ consumed: { t: 19 }, handed: 5, dropped: { undecodable: 10, invalid: 4 } });
    // Logged once (then throttled), naming the reason and the offset, never the record.
    const dropLines = lines.filter((l) => l.message.includes('dropped a record'));
    expect(dropLines).toHaveLength(1);
    expect(dropLines[0]!.fields).toMatchObject({ reason: 'undecodable', topic: 't', partition: 0, offset: '1' });
    expect(JSON.stringify(lines)).not.toContain('hunter2');
  });

  it('on a rebalance stops handing over, drains, commits, and after the rejoin goes on after what it handed over', async () => {
    const { client, dest, processor } = await setup({ commitIntervalMs: 60_000 });
    const consumer = client.last;
    consumer.append('t', 0, seq('r0'), 5);
    consumer.append('t', 1, seq('r1'), 5);
    consumer.assign([{ topic: 't', partition: 0 }, { topic: 't', partition: 1 }]);
    await consumer.fetch();
    const revoking = consumer.listener!.revoke();
    // While it revokes, fetched records are left in Kafka.
    consumer.append('t', 0, seq('r0'), 3);
    expect(await consumer.fetch()).toBe(0);
    expect(consumer.commits).toEqual([]); // not before the destination settled them
    dest.open();
    await revoking;
    expect(consumer.commits.at(-1)).toEqual([
      { topic: 't', partition: 0, offset: '5' },
      { topic: 't', partition: 1, offset: '5' },
    ]);
    expect(dest.delivered).toHaveLength(10);
    // The rejoin keeps partition 0 (whose committed offset the client may have read before the commit), adds 2, loses 1.
    consumer.positions.set('t/0', 0);
    consumer.assign([{ topic: 't', partition: 0 }, { topic: 't', partition: 2 }]);
    expect(consumer.calls).toContain('seek t/0@5');
    consumer.append('t', 2, seq('r2'), 2);
    expect(await consumer.fetch()).toBe(5);
    await processor.flush();
    expect(dest.delivered).toHaveLength(15);
    expect(dest.delivered.slice(10).sort()).toEqual(['r0-5', 'r0-6', 'r0-7', 'r2-0', 'r2-1']);
  });

  it('does not commit when the drain does not settle within drainTimeoutMs', async () => {
    const { client, lines } = await setup({ drainTimeoutMs: 50, commitIntervalMs: 60_000 });
    const consumer = client.last;
    consumer.append('t', 0, seq('x'), 4);
    consumer.assign([{ topic: 't', partition: 0 }]);
    await consumer.fetch();
    await consumer.listener!.revoke();
    expect(consumer.commits).toEqual([]);
    expect(lines.some((l) => l.level === 'warn' && l.message.includes('did not settle within drainTimeoutMs'))).toBe(true);
  });

  it('never commits for a partition it lost: a flush that settles after the partition moved leaves its offset to the new owner', async () => {
    // A commit interval's flush is pending (the destination holds it) when the group rebalances; the
    // drain does not settle in time, and the partition goes to another member, which reads from the
    // group's offset and commits further. The late flush must not commit this member's older offset
    // over the new owner's: the group's offset would go back, and the next owner read it all again.
    const { client, dest } = await setup({ drainTimeoutMs: 50, commitIntervalMs: 30 });
    const consumer = client.last;
    consumer.append('t', 0, seq('m'), 4);
    consumer.append('t', 1, seq('n'), 2);
    consumer.assign([{ topic: 't', partition: 0 }, { topic: 't', partition: 1 }]);
    await consumer.fetch();
    await new Promise((resolve) => setTimeout(resolve, 60)); // a tick's flush is waiting
    await consumer.listener!.revoke();
    consumer.assign([{ topic: 't', partition: 1 }]);
    dest.open();
    await until(() => consumer.committed('t', 1) === '2', 'the commit of the partition it kept');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(consumer.committed('t', 0)).toBeUndefined();
  });

  it('stops by pausing, draining within the deadline, committing, then leaving the group', async () => {
    const { client, dest, receiver } = await setup({ commitIntervalMs: 60_000 });
    const consumer = client.last;
    consumer.append('t', 0, seq('s'), 7);
    consumer.assign([{ topic: 't', partition: 0 }]);
    await consumer.fetch();
    const stopping = receiver.stop({ timeoutMs: 5_000 });
    setTimeout(() => dest.open(), 30);
    const report = await stopping;
    expect(report).toMatchObject({ drained: true, committed: true });
    expect(dest.delivered).toHaveLength(7);
    const order = consumer.calls.filter((c) => /^(pause|commit|disconnect)/.test(c));
    expect(order).toEqual(['pause t/0', 'commit t/0@7', 'disconnect']);
    expect(await receiver.stop()).toBe(report); // idempotent
  });

  it.each([Number.POSITIVE_INFINITY, 2 ** 31, Number.NaN])('stop({ timeoutMs: %s }) commits and leaves the group before it resolves (a timer that long would fire at once)', async (timeoutMs) => {
    const { client, dest, receiver } = await setup({ commitIntervalMs: 60_000 });
    const consumer = client.last;
    consumer.append('t', 0, seq('i'), 4);
    consumer.assign([{ topic: 't', partition: 0 }]);
    await consumer.fetch();
    dest.open();
    consumer.answerDelayMs = 30;
    const report = await receiver.stop({ timeoutMs });
    expect(report).toMatchObject({ drained: true, committed: true });
    expect(consumer.committed('t', 0)).toBe('4');
    expect(consumer.disconnected).toBe(true);
  });

  it('stops without committing what did not settle by the deadline (it is read again: at least once)', async () => {
    const { client, receiver } = await setup({ commitIntervalMs: 60_000 });
    const consumer = client.last;
    consumer.append('t', 0, seq('u'), 3);
    consumer.assign([{ topic: 't', partition: 0 }]);
    await consumer.fetch();
    const report = await receiver.stop({ timeoutMs: 300 });
    expect(report).toMatchObject({ drained: false, committed: false });
    expect(consumer.commits).toEqual([]);
    expect(consumer.disconnected).toBe(true);
  });

  it('counts a failed commit and commits the offsets with a later one', async () => {
    const { client, dest, receiver } = await setup();
    const consumer = client.last;
    consumer.failCommits = 1;
    dest.open();
    consumer.append('t', 0, seq('c'), 3);
    consumer.assign([{ topic: 't', partition: 0 }]);
    await consumer.fetch();
    await until(() => consumer.committed('t', 0) === '3', 'a commit that succeeds');
    expect(receiver.stats()).toMatchObject({ commitFailures: 1 });
    expect(receiver.stats().commits).toBeGreaterThanOrEqual(1);
  });

  it('reports lag per owned partition as log end offset minus committed offset', async () => {
    const { client, receiver, dest } = await setup();
    const consumer = client.last;
    client.adminClient.offsetsAnswer = [
      { topic: 't', partition: 0, start: '0', end: '10', committed: '4' },
      { topic: 't', partition: 1, start: '2', end: '9', committed: undefined },
      { topic: 't', partition: 2, start: '0', end: '99', committed: '0' },
    ];
    consumer.assign([{ topic: 't', partition: 0 }, { topic: 't', partition: 1 }]);
    await until(() => receiver.stats().lag.length === 2, 'the lag figures');
    expect(receiver.stats().lag).toEqual([
      { topic: 't', partition: 0, records: 6 },
      { topic: 't', partition: 1, records: 7 }, // nothing committed: from the log start (initialOffset earliest)
    ]);
    consumer.append('t', 0, seq('l'), 10);
    consumer.positions.set('t/0', 4);
    dest.open();
    await consumer.fetch();
    await until(() => consumer.committed('t', 0) === '10', 'the commit');
    expect(receiver.stats().lag[0]).toEqual({ topic: 't', partition: 0, records: 0 });
    expect(receiver.stats().assignedPartitions).toBe(2);
  });

  it('drains, commits and rejoins the group once the lag reading shows a topic grew (and not before)', async () => {
    const { client, receiver, dest } = await setup({ commitIntervalMs: 60_000 });
    const consumer = client.last;
    const offsets = (partitions: number) => Array.from({ length: partitions }, (_, partition) => ({ topic: 't', partition, start: '0', end: '5', committed: undefined }));
    client.adminClient.offsetsAnswer = offsets(2);
    consumer.append('t', 0, seq('g'), 5);
    consumer.assign([{ topic: 't', partition: 0 }, { topic: 't', partition: 1 }]);
    dest.open();
    await consumer.fetch();
    await until(() => receiver.stats().lag.length === 2, 'the lag figures');
    await new Promise((resolve) => setTimeout(resolve, 250)); // a few more readings of the same count
    expect(consumer.rejoins).toBe(0);
    client.adminClient.offsetsAnswer = offsets(3);
    await until(() => consumer.rejoins === 1, 'the rejoin');
    // What it handed over was drained and committed before it left.
    const commit = consumer.calls.findIndex((c) => c === 'commit t/0@5');
    expect(commit).toBeGreaterThanOrEqual(0);
    expect(commit).toBeLessThan(consumer.calls.indexOf('rejoin'));
    consumer.assign([{ topic: 't', partition: 0 }, { topic: 't', partition: 1 }, { topic: 't', partition: 2 }]);
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect(consumer.rejoins).toBe(1);
    expect(receiver.stats()).toMatchObject({ assignedPartitions: 3, rebalances: 2 });
  });

  it('counts every (re)join and clears the pause of partitions it lost', async () => {
    const { client, receiver } = await setup({ highWaterMark: 0.1, lowWaterMark: 0.05 }, { maxQueueSize: 10 });
    const consumer = client.last;
    consumer.append('t', 0, seq('q'), 10_100);
    consumer.assign([{ topic: 't', partition: 0 }]);
    await consumer.fetch();
    expect(consumer.paused.has('t/0')).toBe(true);
    consumer.assign([{ topic: 't', partition: 1 }]);
    expect(consumer.paused.has('t/0')).toBe(false);
    expect(receiver.stats()).toMatchObject({ rebalances: 2, assignedPartitions: 1, pausedPartitions: 0 });
  });

  it('refuses bad options, naming each bad path and never a value', () => {
    const collector = new BatchProcessor<TelemetryEvent>(new FunctionExporter(() => undefined), { logger: silentLogger });
    cleanups.push(() => collector.close({ timeoutMs: 100 }));
    const attempt = (options: Record<string, unknown>): TrackpipeError => {
      try {
        new KafkaReceiver(options, collector);
      } catch (error) {
        return error as TrackpipeError;
      }
      throw new Error('no error');
    };
    const error = attempt({
      brokers: ['127.0.0.1:9092', ''],
      topic: 't',
      sasl: { mechanism: 'oauth', username: 'u', password: 's3cret-pass' },
      commitIntervalMs: -1,
      highWaterMark: 2,
    });
    expect(error).toBeInstanceOf(TrackpipeError);
    expect(error.code).toBe('TRACKPIPE_ERR_OPTIONS_INVALID');
    for (const path of ['brokers[1]', 'sasl.mechanism', 'commitIntervalMs', 'highWaterMark']) expect(error.message).toContain(path);
    expect(error.message).not.toContain('s3cret-pass');
    // The rules between fields, once the fields themselves are right.
    const crossed = attempt({ brokers: ['b:1'], topic: 't', topics: ['u'], highWaterMark: 0.5, lowWaterMark: 0.7, heartbeatIntervalMs: 5_000, sessionTimeoutMs: 5_000 });
    for (const path of ['topic: give either topic or topics', 'lowWaterMark: must be less than highWaterMark', 'heartbeatIntervalMs: must be less than sessionTimeoutMs']) {
      expect(crossed.message).toContain(path);
    }
    expect(attempt({ brokers: ['b:1'] }).message).toContain('topic: give either topic or topics');
    expect(attempt({ topic: 't' }).message).toContain('brokers: is required');
    expect(attempt({ brokers: ['b:1'], topic: 't', drainTimeoutMs: 60_000 }).message).toContain('drainTimeoutMs: must be less than rebalanceTimeoutMs');
  });

  it('refuses options it cannot read (a getter that throws, a revoked proxy) with TRACKPIPE_ERR_OPTIONS_INVALID, never repeating what was thrown', () => {
    const collector = new BatchProcessor<TelemetryEvent>(new FunctionExporter(() => undefined), { logger: silentLogger });
    cleanups.push(() => collector.close({ timeoutMs: 100 }));
    const secret = 'hunter2-do-not-print';
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    const unreadable: [string, unknown][] = [
      ['a getter that throws', { brokers: ['b:1'], topic: 't', get sasl(): never { throw new Error(secret); } }],
      ['a password getter that throws', { brokers: ['b:1'], topic: 't', sasl: { mechanism: 'plain', username: 'u', get password(): never { throw new Error(secret); } } }],
      ['a revoked client', { topic: 't', client: revoked.proxy }],
      ['revoked options', revoked.proxy],
    ];
    for (const [label, options] of unreadable) {
      let error: unknown;
      try {
        new KafkaReceiver(options as KafkaReceiverOptions, collector);
      } catch (thrown) {
        error = thrown;
      }
      expect(error, label).toMatchObject({ code: 'TRACKPIPE_ERR_OPTIONS_INVALID', message: expect.stringContaining('KafkaReceiver: the options could not be read') as unknown });
      expect((error as Error).message, label).not.toContain(secret);
      expect((error as Error).cause, label).toBeUndefined();
    }
  });

  it('refuses brokers that are not host:port, topic names Kafka refuses and timers longer than Node can wait, naming each path', () => {
    const collector = new BatchProcessor<TelemetryEvent>(new FunctionExporter(() => undefined), { logger: silentLogger });
    cleanups.push(() => collector.close({ timeoutMs: 100 }));
    const problems = (options: Record<string, unknown>): string[] => {
      try {
        new KafkaReceiver(options, collector);
      } catch (error) {
        expect(error).toMatchObject({ code: 'TRACKPIPE_ERR_OPTIONS_INVALID' });
        return ((error as TrackpipeError).details?.issues as { path: string }[]).map((i) => i.path);
      }
      return [];
    };
    expect(problems({ brokers: ['kafka-1', 'k:0', 'k:99999', 'k1:1,k2:2', 'kafka://k:1', 'k:1'], topic: 't' })).toEqual(['brokers[0]', 'brokers[1]', 'brokers[2]', 'brokers[3]', 'brokers[4]']);
    expect(problems({ brokers: ['b:1'], topics: ['ok', 'not ok', '..', 'x'.repeat(250), 'fine.too_1-2'] })).toEqual(['topics[1]', 'topics[2]', 'topics[3]']);
    expect(problems({ brokers: ['b:1'], topic: 'évaluations' })).toEqual(['topic']);
    // A timer above 2^31 - 1 ms fires at once: the lag would be read every millisecond, the commits made without a pause.
    expect(problems({ brokers: ['b:1'], topic: 't', lagIntervalMs: 2 ** 31, commitIntervalMs: 1e12, connectionTimeoutMs: Infinity, maxBytesPerPartition: 2 ** 31 })).toEqual([
      'connectionTimeoutMs',
      'commitIntervalMs',
      'maxBytesPerPartition',
      'lagIntervalMs',
    ]);
    expect(problems({ brokers: ['kafka-1:9092', '10.0.0.7:19092'], topics: ['flag-evaluations', 'a.b_c-9'], lagIntervalMs: 2 ** 31 - 1 })).toEqual([]);
  });

  it.each([
    ['connects in the end', undefined],
    ['fails to connect in the end', new Error('connection refused')],
  ])('stop() while start() is connecting: waits for it, never joins the group, disconnects last; start() resolves stopped (the cluster %s)', async (_label, connectError) => {
    const collector = new BatchProcessor<TelemetryEvent>(new FunctionExporter(() => undefined), { logger: silentLogger });
    cleanups.push(() => collector.close({ timeoutMs: 100 }));
    const client = new FakeClient();
    let connected: () => void = () => undefined;
    client.connectGate = new Promise<void>((resolve) => (connected = resolve));
    client.connectError = connectError;
    const receiver = new KafkaReceiver({ client, topic: 't', logger: silentLogger }, collector);
    const started = receiver.start().then(
      () => 'resolved',
      (e: unknown) => e,
    );
    const stopped = receiver.stop({ timeoutMs: 5_000 });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(client.last.calls).toEqual(['connect']);
    connected();
    expect(await stopped).toMatchObject({ drained: true, committed: true });
    expect(await started).toBe('resolved');
    expect(client.last.calls.includes('run')).toBe(false);
    expect(client.last.calls.at(-1)).toBe('disconnect');
    expect(receiver.running).toBe(false);
  });

  it('asks the client for fetches of 128 KiB per partition unless told otherwise (a fetch is decoded whole: smaller ones overlap and bound memory)', () => {
    const collector = new BatchProcessor<TelemetryEvent>(new FunctionExporter(() => undefined), { logger: silentLogger });
    cleanups.push(() => collector.close({ timeoutMs: 100 }));
    for (const [given, expected] of [
      [undefined, 131_072],
      [1_048_576, 1_048_576],
    ] as const) {
      const client = new FakeClient();
      client.connectGate = new Promise<void>(() => undefined);
      const receiver = new KafkaReceiver({ client, topic: 't', logger: silentLogger, ...(given === undefined ? {} : { maxBytesPerPartition: given }) }, collector);
      void receiver.start();
      expect(client.last.settings.maxBytesPerPartition).toBe(expected);
      cleanups.push(() => receiver.stop({ timeoutMs: 100 }));
    }
  });

  it('stop() while start() is connecting keeps its deadline, and the consumer that connects later is disconnected', async () => {
    const collector = new BatchProcessor<TelemetryEvent>(new FunctionExporter(() => undefined), { logger: silentLogger });
    cleanups.push(() => collector.close({ timeoutMs: 100 }));
    const client = new FakeClient();
    let connected: () => void = () => undefined;
    client.connectGate = new Promise<void>((resolve) => (connected = resolve));
    const receiver = new KafkaReceiver({ client, topic: 't', logger: silentLogger, maxWaitTimeMs: 100 }, collector);
    const started = receiver.start();
    const report = await receiver.stop({ timeoutMs: 300 });
    expect(report.durationMs).toBeLessThan(1_000);
    connected();
    await started;
    expect(client.last.calls.includes('run')).toBe(false);
    expect(client.last.calls.at(-1)).toBe('disconnect');
  });

  it('after a crash the client does not recover from, says it is not running and owns nothing, and logs it once; a crash while stopping is no news', async () => {
    const { client, dest, receiver, lines } = await setup({ commitIntervalMs: 60_000 });
    const consumer = client.last;
    consumer.append('t', 0, seq('c'), 3);
    consumer.assign([{ topic: 't', partition: 0 }]);
    await consumer.fetch();
    consumer.listener!.crashed(new Error('The coordinator refused the group'), true);
    expect(receiver.running).toBe(true);
    consumer.listener!.crashed(new Error('Not authorized to access group'), false);
    expect(receiver.running).toBe(false);
    expect(receiver.stats()).toMatchObject({ assignedPartitions: 0, lag: [] });
    expect(lines.filter((l) => l.level === 'error').map((l) => l.message)).toEqual([
      'receiver kafka: the Kafka consumer stopped on an error; it reconnects',
      'receiver kafka: the Kafka consumer stopped on an error and does not reconnect',
    ]);
    dest.open();
    const stopping = receiver.stop({ timeoutMs: 1_000 });
    consumer.listener!.crashed(new Error('Closed connection'), false);
    await stopping;
    expect(lines.filter((l) => l.level === 'error')).toHaveLength(2);
    expect(consumer.disconnected).toBe(true);
  });

  it('logs a client that crashes and restarts over and over (a batch it cannot decode, a broker that keeps failing) once per 30 s with the count, not once per restart', async () => {
    const { client, receiver, lines } = await setup();
    const consumer = client.last;
    for (let i = 0; i < 50; i++) consumer.listener!.crashed(new Error(`ZSTD compression not implemented (${i})`), true);
    expect(receiver.running).toBe(true);
    const errors = () => lines.filter((l) => l.level === 'error');
    expect(errors()).toHaveLength(1);
    expect(errors()[0]!.fields).toMatchObject({ receiver: 'kafka', error: expect.stringContaining('ZSTD compression not implemented (0)') });
    // The crash it does not recover from is always said, with the restarts not logged since.
    consumer.listener!.crashed(new Error('Not authorized to access group'), false);
    expect(errors()).toHaveLength(2);
    expect(errors()[1]!.fields).toMatchObject({ restartsSinceLastLine: 49 });
  });

  it('fails to start naming the receiver and the group, with secrets masked, when the cluster cannot be reached', async () => {
    const collector = new BatchProcessor<TelemetryEvent>(new FunctionExporter(() => undefined), { logger: silentLogger });
    cleanups.push(() => collector.close({ timeoutMs: 100 }));
    const client = new FakeClient();
    client.connectError = new Error('SASL authentication failed for user u with password pa55word-x');
    const receiver = new KafkaReceiver(
      { client, topic: 't', groupId: 'grp', name: 'in', sasl: { mechanism: 'plain', username: 'u', password: 'pa55word-x' }, logger: silentLogger },
      collector,
    );
    const error = await receiver.start().then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error).toMatchObject({ code: 'TRACKPIPE_ERR_RECEIVER_UNAVAILABLE', retriable: true });
    expect(error?.message).toContain('receiver in: could not join group grp');
    expect(error?.message).not.toContain('pa55word-x');
    expect(client.last.disconnected).toBe(true);
    expect(receiver.running).toBe(false);
  });
});
