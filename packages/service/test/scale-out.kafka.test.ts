// Scaling out with the Kafka receiver, with real parts: the test broker, `trackpipe serve` processes
// (the built CLI) in one consumer group, an HTTP sink on 127.0.0.1, SIGTERM and SIGKILL.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  committedOffsets,
  createTopic,
  endOffsets,
  fresh,
  kafka,
  produce,
  produceRaw,
  readBack,
} from '../../receiver-kafka/test/helpers/broker.js';
import { buildCli, exitOf } from './cli-support.js';
import { type Instance, Sink, keysOutOfOrder, sequencedEvents, startInstance, until, untilGroupStable } from './scale-out-support.js';

let dir: string;
const running: Instance[] = [];
const sinks: Sink[] = [];

/** Writes a figure the report quotes (shares, duplicates, timings) to the test output. */
function report(what: string, figures: Record<string, unknown>): void {
  process.stdout.write(`[scale-out] ${what}: ${JSON.stringify(figures)}\n`);
}

async function allCommitted(brokers: string, groupId: string, topic: string): Promise<boolean> {
  const [ends, committed] = await Promise.all([endOffsets(brokers, topic), committedOffsets(brokers, groupId, topic)]);
  return [...ends].every(([partition, end]) => committed.get(partition) === end);
}

describe.runIf(kafka.brokers !== null)('trackpipe serve instances sharing a topic in one consumer group', () => {
  beforeAll(() => {
    buildCli();
    dir = mkdtempSync(join(tmpdir(), 'trackpipe-scale-out-'));
  });
  afterEach(async () => {
    for (const instance of running.splice(0)) {
      if (instance.child.child.exitCode === null && instance.child.child.signalCode === null) instance.child.child.kill('SIGKILL');
      await instance.child.exited;
    }
    for (const sink of sinks.splice(0)) await sink.stop();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** A fresh topic of `partitions` partitions, a fresh group id, and a started sink (stopped after the test). */
  async function topicAndSink(label: string, partitions: number): Promise<{ brokers: string; topic: string; groupId: string; sink: Sink }> {
    const brokers = kafka.brokers!;
    const topic = fresh(label);
    const groupId = fresh('group');
    await createTopic(brokers, topic, partitions);
    const sink = new Sink();
    await sink.start();
    sinks.push(sink);
    return { brokers, topic, groupId, sink };
  }

  async function cluster(n: number, settings: { topic: string; groupId: string; sink: Sink; receiver?: Record<string, unknown>; batch?: Record<string, unknown> }): Promise<Instance[]> {
    const instances = await Promise.all(
      Array.from({ length: n }, (_, i) =>
        startInstance(`i${i}`, dir, {
          brokers: kafka.brokers!,
          topic: settings.topic,
          groupId: settings.groupId,
          sinkUrl: settings.sink.url,
          ...(settings.receiver === undefined ? {} : { receiver: settings.receiver }),
          ...(settings.batch === undefined ? {} : { batch: settings.batch }),
        }),
      ),
    );
    running.push(...instances);
    return instances;
  }

  it('delivers 100 000 events from a 6-partition topic through three instances: every event, a share each, in order per key', { timeout: 300_000 }, async () => {
    const { brokers, topic, groupId, sink } = await topicAndSink('scale-out', 6);
    const instances = await cluster(3, { topic, groupId, sink });
    const partitions = await untilGroupStable(instances, 6);

    const events = sequencedEvents(100_000, 600, 's');
    const started = Date.now();
    await produce(brokers, topic, events);
    await until(() => sink.ids.size === 100_000, 'every event to reach the sink');
    const seconds = (Date.now() - started) / 1000;
    await until(() => allCommitted(brokers, groupId, topic), 'every partition to be committed to its end', 30_000);

    const shares = sink.shares();
    report('100 000 events, 3 instances', { partitionsPerInstance: partitions, eventsPerInstance: shares, duplicates: sink.arrivals.length - sink.ids.size, seconds });
    expect(Object.keys(shares).sort()).toEqual(['i0', 'i1', 'i2']);
    for (const n of Object.values(shares)) expect(n).toBeGreaterThan(0);
    expect(keysOutOfOrder(sink.arrivals, false)).toEqual([]);

    // SIGTERM: each drains, commits and leaves; nothing is left to read, nothing was dropped.
    for (const instance of instances) instance.child.child.kill('SIGTERM');
    const codes = await Promise.all(instances.map((i) => exitOf(i.child, 60_000)));
    expect(codes).toEqual([0, 0, 0]);
    expect(await allCommitted(brokers, groupId, topic)).toBe(true);
    expect(sink.arrivals).toHaveLength(100_000);
  });

  it('loses nothing when one of three is killed (SIGKILL) mid-stream: the group rebalances, duplicates stay within the uncommitted window', { timeout: 300_000 }, async () => {
    const { brokers, topic, groupId, sink } = await topicAndSink('scale-out-kill', 6);
    const instances = await cluster(3, { topic, groupId, sink });
    await untilGroupStable(instances, 6);

    const total = 60_000;
    const producing = produce(brokers, topic, sequencedEvents(total, 300, 'k'));
    await until(() => sink.ids.size >= total / 3, 'a third to be delivered');
    const victim = instances[1]!;
    victim.child.child.kill('SIGKILL');
    const killedAt = Date.now();
    // What the group had committed when the instance died (nobody commits its partitions until the rebalance).
    const committedAtKill = await committedOffsets(brokers, groupId, topic);
    const deliveredBeforeKill = sink.arrivals.length;
    await producing;
    await until(() => sink.ids.size === total, 'every event to reach the sink');
    const recoveredSeconds = (Date.now() - killedAt) / 1000;
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // late duplicates would arrive now

    // Map every event to its partition and offset, from the topic itself.
    const where = await readBack(brokers, topic, total);
    expect(where.size).toBe(total);
    const copies = new Map<string, number>();
    for (const a of sink.arrivals) copies.set(a.id, (copies.get(a.id) ?? 0) + 1);
    const duplicated = [...copies].filter(([, n]) => n > 1);
    const duplicates = duplicated.reduce((sum, [, n]) => sum + n - 1, 0);
    // The uncommitted window of the killed instance: per partition it delivered, from the offset
    // committed when it died to the last offset it delivered.
    const victimLast = new Map<number, bigint>();
    for (const a of sink.arrivals.slice(0, deliveredBeforeKill)) {
      if (a.instance !== victim.name) continue;
      const { partition, offset } = where.get(a.id)!;
      if (offset >= (victimLast.get(partition) ?? -1n)) victimLast.set(partition, offset);
    }
    let window = 0n;
    for (const [partition, last] of victimLast) window += last + 1n - (committedAtKill.get(partition) ?? 0n);
    report('SIGKILL of one instance of three, 60 000 events', {
      victimPartitions: [...victimLast.keys()].sort(),
      duplicates,
      uncommittedWindowOfTheVictim: Number(window),
      secondsFromKillToLastEvent: recoveredSeconds,
      eventsPerInstance: sink.shares(),
    });
    // Nothing committed was delivered twice: every duplicate lies past its partition's committed offset.
    for (const [id] of duplicated) {
      const { partition, offset } = where.get(id)!;
      expect(offset).toBeGreaterThanOrEqual(committedAtKill.get(partition) ?? 0n);
    }
    const fromVictimPartitions = duplicated.filter(([id]) => victimLast.has(where.get(id)!.partition)).reduce((sum, [, n]) => sum + n - 1, 0);
    expect(fromVictimPartitions).toBeLessThanOrEqual(Number(window));
    // First copies still arrive in order per key.
    expect(keysOutOfOrder(sink.arrivals, true)).toEqual([]);
    const survivors = instances.filter((i) => i !== victim);
    expect((await Promise.all(survivors.map((i) => i.metric('trackpipe_receiver_assigned_partitions')))).reduce((a, b) => a + b, 0)).toBe(6);
    for (const instance of survivors) instance.child.child.kill('SIGTERM');
    expect(await Promise.all(survivors.map((i) => exitOf(i.child, 60_000)))).toEqual([0, 0]);
  });

  it('pauses partitions while the sink is down for 20 s, drops nothing, and lag grows and recovers; a poison record is committed past', { timeout: 300_000 }, async () => {
    const { brokers, topic, groupId, sink } = await topicAndSink('scale-out-outage', 3);
    const [instance] = await cluster(1, { topic, groupId, sink, batch: { maxQueueSize: 2_000 } });
    await untilGroupStable([instance!], 3);
    await produce(brokers, topic, sequencedEvents(5_000, 100, 'before'));
    await produceRaw(brokers, topic, [{ key: 'user-1', value: 'not a Trackpipe event' }]);
    await until(() => sink.ids.size === 5_000, 'the first events to be delivered');

    await sink.stop();
    const downAt = Date.now();
    await produce(brokers, topic, sequencedEvents(18_000, 100, 'during', 50)); // each key goes on from 50
    let pausedAt: number | undefined;
    let maxLag = 0;
    while (Date.now() - downAt < 20_000) {
      const [paused, lag] = await Promise.all([instance!.metric('trackpipe_receiver_paused_partitions'), instance!.metric('trackpipe_receiver_lag_records')]);
      if (paused > 0) pausedAt ??= Date.now();
      maxLag = Math.max(maxLag, lag);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(pausedAt).toBeDefined();
    expect(maxLag).toBeGreaterThanOrEqual(15_000); // nothing is committed while the sink is down
    await sink.start();
    const upAt = Date.now();
    let resumedAt: number | undefined;
    await until(async () => {
      if (resumedAt === undefined && (await instance!.metric('trackpipe_receiver_paused_partitions')) === 0) resumedAt = Date.now();
      return sink.ids.size === 23_000;
    }, 'every event after the outage');
    const deliveredAt = Date.now();
    await until(async () => (await instance!.metric('trackpipe_receiver_lag_records')) === 0, 'the lag to come back to 0', 30_000);
    const lagZeroAt = Date.now();
    report('sink down for 20 s', {
      msFromDownToPause: pausedAt! - downAt,
      maxLag,
      msFromUpToResume: (resumedAt ?? deliveredAt) - upAt,
      msFromUpToAllDelivered: deliveredAt - upAt,
      msFromUpToLagZero: lagZeroAt - upAt,
      pauses: await instance!.metric('trackpipe_receiver_pauses_total'),
    });
    expect(await instance!.metric('trackpipe_events_dropped_total')).toBe(0);
    expect(await instance!.metric('trackpipe_receiver_records_dropped_total', { reason: 'undecodable' })).toBe(1);
    expect(sink.arrivals).toHaveLength(23_000);
    expect(keysOutOfOrder(sink.arrivals, false)).toEqual([]);
    expect(await allCommitted(brokers, groupId, topic)).toBe(true);
    instance!.child.child.kill('SIGTERM');
    expect(await exitOf(instance!.child, 60_000)).toBe(0);
  });
});
