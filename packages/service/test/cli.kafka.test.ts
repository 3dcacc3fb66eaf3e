import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consumeUntil, createTopic, freshTopic, kafka, tally } from '../../exporter-kafka/test/helpers/kafka.js';
import { buildCli, run, waitForLine } from './cli-support.js';

let dir: string;

describe.runIf(kafka.brokers !== null)('trackpipe serve on embedded defaults with KAFKA_BROKERS set', () => {
  beforeAll(() => {
    buildCli();
    dir = mkdtempSync(join(tmpdir(), 'trackpipe-service-kafka-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exports every accepted event to the KAFKA_TOPIC topic and exits 0 on SIGTERM', { timeout: 120_000 }, async () => {
    const brokers = kafka.brokers!;
    const topic = freshTopic('service-defaults');
    await createTopic(brokers, topic);
    const c = run(['serve', '--port', '0', '--grpc-port', '0'], dir, { KAFKA_BROKERS: brokers, KAFKA_TOPIC: topic, TRACKPIPE_CONFIG: undefined });
    const starting = await waitForLine(c, 'starting');
    expect(starting.pipelines).toEqual([{ pipeline: 'default', exporters: ['kafka (kafka)'] }]);
    const { http } = await waitForLine(c, 'listening');

    const accepted = new Set<string>();
    for (let n = 0; n < 20; n++) {
      const batch = Array.from({ length: 50 }, (_, i) => ({ id: `k-${n}-${i}`, name: 'kafka.default' }));
      const res = await fetch(`${String(http)}/v1/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ batch }) });
      expect(res.status).toBe(202);
      for (const id of ((await res.json()) as { ids: string[] }).ids) accepted.add(id);
    }
    c.child.kill('SIGTERM');
    const [code] = await c.exited;
    expect(code, c.stderr()).toBe(0);

    const records = await consumeUntil(brokers, topic, accepted);
    const { missing, unexpected } = tally(records, accepted);
    expect(missing).toEqual([]);
    expect(unexpected).toBe(0);
  });
});
