import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { BenchClient, ClientInfo, ClientSettings } from './clients/types.js';
import type { Sink } from './sink.js';

/** One figure of one run. `null` means "not measured / not applicable"; a list is a series (e.g. one value per minute). */
export type Metric = number | boolean | string | null | readonly number[];

/** The figures of one run of one client in one scenario. */
export type Metrics = Record<string, Metric>;

/** What the parent tells the child to run. */
export interface RunRequest {
  readonly type: 'run';
  readonly scenario: string;
  readonly client: string;
  readonly params: unknown;
  readonly settings: ClientSettings;
  /** Prefix of the ids of this run's events (unique per run, so nothing of an earlier run is counted). */
  readonly idPrefix: string;
}

/** A message between parent and child (besides the initial {@link RunRequest}). */
export interface Message {
  readonly type: string;
  readonly data?: unknown;
}

/** The child's side of the conversation. */
export interface ChildIo {
  send(message: Message): void;
  /** Resolves with the next message of that type from the parent. */
  next(type: string): Promise<Message>;
}

/** What a scenario's child part gets. */
export interface ChildContext<P> {
  readonly client: BenchClient;
  readonly params: P;
  readonly settings: ClientSettings;
  readonly idPrefix: string;
  readonly io: ChildIo;
}

/** What a scenario's parent part gets for one run of one client. */
export interface RunContext<P> {
  readonly client: string;
  readonly params: P;
  readonly sink: Sink;
  /** 0-based round number. */
  readonly run: number;
  /** Forks the client's process with these settings (and Node options, e.g. a heap cap); resolves once it has built the client. */
  readonly spawn: (settings: ClientSettings, execArgv?: readonly string[]) => Promise<ChildHandle>;
  /** Prefix of this run's event ids (also handed to the child). */
  readonly idPrefix: string;
  /** Progress lines (stderr). */
  readonly log: (line: string) => void;
}

/** One column of a scenario's table in RESULTS.md: the median of one metric over the runs. */
export interface Column {
  /** The metric's key in {@link Metrics}. */
  readonly key: string;
  /** Column heading. */
  readonly label: string;
  /** Decimals shown. Default 0. */
  readonly digits?: number;
  /** Also show the value as a multiple of the floor's. Default false. */
  readonly ratio?: boolean;
  /** `bool`: show how many runs had it true (e.g. `3/3`) instead of a median. */
  readonly kind?: 'number' | 'bool';
}

/** One benchmark scenario: one file in src/scenarios/. */
export interface Scenario<P = unknown> {
  /** Key in results and on the command line, e.g. `end-to-end`. */
  readonly id: string;
  /** Section title in RESULTS.md. */
  readonly title: string;
  /** What it measures and how, for RESULTS.md (markdown, one paragraph). */
  describe(params: P): string;
  /** The table's columns. */
  readonly columns: readonly Column[];
  /** Limit of one child process, in ms (it is killed after). */
  timeoutMs(params: P): number;
  /** Parameters for a full run or a `--quick` one. */
  params(quick: boolean): P;
  /** The clients of one round, in order (A B C, A B C, ...). */
  clients(params: P): readonly string[];
  /** Rounds of this scenario when `requested` were asked for (e.g. one for a 15-minute scenario). Default: `requested`. */
  runs?(requested: number, params: P): number;
  /** Labels of the clients only this scenario knows (its `createClient` names), for the report. */
  clientInfo?(): Record<string, ClientInfo>;
  /** Whether `--clients` may name this client for this scenario. Default: any HTTP client the registry knows. */
  accepts?(client: string): boolean;
  /** Builds a client this scenario needs that the HTTP registry does not know (Kafka clients). */
  createClient?(name: string, settings: ClientSettings): Promise<BenchClient>;
  /** Called once before the first round (start a broker, ...); returns state for the rounds. */
  setup?(params: P, log: (line: string) => void): Promise<{ readonly teardown: () => Promise<void>; readonly skip?: string }>;
  /** Parent side of one run. */
  runOne(context: RunContext<P>): Promise<Metrics>;
  /** Child side of one run. */
  child(context: ChildContext<P>): Promise<Metrics>;
}

/** Path of the compiled child entry point, next to this file. */
export const RUNNER_PATH = fileURLToPath(new URL('./runner.js', import.meta.url));

/** Options of a forked child. */
export interface SpawnOptions {
  /** Extra node flags, e.g. `--cpu-prof`. */
  readonly execArgv?: readonly string[];
  /** Kill the child when it has not sent its result after this many ms. */
  readonly timeoutMs: number;
}

/** The parent's handle on one forked client process. */
export class ChildHandle {
  readonly #child: ChildProcess;
  readonly #queue: Message[] = [];
  readonly #waiting: { type: string; resolve: (message: Message) => void; reject: (error: Error) => void }[] = [];
  #failure: Error | undefined;
  #stderr = '';
  readonly #timer: NodeJS.Timeout;
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;

  private constructor(child: ChildProcess, timeoutMs: number) {
    this.#child = child;
    child.stderr?.on('data', (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString('utf8')).slice(-16_000);
    });
    child.stdout?.on('data', () => undefined);
    child.on('message', (message: Message) => {
      if (message.type === 'error') {
        this.#fail(new Error(`the client process failed: ${String(message.data)}`));
        return;
      }
      const i = this.#waiting.findIndex((w) => w.type === message.type);
      if (i >= 0) {
        const [waiter] = this.#waiting.splice(i, 1);
        waiter?.resolve(message);
      } else {
        this.#queue.push(message);
      }
    });
    this.exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        clearTimeout(this.#timer);
        const oom = /heap out of memory|Reached heap limit/.test(this.#stderr);
        const tail = this.#stderr.trim().split('\n').slice(-8).join(' | ');
        const why = oom ? ': JavaScript heap out of memory' : tail === '' ? '' : `: ${tail}`;
        this.#fail(new Error(`the client process crashed (${signal ?? `exit code ${code}`})${why}`));
        resolve();
      });
    });
    this.#timer = setTimeout(() => {
      this.#fail(new Error(`the client process did not finish within ${Math.round(timeoutMs / 1000)} s; killed`));
      child.kill('SIGKILL');
    }, timeoutMs);
  }

  /** Forks the runner for `request` and resolves once the child reports its client ready. */
  static async spawn(request: RunRequest, options: SpawnOptions): Promise<ChildHandle> {
    const child = fork(RUNNER_PATH, [], {
      execArgv: ['--expose-gc', ...(options.execArgv ?? [])],
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    });
    const handle = new ChildHandle(child, options.timeoutMs);
    child.send(request);
    await handle.next('ready');
    return handle;
  }

  /** Sends a message to the child. */
  send(message: Message): void {
    if (this.#child.connected) this.#child.send(message);
  }

  /** Resolves with the next message of that type; rejects if the child dies or times out first. */
  next(type: string): Promise<Message> {
    const i = this.#queue.findIndex((m) => m.type === type);
    if (i >= 0) return Promise.resolve(this.#queue.splice(i, 1)[0] as Message);
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => this.#waiting.push({ type, resolve, reject }));
  }

  /** Waits for the result message, then for the process to exit. */
  async result(): Promise<Metrics> {
    const message = await this.next('result');
    await this.exited;
    return message.data as Metrics;
  }

  /** Kills the child (if still running) and waits for it to exit. */
  async kill(): Promise<void> {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL');
    await this.exited;
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const waiter of this.#waiting.splice(0)) waiter.reject(this.#failure);
  }
}

/** Median of the finite numbers (undefined when there are none). */
export function median(values: readonly number[]): number | undefined {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return undefined;
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Figures every child adds to its result: CPU, peak RSS, heap. */
export function processFigures(cpuSince: NodeJS.CpuUsage): Metrics {
  const cpu = process.cpuUsage(cpuSince);
  return {
    cpuMs: (cpu.user + cpu.system) / 1000,
    maxRssMb: process.resourceUsage().maxRSS / 1024,
    heapUsedMb: process.memoryUsage().heapUsed / 1_048_576,
  };
}
