// A client pointed at nothing: a port on 127.0.0.1 that refuses connections, and the error of connecting to it.
import { createServer } from 'node:net';
import type { KafkaClient } from '@trackpipe/exporter-kafka';

/** A port on 127.0.0.1 that was free a moment ago and has no listener now. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Connects a new producer of `client` and disconnects it: what `connect()` rejected with, or undefined if it connected. */
export async function connectError(client: KafkaClient): Promise<unknown> {
  const producer = client.producer();
  const error = await producer.connect().then(
    () => undefined,
    (e: unknown) => e,
  );
  await producer.disconnect();
  return error;
}
