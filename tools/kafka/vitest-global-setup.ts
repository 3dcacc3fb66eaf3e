// Global setup of the vitest `kafka` project (files named *.kafka.test.ts): one broker for all of them.
//  - KAFKA_BROKERS already set: use that broker, start none.
//  - else start one (tools/kafka/broker.sh), hand its address to the tests, stop and delete it at the end.
//  - java or mvn missing: print one line and let the tests skip, unless CI or TRACKPIPE_REQUIRE_KAFKA=1
//    is set, where the run fails instead.
// Tests read the broker with `inject('kafka')`; KAFKA_BROKERS is set as well, for code that reads env.
import type { TestProject } from 'vitest/node';
import { type KafkaBroker, missingBrokerTools, removeBroker, startBroker, waitForBroker } from './broker.js';

/** What the `kafka` project's tests get from `inject('kafka')`. */
export interface KafkaTestContext {
  /** Bootstrap address(es, comma-separated) of the shared broker, or null when the Kafka tests must skip. */
  readonly brokers: string | null;
  /** Directory of the shared broker when this setup started it (for stopBroker/startBroker), else null. */
  readonly dir: string | null;
  /** Why tests cannot start brokers of their own (java or mvn missing), or null when they can. */
  readonly cannotStartBrokers: string | null;
}

declare module 'vitest' {
  export interface ProvidedContext {
    kafka: KafkaTestContext;
  }
}

function required(): boolean {
  const ci = process.env.CI;
  return (ci !== undefined && ci !== '' && ci !== '0' && ci !== 'false') || process.env.TRACKPIPE_REQUIRE_KAFKA === '1';
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const missing = await missingBrokerTools();
  const external = process.env.KAFKA_BROKERS;
  if (external !== undefined && external !== '') {
    await waitForBroker(external, 30_000);
    if (missing !== undefined) {
      const why = `Kafka tests that start a broker of their own cannot run: ${missing}`;
      if (required()) throw new Error(`${why} (CI or TRACKPIPE_REQUIRE_KAFKA=1 is set, so they may not skip).`);
      console.warn(`[kafka] SKIPPED: ${why}.`);
    }
    project.provide('kafka', { brokers: external, dir: null, cannotStartBrokers: missing ?? null });
    return undefined;
  }
  if (missing !== undefined) {
    const why = `Kafka tests need a local broker, but ${missing}`;
    if (required()) throw new Error(`${why} (CI or TRACKPIPE_REQUIRE_KAFKA=1 is set, so they may not skip).`);
    console.warn(`[kafka] SKIPPED: ${why}. Install Java 17+ and Maven, or set KAFKA_BROKERS to a running broker.`);
    project.provide('kafka', { brokers: null, dir: null, cannotStartBrokers: missing });
    return undefined;
  }
  const broker: KafkaBroker = await startBroker();
  process.env.KAFKA_BROKERS = broker.brokers;
  project.provide('kafka', { brokers: broker.brokers, dir: broker.dir, cannotStartBrokers: null });
  return async () => {
    delete process.env.KAFKA_BROKERS;
    await removeBroker(broker.dir);
  };
}
