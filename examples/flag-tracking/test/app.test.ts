import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { MemoryExporter } from '@trackpipe/collector-memory';
import type { FlagEvaluationEvent, Recorded } from '@trackpipe/core';
import { parseExposition, valueOf } from '@trackpipe/core/testing';
import { type App, startApp } from '../src/app.js';

let app: App | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

const sha256 = (text: string) => createHash('sha256').update('demo').update(text).digest('hex');

describe('the flag-tracking example app', () => {
  it('records one event per flag evaluation through the exporter its config names, without personal data', async () => {
    app = await startApp({ pipelines: [{ name: 'flags', batch: { flushIntervalMs: 60_000 }, exporters: [{ type: 'memory' }] }] });
    const users = ['ada', 'grace', 'linus', 'barbara', 'ken'];
    const answers = new Map<string, { newCheckout: boolean; theme: string }>();
    for (const user of users) {
      const response = await fetch(`${app.url}/checkout?user=${user}&plan=${user === 'ada' ? 'pro' : 'free'}`);
      expect(response.status).toBe(200);
      answers.set(user, (await response.json()) as { newCheckout: boolean; theme: string });
    }
    expect(await app.collector.flush()).toMatchObject({ complete: true, exported: 10 });

    const exporter = app.collector.pipelines.get('flags')!.exporters.get('memory')!.exporter as MemoryExporter<Recorded<FlagEvaluationEvent>>;
    const events = exporter.events;
    expect(events).toHaveLength(10);
    for (const user of users) {
      const mine = events.filter((e) => e.targetingKey === sha256(user));
      expect(mine.map((e) => [e.flagKey, e.value])).toEqual([
        ['new-checkout', answers.get(user)!.newCheckout],
        ['checkout-theme', answers.get(user)!.theme],
      ]);
      expect(mine[0]).toMatchObject({ name: 'feature_flag.evaluation', provider: 'in-memory', context: { plan: user === 'ada' ? 'pro' : 'free' } });
      expect(mine[0]?.variant).toBe(answers.get(user)!.newCheckout ? 'on' : 'off');
    }
    const wire = JSON.stringify(events);
    for (const user of users) {
      expect(wire).not.toContain(`${user}@example.com`);
      expect(wire).not.toContain(`"${user}"`);
    }
  });

  it('serves its self-metrics on /metrics, in step with the collector', async () => {
    app = await startApp({ pipelines: [{ name: 'flags', exporters: [{ type: 'memory' }] }] });
    for (let i = 0; i < 3; i++) await fetch(`${app.url}/checkout?user=u${i}`);
    await app.collector.flush();
    const response = await fetch(`${app.url}/metrics`);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const families = parseExposition(await response.text());
    const labels = { pipeline: 'flags', exporter: 'memory' };
    expect(valueOf(families, 'trackpipe_events_recorded_total', labels)).toBe(6);
    expect(valueOf(families, 'trackpipe_events_exported_total', labels)).toBe(6);
    expect(valueOf(families, 'trackpipe_queue_size_events', labels)).toBe(0);
    expect(valueOf(families, 'trackpipe_events_dropped_total', { ...labels, reason: 'queue_full' })).toBe(0);
  });
});
