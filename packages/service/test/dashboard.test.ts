// The Grafana dashboard against a real scrape of a running service, so that the two cannot drift.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Recorded } from '@trackpipe/core';
import { type Family, parseExposition } from '@trackpipe/core/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KafkaReceiver, kafkaReceiverConfigSchema } from '@trackpipe/receiver-kafka';
import { FakeClient, eventRecord, rawRecord } from '../../receiver-kafka/test/helpers/fake-consumer.js';
import { type IngestEvent, type ReceiverFactory, type TrackpipeService, createService, parseServiceConfig, silentServiceLogger } from '../src/index.js';
import { grpcClient, post, waitFor } from './support.js';

const here = dirname(fileURLToPath(import.meta.url));
const dashboard = JSON.parse(readFileSync(join(here, '../dashboards/trackpipe.json'), 'utf8')) as Dashboard;
const readme = readFileSync(join(here, '../README.md'), 'utf8');

interface Target {
  refId: string;
  expr: string;
  datasource?: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  datasource?: { type: string; uid: string };
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: Target[];
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: unknown }[] };
}

const panels = dashboard.panels.filter((p) => p.type !== 'row');
const queries = [
  ...panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
  ...dashboard.templating.list.flatMap((v) => (v.type === 'query' ? [(v.query as { query: string }).query] : [])),
];

/** The metric names a PromQL expression uses. */
function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\btrackpipe_[a-z0-9_]+/g)].map((m) => m[0]);
}

/** The label names an expression groups or selects by. */
function labelNames(expr: string): string[] {
  const grouped = [...expr.matchAll(/\b(?:by|without)\s*\(([^)]*)\)/g)].flatMap((m) => m[1]!.split(',').map((l) => l.trim()));
  const selected = [...expr.matchAll(/\{([^}]*)\}/g)].flatMap((m) => [...m[1]!.matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1]!));
  return [...grouped, ...selected].filter((l) => l !== '');
}

/** The family a metric name (or a histogram's `_bucket`, `_sum`, `_count` series) belongs to. */
function familyOf(name: string, families: Map<string, Family>): Family | undefined {
  const direct = families.get(name);
  if (direct !== undefined) return direct;
  const base = /^(.*)_(?:bucket|sum|count)$/.exec(name)?.[1];
  const family = base === undefined ? undefined : families.get(base);
  return family?.type === 'histogram' ? family : undefined;
}

let service: TrackpipeService;
let families: Map<string, Family>;

let spoolDir: string;

beforeAll(async () => {
  // A service with one healthy exporter and one whose destination refuses everything, so that
  // every family (exports, failures, drops, latency) has samples; a pipeline with a spool; and a
  // Kafka receiver whose consumer is a fake of the seam (our own contract), so that the receiver
  // families have samples.
  spoolDir = mkdtempSync(join(tmpdir(), 'trackpipe-dashboard-'));
  const kafkaClient = new FakeClient();
  const kafka: ReceiverFactory = {
    type: 'kafka',
    options: kafkaReceiverConfigSchema,
    create: (options, context) =>
      new KafkaReceiver({ ...(options as object), client: kafkaClient, name: context.name, logger: context.logger }, context.collector),
  };
  const config = parseServiceConfig(
    {
      service: { http: { port: 0 }, grpc: { port: 0 }, auth: { apiKeys: ['dash-key'] } },
      receivers: [{ type: 'kafka', name: 'events', brokers: ['127.0.0.1:9'], topic: 'dash', commitIntervalMs: 20, lagIntervalMs: 100 }],
      pipelines: [
        {
          name: 'flags',
          batch: { flushIntervalMs: 20 },
          exporters: [
            { type: 'function', name: 'good', ref: 'good' },
            { type: 'function', name: 'refusing', ref: 'refusing' },
          ],
        },
        // The spool families exist where a pipeline has a spool (its module is loaded only then).
        { name: 'durable', batch: { flushIntervalMs: 20 }, spool: { path: join(spoolDir, 'spool') }, exporters: [{ type: 'function', name: 'good', ref: 'good' }] },
      ],
    },
    { env: {} },
  );
  const built = await createService(config, {
    logger: silentServiceLogger,
    receivers: [kafka],
    functions: {
      good: () => undefined,
      refusing: (_events: readonly Recorded<IngestEvent>[]) => {
        throw new Error('refused for the test');
      },
    },
  });
  service = built.service;
  const { http, grpc } = await service.start();
  const url = http!.url;
  const auth = { authorization: 'Bearer dash-key' };
  expect((await post(`${url}/v1/batch`, { batch: [{ name: 'a' }, { name: 'b' }] }, { headers: { ...auth, 'idempotency-key': 'd1' } })).status).toBe(202);
  expect((await post(`${url}/v1/batch`, { batch: [{ name: 'a' }, { name: 'b' }] }, { headers: { ...auth, 'idempotency-key': 'd1' } })).status).toBe(202);
  expect((await post(`${url}/v1/track`, { name: 'x' })).status).toBe(401);
  const client = grpcClient(grpc!.address);
  await client.call('TrackEvent', { event: { name: 'g' } }, auth);
  client.close();
  kafkaClient.adminClient.offsetsAnswer = [{ topic: 'dash', partition: 0, start: '0', end: '3', committed: undefined }];
  const consumer = kafkaClient.last;
  consumer.append('dash', 0, (offset) => (offset === 1 ? rawRecord(1, Buffer.from('not json')) : eventRecord(offset, { name: 'from.kafka' })), 3);
  consumer.assign([{ topic: 'dash', partition: 0 }]);
  await consumer.fetch();
  await waitFor(() => consumer.committed('dash', 0) === '3', 10_000, 'the receiver to commit');
  await waitFor(() => service.receivers[0]!.stats().lag.length === 1, 10_000, 'the lag figures');
  await waitFor(() => built.collector.stats().exported >= 3, 10_000, 'the good exporter');
  await waitFor(() => built.collector.stats().dropped + built.collector.stats().retries > 0, 10_000, 'the refusing exporter to fail');
  families = parseExposition(await (await fetch(`${url}/metrics`)).text());
});

afterAll(async () => {
  await service?.shutdown({ timeoutMs: 1_000 });
  rmSync(spoolDir, { recursive: true, force: true });
});

describe('the Grafana dashboard (dashboards/trackpipe.json)', () => {
  it('queries only metrics a running service exposes', () => {
    const names = [...new Set(queries.flatMap(metricNames))].sort();
    expect(names.length).toBeGreaterThanOrEqual(15);
    const missing = names.filter((name) => familyOf(name, families) === undefined);
    expect(missing).toEqual([]);
  });

  it('groups and selects only by labels the metrics carry', () => {
    const known = new Set(['le']);
    for (const [name, family] of families) if (name.startsWith('trackpipe_')) for (const s of family.samples) for (const l of Object.keys(s.labels)) known.add(l);
    const unknown = [...new Set(queries.flatMap(labelNames))].filter((l) => !known.has(l));
    expect(unknown).toEqual([]);
  });

  it('shows every trackpipe metric the service exposes', () => {
    const used = new Set(queries.flatMap(metricNames).map((name) => familyOf(name, families)?.name));
    const unshown = [...families.keys()].filter((name) => name.startsWith('trackpipe_') && !used.has(name));
    expect(unshown).toEqual([]);
  });

  it('is a well-formed dashboard: unique panel ids, a query and a description per panel, one data-source variable', () => {
    expect(dashboard.uid).toBe('trackpipe');
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const panel of panels) {
      expect(panel.title, `panel ${panel.id}`).not.toBe('');
      expect(panel.description, panel.title).toBeTruthy();
      expect(panel.datasource?.uid, panel.title).toBe('${datasource}');
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      for (const target of panel.targets ?? []) expect(target.expr, panel.title).toMatch(/trackpipe_/);
      expect(panel.gridPos.x + panel.gridPos.w, panel.title).toBeLessThanOrEqual(24);
    }
    expect(dashboard.templating.list.filter((v) => v.type === 'datasource').map((v) => v.name)).toEqual(['datasource']);
  });

  it('is described in the README, panel by panel', () => {
    const start = readme.indexOf('## Dashboard');
    expect(start).toBeGreaterThanOrEqual(0);
    const section = readme.slice(start);
    for (const panel of panels) expect(section, panel.title).toContain(`**${panel.title}**`);
  });
});
