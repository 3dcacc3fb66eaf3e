import { beforeAll, describe, expect, it } from 'vitest';
import { consumeUntil, createTopic, freshTopic, idOf, kafka } from '../../../packages/exporter-kafka/test/helpers/kafka.js';
import { buildProgram, runProgram } from './run-program.js';

describe.runIf(kafka.brokers !== null)('swap-exporters with config/kafka.yaml', () => {
  beforeAll(buildProgram);

  it('produces every event to the Kafka topic, and only there', { timeout: 120_000 }, async () => {
    const brokers = kafka.brokers!;
    const topic = freshTopic('swap-exporters');
    await createTopic(brokers, topic);
    const { code, outcome, stderr } = await runProgram('kafka.yaml', 2_000, { KAFKA_BROKERS: brokers, KAFKA_TOPIC: topic });
    expect(code, stderr).toBe(0);
    expect(outcome).toMatchObject({ exporters: ['kafka'], recorded: 2_000, complete: true, exported: 2_000, dropped: 0 });
    const records = await consumeUntil(brokers, topic, 2_000);
    expect(new Set(records.map(idOf)).size).toBe(2_000);
    expect(records.every((r) => r.key?.startsWith('user-'))).toBe(true);
  });
});
