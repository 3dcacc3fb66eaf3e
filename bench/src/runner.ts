// The client process: forked by the parent (run.ts) once per run of one client in one scenario.
// It builds the client, says `ready`, waits for `go`, runs the scenario's child part and sends back its
// figures, then exits at once (clients' lingering sockets and timers must not hold it).
import { createClient, isClientName } from './clients/index.js';
import type { BenchClient } from './clients/types.js';
import type { ChildIo, Message, RunRequest } from './harness.js';
import { SCENARIOS } from './scenarios/index.js';

const inbox: Message[] = [];
const waiting: { type: string; resolve: (message: Message) => void }[] = [];

const io: ChildIo = {
  send(message) {
    process.send?.(message);
  },
  next(type) {
    const i = inbox.findIndex((m) => m.type === type);
    if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0] as Message);
    return new Promise((resolve) => waiting.push({ type, resolve }));
  },
};

function deliver(message: Message): void {
  const i = waiting.findIndex((w) => w.type === message.type);
  if (i >= 0) waiting.splice(i, 1)[0]?.resolve(message);
  else inbox.push(message);
}

async function run(request: RunRequest): Promise<void> {
  const scenario = SCENARIOS.find((s) => s.id === request.scenario);
  if (scenario === undefined) throw new Error(`unknown scenario ${request.scenario}`);
  let client: BenchClient;
  if (scenario.createClient !== undefined && !isClientName(request.client)) {
    client = await scenario.createClient(request.client, request.settings);
  } else if (isClientName(request.client)) {
    client = createClient(request.client, request.settings);
  } else {
    throw new Error(`unknown client ${request.client}`);
  }
  const baseRssMb = process.memoryUsage().rss / 1_048_576;
  io.send({ type: 'ready' });
  await io.next('go');
  const metrics = await scenario.child({ client, params: request.params, settings: request.settings, idPrefix: request.idPrefix, io });
  metrics.baseRssMb = baseRssMb;
  await new Promise<void>((resolve) => {
    if (process.send === undefined) resolve();
    else process.send({ type: 'result', data: metrics }, () => resolve());
  });
}

process.on('message', (message: Message | RunRequest) => {
  if (message.type !== 'run') {
    deliver(message);
    return;
  }
  run(message as RunRequest).then(
    () => process.exit(0),
    (error: unknown) => {
      const data = error instanceof Error ? (error.stack ?? error.message) : String(error);
      if (process.send === undefined) process.exit(1);
      else process.send({ type: 'error', data }, () => process.exit(1));
    },
  );
});
