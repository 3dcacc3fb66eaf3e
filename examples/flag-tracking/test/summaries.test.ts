import { type IncomingMessage, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import type { MemoryExporter } from '@trackpipe/collector-memory';
import type { FlagEvaluationEvent, FlagEvaluationSummaryEvent, Recorded, TelemetryEvent } from '@trackpipe/core';
import { parseExposition, valueOf } from '@trackpipe/core/testing';
import { type App, startApp } from '../src/app.js';

// The example app in the summary modes: summaries through the exporter the config names (memory, and
// HTTP with JSON and OTLP bodies to a real server on 127.0.0.1), counts that add up to the answers the
// app gave, the flag counter on /metrics, and no personal data on the wire.

let app: App | undefined;
let server: Server | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = undefined;
});

const USERS = ['ada', 'grace', 'linus', 'barbara', 'ken', 'margaret', 'dennis'];

/** Sends `rounds` requests per user; returns how often each (flag, answer) came back. */
async function traffic(url: string, rounds: number): Promise<Map<string, number>> {
  const tally = new Map<string, number>();
  const add = (key: string) => tally.set(key, (tally.get(key) ?? 0) + 1);
  for (let r = 0; r < rounds; r++) {
    for (const user of USERS) {
      const response = await fetch(`${url}/checkout?user=${user}&plan=${user === 'ada' ? 'pro' : 'free'}`);
      const answer = (await response.json()) as { newCheckout: boolean; theme: string };
      add(`new-checkout/${answer.newCheckout ? 'on' : 'off'}`);
      add(`checkout-theme/${answer.theme}`);
    }
  }
  return tally;
}

/** Counts of summaries per flag/variant. */
function counts(summaries: readonly FlagEvaluationSummaryEvent[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const { attributes } of summaries) {
    const key = `${attributes['feature_flag.key']}/${attributes['feature_flag.result.variant']}`;
    out.set(key, (out.get(key) ?? 0) + attributes['trackpipe.summary.count']);
  }
  return out;
}

function memoryEvents(running: App): Recorded<TelemetryEvent>[] {
  const exporter = running.collector.pipelines.get('flags')!.exporters.get('memory')!.exporter as MemoryExporter<Recorded<TelemetryEvent>>;
  return [...exporter.events];
}

async function body(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks);
  return (request.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8');
}

/** A real HTTP endpoint on 127.0.0.1 that keeps the bodies it is sent. */
async function receiver(): Promise<{ url: string; bodies: string[] }> {
  const bodies: string[] = [];
  server = createServer((request, response) => {
    void body(request).then((text) => {
      bodies.push(text);
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, bodies };
}

describe('the flag-tracking example app in mode "summaries"', () => {
  it('records summaries whose counts equal the answers it gave, and counts them on /metrics', async () => {
    app = await startApp({ pipelines: [{ name: 'flags', batch: { flushIntervalMs: 60_000 }, exporters: [{ type: 'memory' }] }] }, { tracking: { mode: 'summaries' } });
    const tally = await traffic(app.url, 6);
    const metrics = parseExposition(await (await fetch(`${app.url}/metrics`)).text());
    for (const [key, n] of tally) {
      const [flag, variant] = key.split('/') as [string, string];
      expect(valueOf(metrics, 'trackpipe_flag_evaluations_total', { flag, variant })).toBe(n);
    }
    await app.flush();

    const events = memoryEvents(app);
    expect(events.every((e) => e.name === 'feature_flag.evaluation_summary')).toBe(true);
    expect(events).toHaveLength(tally.size);
    expect(counts(events as FlagEvaluationSummaryEvent[])).toEqual(tally);
    const wire = JSON.stringify(events);
    for (const user of USERS) {
      expect(wire).not.toContain(`${user}@example.com`);
      expect(wire).not.toContain(`"${user}"`);
    }
    expect(app.hook.summarizer?.stats()).toMatchObject({ recorded: 6 * USERS.length * 2, dropped: 0, queued: 0 });
  });

  it('adds a seeded sample of full events in the sampled mode, each also counted in its summary', async () => {
    app = await startApp(
      { pipelines: [{ name: 'flags', batch: { flushIntervalMs: 60_000 }, exporters: [{ type: 'memory' }] }] },
      { tracking: { mode: { summaries: true, sample: 0.25, seed: 3 } } },
    );
    const tally = await traffic(app.url, 8);
    await app.flush();
    const events = memoryEvents(app);
    const summaries = events.filter((e) => e.name === 'feature_flag.evaluation_summary') as FlagEvaluationSummaryEvent[];
    const full = events.filter((e) => e.name === 'feature_flag.evaluation') as Recorded<FlagEvaluationEvent>[];
    expect(counts(summaries)).toEqual(tally);
    expect(full.length).toBe(app.hook.stats().fullEvents);
    expect(full.length).toBeGreaterThan(0);
    expect(full.length).toBeLessThan(8 * USERS.length * 2);
    for (const event of full) expect(event).toMatchObject({ attributes: { 'trackpipe.sample_ratio': 0.25 }, targetingKey: expect.stringMatching(/^[0-9a-f]{64}$/) });
  });

  it.each(['json', 'otlp'] as const)('delivers the summaries over HTTP (%s) to a real server when closed mid-window', async (format) => {
    const { url, bodies } = await receiver();
    app = await startApp(
      { pipelines: [{ name: 'flags', exporters: [{ type: 'http', url: `${url}/v1/${format === 'otlp' ? 'logs' : 'batch'}`, format }] }] },
      { tracking: { mode: 'summaries', summarizer: { intervalMs: 3_600_000 } } },
    );
    const tally = await traffic(app.url, 5);
    const report = await app.close();
    app = undefined;
    expect(report).toMatchObject({ complete: true, dropped: 0 });
    expect(bodies.length).toBeGreaterThan(0);

    const got = new Map<string, number>();
    for (const text of bodies) {
      if (format === 'json') {
        for (const event of JSON.parse(text) as FlagEvaluationSummaryEvent[]) {
          expect(event.name).toBe('feature_flag.evaluation_summary');
          const key = `${event.attributes['feature_flag.key']}/${event.attributes['feature_flag.result.variant']}`;
          got.set(key, (got.get(key) ?? 0) + event.attributes['trackpipe.summary.count']);
        }
      } else {
        type Value = { stringValue?: string; intValue?: number | string };
        const request = JSON.parse(text) as { resourceLogs: { scopeLogs: { logRecords: { eventName: string; timeUnixNano: string; attributes: { key: string; value: Value }[] }[] }[] }[] };
        for (const record of request.resourceLogs.flatMap((r) => r.scopeLogs.flatMap((s) => s.logRecords))) {
          expect(record.eventName).toBe('feature_flag.evaluation_summary');
          expect(record.timeUnixNano).toMatch(/^\d+$/);
          const attribute = (key: string): Value | undefined => record.attributes.find((a) => a.key === key)?.value;
          expect(attribute('log.record.uid')?.stringValue).toEqual(expect.any(String));
          const key = `${attribute('feature_flag.key')?.stringValue}/${attribute('feature_flag.result.variant')?.stringValue}`;
          got.set(key, (got.get(key) ?? 0) + Number(attribute('trackpipe.summary.count')?.intValue));
        }
      }
    }
    expect(got).toEqual(tally);
    const wire = bodies.join('\n');
    for (const user of USERS) expect(wire).not.toContain(`${user}@example.com`);
  });
});
