import type { FlagEvaluationEvent } from '@trackpipe/core';
import type { Deadlined } from '../workload.js';

/** Where and how a client under test sends, the same for every client of a scenario. */
export interface ClientSettings {
  /** Base URL of the sink, e.g. `http://127.0.0.1:40123`. */
  readonly sinkUrl: string;
  /** Queue capacity in events, where the client has a bound (large enough that nobody drops, except in the outage). */
  readonly queueSize: number;
  /** Events per batch. */
  readonly batchSize: number;
  /** Kafka bootstrap address and topic, for the Kafka clients. */
  readonly kafka?: { readonly brokers: string; readonly topic: string };
}

/** What a client's shutdown came to. */
export interface ShutdownOutcome extends Deadlined<unknown> {
  /** Drops the client itself reported at the end, when it counts them. */
  readonly reportedDrops?: number;
}

/**
 * One client under test behind one small interface. `prepare` turns the workload's event into the
 * client's own input (outside the timed sections); `record` hands it over.
 */
export interface BenchClient {
  /** Stable name (the key in results). */
  readonly name: string;
  /** Turns a workload event into this client's input (e.g. a posthog capture message). */
  prepare(event: FlagEvaluationEvent): unknown;
  /** The call being measured: hands one prepared input to the client. */
  record(input: unknown): void;
  /** Delivers what is left and releases connections, within `deadlineMs`. */
  shutdown(deadlineMs: number): Promise<ShutdownOutcome>;
  /** Events the client says it dropped so far, when it counts them (undefined when it does not expose a count). */
  reportedDrops(): number | undefined;
  /** Events recorded and not yet taken for export, for clients that say (a producer that keeps a bounded backlog uses it). */
  backlog?(): number;
}

/** Describes a client for the results. */
export interface ClientInfo {
  /** Row label in RESULTS.md. */
  readonly label: string;
  /** The package and version under test. */
  readonly version: string;
  /** How the client bounds its queue, in words. */
  readonly bound: string;
}
