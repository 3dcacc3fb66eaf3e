import http from 'node:http';
import type { FlagEvaluationEvent } from '@trackpipe/core';
import { withDeadline } from '../workload.js';
import type { BenchClient, ClientSettings, ShutdownOutcome } from './types.js';

/** POSTs one JSON body; resolves with the status once the answer is read, 0 on a network error (never rejects). */
export function postJson(agent: http.Agent, url: URL, body: string): Promise<number> {
  return new Promise((resolve) => {
    const request = http.request(url, {
      method: 'POST',
      agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    request.on('error', () => resolve(0));
    request.on('response', (response) => {
      response.on('error', () => resolve(0));
      response.on('end', () => resolve(response.statusCode ?? 0));
      response.resume();
    });
    request.end(body);
  });
}

/**
 * The floor: the least a client can do. Push into an array; at `batchSize` `JSON.stringify` the batch
 * and POST it over a keep-alive `node:http` Agent. No retry, no bound, no timer; a failed POST loses its
 * events (counted as drops).
 */
export class FloorClient implements BenchClient {
  readonly name = 'floor';
  readonly #agent = new http.Agent({ keepAlive: true });
  readonly #url: URL;
  readonly #batchSize: number;
  #batch: FlagEvaluationEvent[] = [];
  readonly #inFlight = new Set<Promise<void>>();
  #failed = 0;

  constructor(settings: ClientSettings) {
    this.#url = new URL('/v1/events', settings.sinkUrl);
    this.#batchSize = settings.batchSize;
  }

  prepare(event: FlagEvaluationEvent): unknown {
    return event;
  }

  record(input: unknown): void {
    const event = input as FlagEvaluationEvent;
    event.timestamp = Date.now();
    this.#batch.push(event);
    if (this.#batch.length >= this.#batchSize) this.#send();
  }

  #send(): void {
    const events = this.#batch;
    this.#batch = [];
    const body = JSON.stringify(events);
    const sent = postJson(this.#agent, this.#url, body).then((status) => {
      if (status < 200 || status >= 300) this.#failed += events.length;
      this.#inFlight.delete(sent);
    });
    this.#inFlight.add(sent);
  }

  async shutdown(deadlineMs: number): Promise<ShutdownOutcome> {
    if (this.#batch.length > 0) this.#send();
    const outcome = await withDeadline(Promise.all([...this.#inFlight]), deadlineMs);
    this.#agent.destroy();
    return { ...outcome, reportedDrops: this.#failed };
  }

  reportedDrops(): number {
    return this.#failed;
  }
}
