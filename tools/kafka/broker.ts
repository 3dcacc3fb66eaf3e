// Node API over broker.sh: start, stop, crash and restart a single-node Kafka broker for tests.
// broker.sh does the work (jars, ports, server.properties, format, launch); this module adds a real
// readiness check (a metadata request through kafkajs) and error messages that carry the log tail.
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const script = join(here, 'broker.sh');

/** A broker started from a directory: its bootstrap address and the directory holding its files. */
export interface KafkaBroker {
  /** Bootstrap address, `127.0.0.1:<port>`. Stays the same across restarts. */
  readonly brokers: string;
  /** Holds server.properties, data/, broker.log and broker.pid. */
  readonly dir: string;
}

/** The slice of kafkajs this module uses (kafkajs belongs to @trackpipe/exporter-kafka, not to the root). */
interface KafkaJs {
  Kafka: new (config: { clientId: string; brokers: string[]; logLevel: number; retry: { retries: number } }) => {
    admin(): { connect(): Promise<void>; listTopics(): Promise<string[]>; disconnect(): Promise<void> };
  };
}
const kafkajs = createRequire(new URL('../../packages/exporter-kafka/package.json', import.meta.url))('kafkajs') as KafkaJs;

function run(command: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { timeout: timeoutMs }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${[command, ...args].join(' ')} failed: ${stderr.trim() || error.message}`));
      else resolve(stdout.trim());
    });
  });
}

async function found(command: string, args: string[]): Promise<boolean> {
  return run(command, args, 30_000).then(
    () => true,
    () => false,
  );
}

/**
 * Says what is missing to start a broker on this machine (`java`; `mvn` too while the jars are not
 * fetched yet), or `undefined` when nothing is.
 */
export async function missingBrokerTools(): Promise<string | undefined> {
  if (!(await found('java', ['-version']))) return 'java (17 or newer) is not installed';
  const jarsReady = await readFile(join(here, 'jars', '.complete')).then(
    () => true,
    () => false,
  );
  if (!jarsReady && !(await found('mvn', ['-v']))) return 'Maven (mvn) is not installed and the Kafka jars are not fetched yet';
  return undefined;
}

async function logTail(dir: string, lines = 30): Promise<string> {
  const log = await readFile(join(dir, 'broker.log'), 'utf8').catch(() => '');
  return log.split('\n').slice(-lines - 1).join('\n');
}

/** Resolves once `brokers` (`host:port`, or several, comma-separated) answers a metadata request; rejects after `timeoutMs`. */
export async function waitForBroker(brokers: string, timeoutMs = 60_000): Promise<void> {
  const admin = new kafkajs.Kafka({ clientId: 'trackpipe-broker-check', brokers: brokers.split(','), logLevel: 0, retry: { retries: 0 } }).admin();
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      await admin.connect();
      await admin.listTopics();
      await admin.disconnect();
      return;
    } catch (error) {
      lastError = error;
      await admin.disconnect().catch(() => undefined);
    }
    if (Date.now() >= deadline) {
      throw new Error(`Kafka at ${brokers} did not answer a metadata request within ${timeoutMs} ms: ${String(lastError)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/**
 * Starts a broker and resolves once it answers metadata requests. Without `dir`, a new broker in a
 * new temp directory; with the `dir` of a stopped or crashed broker, that broker again (same data,
 * same ports). Fetches the jars with Maven first if they are missing.
 */
export async function startBroker(dir?: string): Promise<KafkaBroker> {
  const home = dir ?? (await mkdtemp(join(tmpdir(), 'trackpipe-kafka-')));
  const cleanUp = async (): Promise<void> => {
    if (dir === undefined) await rm(home, { recursive: true, force: true });
  };
  // broker.sh leaves nothing running when it fails, and its message ends with the log's tail.
  const brokers = await run('bash', [script, 'start', home], 300_000).catch(async (error: unknown) => {
    await cleanUp();
    throw error;
  });
  await waitForBroker(brokers).catch(async (error: unknown) => {
    const tail = await logTail(home);
    await stopBroker(home, { kill: true }).catch(() => undefined);
    await cleanUp();
    throw new Error(`${error instanceof Error ? error.message : String(error)}\nbroker.log (${home}) ends with:\n${tail}`, { cause: error });
  });
  return { brokers, dir: home };
}

/** Stops the broker of `dir`: SIGTERM (a clean shutdown), or SIGKILL (a crash) when `kill` is set. */
export async function stopBroker(dir: string, options: { kill?: boolean } = {}): Promise<void> {
  await run('bash', [script, options.kill === true ? 'kill' : 'stop', dir], 60_000);
}

/** Stops the broker of `dir` (if it runs) and deletes its files. */
export async function removeBroker(dir: string): Promise<void> {
  await stopBroker(dir).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
}
