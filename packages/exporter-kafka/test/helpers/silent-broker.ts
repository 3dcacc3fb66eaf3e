// A "broker" that accepts connections and never answers (a stalled broker, a black-holing proxy): a
// real TCP server on 127.0.0.1 that reads what it is sent and never writes a byte.
import { type Server, type Socket, createServer } from 'node:net';

export interface SilentBroker {
  /** `127.0.0.1:port`. */
  readonly address: string;
  /** Every connection it accepted. */
  readonly sockets: readonly Socket[];
  /** What each of them sent, in the same order. */
  readonly received: readonly Buffer[][];
  /** Connections the client has not let go of yet (neither ended nor closed them). */
  open(): number;
  /** Destroys the connections and stops listening. */
  close(): Promise<void>;
}

export async function silentBroker(): Promise<SilentBroker> {
  const sockets: Socket[] = [];
  const received: Buffer[][] = [];
  let open = 0;
  const server: Server = createServer((socket) => {
    const chunks: Buffer[] = [];
    sockets.push(socket);
    received.push(chunks);
    open++;
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    let gone = false;
    const letGo = (): void => {
      if (!gone) open--;
      gone = true;
    };
    socket.once('end', letGo);
    socket.once('close', letGo);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as { port: number }).port}`,
    sockets,
    received,
    open: () => open,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
