import net from 'node:net';

/** A TCP server on 127.0.0.1 that answers with whatever bytes a test writes, as no well-behaved HTTP server would. */
export interface RawServer {
  /** `http://127.0.0.1:<port>/v1/logs`. */
  readonly url: string;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Requests whose headers came in so far. */
  readonly requests: number;
}

const closers: (() => void)[] = [];

/**
 * Starts a raw server: once a request's headers are in, it hands the socket (and the request's head)
 * to `answer`, and reads and discards what follows unless `answer` pauses the socket. One request per
 * connection is seen. Stop every server with {@link closeRawServers} (in `afterEach`).
 */
export async function rawServer(answer: (socket: net.Socket, head: string) => void): Promise<RawServer> {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  let requests = 0;
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('error', () => {});
    let head = '';
    const onData = (chunk: Buffer): void => {
      head += chunk.toString('latin1');
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      socket.off('data', onData);
      socket.resume();
      requests++;
      answer(socket, head.slice(0, end));
    };
    socket.on('data', onData);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => {
    for (const socket of sockets) socket.destroy();
    server.close();
  });
  const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/v1/logs`;
  return {
    url,
    get connections() {
      return connections;
    },
    get requests() {
      return requests;
    },
  };
}

/** Stops every server {@link rawServer} started, destroying their connections. */
export function closeRawServers(): void {
  for (const close of closers.splice(0)) close();
}

/** An answer that writes `parts` and closes the connection. */
export const writes =
  (...parts: string[]) =>
  (socket: net.Socket): void => {
    for (const part of parts) socket.write(part);
    socket.end();
  };
