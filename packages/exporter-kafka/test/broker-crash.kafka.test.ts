// This file starts a broker of its own, so that taking it down cannot disturb the other Kafka tests.
import { afterAll, beforeAll, describe, it } from 'vitest';
import { type KafkaBroker, removeBroker, startBroker } from '../../../tools/kafka/broker.js';
import { kafka } from './helpers/kafka.js';
import { restartMidStream } from './helpers/restart-scenario.js';

describe.runIf(kafka.cannotStartBrokers === null)('KafkaExporter when the broker is killed mid-stream', () => {
  let broker: KafkaBroker | undefined;

  beforeAll(async () => {
    broker = await startBroker();
  });

  afterAll(async () => {
    if (broker) await removeBroker(broker.dir);
  });

  it('delivers every event at least once after the broker is killed (SIGKILL) and started again', { timeout: 120_000 }, async () => {
    await restartMidStream(broker!, true);
  });
});
