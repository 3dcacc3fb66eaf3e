import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import kafkajs from 'kafkajs';
import { sleep } from '../workload.js';

const { Kafka, logLevel } = kafkajs;

const BROKER_SCRIPT = fileURLToPath(new URL('../../../tools/kafka/broker.sh', import.meta.url));

/** A broker for one scenario's runs (parent process only): its address once set up, and how to give it back. */
export interface BenchBroker {
  /** The bootstrap address (`host:port`), or undefined when the scenario is skipped. */
  readonly address: string | undefined;
  readonly teardown: () => Promise<void>;
  /** Why the scenario is skipped (no broker), when it is. */
  readonly skip?: string;
}

function run(command: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: timeoutMs }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${[command, ...args].join(' ')} failed: ${stderr.trim().split('\n').slice(-5).join(' | ') || error.message}`));
      else resolve(stdout.trim());
    });
  });
}

/** A kafkajs client for the bench's own admin and producer work (its logs off). */
export function kafkaAt(address: string, clientId: string): InstanceType<typeof Kafka> {
  return new Kafka({ clientId, brokers: [address], logLevel: logLevel.NOTHING });
}

/** Resolves once a metadata request to `address` succeeds; rejects after `timeoutMs`. */
async function waitForBroker(address: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const admin = new Kafka({ clientId: 'bench-check', brokers: [address], logLevel: logLevel.NOTHING, retry: { retries: 0 } }).admin();
    try {
      await admin.connect();
      await admin.listTopics();
      await admin.disconnect();
      return;
    } catch (error) {
      await admin.disconnect().catch(() => undefined);
      if (Date.now() > deadline) throw new Error(`Kafka at ${address} did not answer within ${timeoutMs} ms: ${String(error)}`, { cause: error });
    }
    await sleep(250);
  }
}

/**
 * The broker of a Kafka scenario: the first of `KAFKA_BROKERS` when set; none in a quick run
 * (`onlyExternal`); else a single-node broker started from tools/kafka/broker.sh in a temporary
 * directory, stopped and removed by `teardown`. A broker that cannot be started skips the scenario.
 */
async function benchBroker(label: string, onlyExternal: boolean, log: (line: string) => void): Promise<BenchBroker> {
  const external = process.env.KAFKA_BROKERS;
  if (external !== undefined && external !== '') {
    const address = external.split(',')[0] as string;
    await waitForBroker(address, 30_000);
    log(`${label}: using KAFKA_BROKERS=${external}`);
    return { address, teardown: async () => undefined };
  }
  if (onlyExternal) return { address: undefined, teardown: async () => undefined, skip: 'skipped: a quick run starts no broker (set KAFKA_BROKERS to include Kafka)' };
  const dir = await mkdtemp(join(tmpdir(), `trackpipe-bench-${label}-`));
  const stop = async (): Promise<void> => {
    await run('bash', [BROKER_SCRIPT, 'stop', dir], 60_000).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  log(`${label}: starting a broker (tools/kafka/broker.sh) ...`);
  try {
    const address = await run('bash', [BROKER_SCRIPT, 'start', dir], 300_000);
    await waitForBroker(address, 60_000);
    log(`${label}: broker ready at ${address}`);
    return { address, teardown: stop };
  } catch (error) {
    await stop();
    return { address: undefined, teardown: async () => undefined, skip: `skipped: no broker could be started (${error instanceof Error ? error.message : String(error)})` };
  }
}

/**
 * A Kafka scenario's `setup`: {@link benchBroker}, with its address handed to `hold` for the scenario's
 * runs, and `hold(undefined)` once `teardown` has given the broker back.
 */
export async function heldBroker(label: string, onlyExternal: boolean, log: (line: string) => void, hold: (address: string | undefined) => void): Promise<BenchBroker> {
  const broker = await benchBroker(label, onlyExternal, log);
  hold(broker.address);
  return {
    ...broker,
    teardown: async () => {
      await broker.teardown();
      hold(undefined);
    },
  };
}
