import { request } from 'node:http';
import { Gauge, Registry, register as globalRegistry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  BatchProcessor,
  type CollectorStats,
  TrackpipeError,
  DROP_REASONS,
  ExportResults,
  FunctionExporter,
  type TelemetryEvent,
  silentLogger,
} from '@trackpipe/core';
import {
  EXPORT_OUTCOMES,
  FAILURE_KINDS,
  METRICS,
  type MetricsServer,
  enableDefaultMetrics,
  instrument,
  metricsHandler,
  resolveRegistry,
  startMetricsServer,
} from '@trackpipe/core/metrics';
import { type Family, MemoryExporter, parseExposition, samples, valueOf } from '@trackpipe/core/testing';

const events = (n: number): TelemetryEvent[] => Array.from({ length: n }, (_, i) => ({ name: 'checkout.completed', attributes: { i } }));

async function scrape(url: string): Promise<{ contentType: string | null; families: Map<string, Family> }> {
  const response = await fetch(url);
  expect(response.status).toBe(200);
  return { contentType: response.headers.get('content-type'), families: parseExposition(await response.text()) };
}

/** Every counter and gauge of one processor's series equals its stats(). */
function expectSeriesToEqualStats(families: Map<string, Family>, labels: { pipeline: string; exporter: string }, stats: CollectorStats): void {
  expect(valueOf(families, METRICS.recorded.name, labels)).toBe(stats.recorded);
  expect(valueOf(families, METRICS.exported.name, labels)).toBe(stats.exported);
  for (const reason of DROP_REASONS) {
    expect(valueOf(families, METRICS.dropped.name, { ...labels, reason }), reason).toBe(stats.droppedByReason[reason]);
  }
  for (const kind of FAILURE_KINDS) {
    expect(valueOf(families, METRICS.failures.name, { ...labels, kind }), kind).toBe(stats.failedExports[kind]);
  }
  expect(valueOf(families, METRICS.retries.name, labels)).toBe(stats.retries);
  expect(valueOf(families, METRICS.queued.name, labels)).toBe(stats.queued);
  expect(valueOf(families, METRICS.capacity.name, labels)).toBe(stats.queueCapacity);
  expect(valueOf(families, METRICS.inFlightEvents.name, labels)).toBe(stats.inFlight);
  expect(valueOf(families, METRICS.inFlightBatches.name, labels)).toBe(stats.batchesInFlight);
  if (stats.lastExportAt !== undefined) {
    expect(valueOf(families, METRICS.lastExport.name, labels)).toBeCloseTo(stats.lastExportAt / 1000, 3);
  }
  // The accounting identity, read back from the exposition alone.
  const dropped = samples(families, METRICS.dropped.name, labels).reduce((sum, s) => sum + s.value, 0);
  expect(valueOf(families, METRICS.recorded.name, labels)).toBe(
    valueOf(families, METRICS.exported.name, labels) +
      dropped +
      valueOf(families, METRICS.queued.name, labels) +
      valueOf(families, METRICS.inFlightEvents.name, labels),
  );
}

/** Buckets are cumulative and the +Inf bucket equals the count. */
function expectWellFormedHistogram(families: Map<string, Family>, name: string, labels: Record<string, string>): void {
  const buckets = samples(families, `${name}_bucket`, labels);
  expect(buckets.length).toBeGreaterThan(1);
  const values = buckets.map((b) => b.value);
  expect(values).toEqual([...values].sort((a, b) => a - b));
  expect(buckets.at(-1)!.labels.le).toBe('+Inf');
  expect(buckets.at(-1)!.value).toBe(valueOf(families, `${name}_count`, labels));
}

let server: MetricsServer | undefined;
afterEach(async () => {
  vi.useRealTimers();
  await server?.close();
  server = undefined;
});

describe('self-metrics', () => {
  it('serves, over real HTTP, values equal to stats() after a run with retries, rejects, a timeout and overflow', async () => {
    vi.useFakeTimers();
    const scripted = new MemoryExporter({ name: 'scripted' }).script(
      ExportResults.retry({ error: new Error('503 from the far side') }),
      ExportResults.ok(),
      ExportResults.reject({ indexes: [0], error: new Error('400: first event refused') }),
      { code: 'hang' },
      ExportResults.ok(),
    );
    const checkout = new BatchProcessor<TelemetryEvent>(scripted, {
      name: 'checkout',
      maxQueueSize: 8,
      maxBatchSize: 4,
      maxConcurrentExports: 1,
      flushIntervalMs: 10_000,
      exportTimeoutMs: 500,
      retry: { initialBackoffMs: 100, maxElapsedMs: 60_000 },
      random: () => 0.5,
      logger: silentLogger,
    });
    const delivered: unknown[] = [];
    const audit = new BatchProcessor<TelemetryEvent>(
      new FunctionExporter((batch) => void delivered.push(...batch), { name: 'fn' }),
      { name: 'audit', logger: silentLogger },
    );
    const registry = new Registry();
    // Two separate calls share the registry's one set of metric objects.
    instrument(checkout, { registry });
    instrument(audit, { registry });

    for (const event of events(12)) checkout.record(event); // queue of 8: 4 dropped (queue_full)
    checkout.record(null as unknown as TelemetryEvent); // dropped (invalid)
    await vi.advanceTimersByTimeAsync(200); // retry, then ok; then the second batch: first event rejected
    for (const event of events(4)) checkout.record(event);
    await vi.advanceTimersByTimeAsync(700); // hangs past exportTimeoutMs, retried, ok
    for (const event of events(2)) checkout.record(event); // left queued
    for (const event of events(3)) audit.record(event);
    await audit.flush();
    vi.useRealTimers();

    const stats = checkout.stats();
    expect(stats).toMatchObject({ recorded: 19, exported: 11, dropped: 6, queued: 2, inFlight: 0, retries: 2 });
    expect(stats.droppedByReason).toMatchObject({ queue_full: 4, invalid: 1, rejected: 1 });
    expect(stats.failedExports).toEqual({ retryable: 1, permanent: 1, timeout: 1, auth: 0 });

    server = await startMetricsServer({ registry, port: 0 });
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const { contentType, families } = await scrape(server.url);
    expect(contentType).toBe(registry.contentType);

    // Every documented metric is there, with its type and help.
    for (const definition of Object.values(METRICS)) {
      const family = families.get(definition.name);
      expect(family, definition.name).toBeDefined();
      expect(family!.type).toBe(definition.type);
      expect(family!.help).toBe(definition.help);
    }

    const checkoutLabels = { pipeline: 'checkout', exporter: 'scripted' };
    const auditLabels = { pipeline: 'audit', exporter: 'fn' };
    expectSeriesToEqualStats(families, checkoutLabels, checkout.stats());
    expectSeriesToEqualStats(families, auditLabels, audit.stats());
    expect(valueOf(families, METRICS.exported.name, auditLabels)).toBe(3);

    // Histograms: one observation per export attempt, not per event.
    const outcomes = { ok: 2, retry: 1, reject: 1, timeout: 1 };
    for (const outcome of EXPORT_OUTCOMES) {
      const expected = outcomes[outcome as keyof typeof outcomes];
      const count = samples(families, `${METRICS.duration.name}_count`, { ...checkoutLabels, outcome });
      if (expected === undefined) expect(count).toEqual([]);
      else expect(count.map((s) => s.value)).toEqual([expected]);
    }
    expectWellFormedHistogram(families, METRICS.duration.name, { ...checkoutLabels, outcome: 'ok' });
    expect(valueOf(families, `${METRICS.batchEvents.name}_count`, checkoutLabels)).toBe(scripted.calls.length);
    expect(valueOf(families, `${METRICS.batchEvents.name}_sum`, checkoutLabels)).toBe(
      scripted.calls.reduce((sum, c) => sum + c.events.length, 0),
    );
    expect(valueOf(families, `${METRICS.batchBytes.name}_sum`, checkoutLabels)).toBe(scripted.calls.reduce((sum, c) => sum + c.bytes, 0));
    expectWellFormedHistogram(families, METRICS.batchEvents.name, checkoutLabels);
    expectWellFormedHistogram(families, METRICS.batchBytes.name, auditLabels);
    // The timed-out attempt took at least exportTimeoutMs.
    expect(valueOf(families, `${METRICS.duration.name}_sum`, { ...checkoutLabels, outcome: 'timeout' })).toBeGreaterThanOrEqual(0.5);

    // Labels stay bounded: only these names appear on Trackpipe series.
    const allowed = new Set(['pipeline', 'exporter', 'reason', 'kind', 'outcome', 'le']);
    for (const family of families.values()) {
      if (!family.name.startsWith('trackpipe_')) continue;
      for (const sample of family.samples) for (const label of Object.keys(sample.labels)) expect(allowed).toContain(label);
    }

    await checkout.close({ timeoutMs: 5_000 });
    await audit.close();
    const after = await scrape(server.url);
    expectSeriesToEqualStats(after.families, checkoutLabels, checkout.stats());
    expect(valueOf(after.families, METRICS.exported.name, checkoutLabels)).toBe(13);
  });

  it('reads stats() only when scraped: record() does no metrics work', async () => {
    const processor = new BatchProcessor<TelemetryEvent>(new FunctionExporter(() => undefined), { name: 'hot', logger: silentLogger });
    let reads = 0;
    const source = {
      name: processor.name,
      exporter: processor.exporter,
      stats: () => {
        reads++;
        return processor.stats();
      },
      observe: processor.observe.bind(processor),
    };
    const registry = new Registry();
    instrument(source, { registry });
    for (const event of events(1_000)) processor.record(event);
    expect(reads).toBe(0);
    const families = parseExposition(await registry.metrics());
    expect(reads).toBeGreaterThan(0);
    expect(valueOf(families, METRICS.recorded.name, { pipeline: 'hot', exporter: 'function' })).toBe(1_000);
    await processor.close();
  });

  it('sums sources with the same labels, and detach() removes a source without "already registered" errors', async () => {
    const registry = new Registry();
    const make = (): BatchProcessor<TelemetryEvent> =>
      new BatchProcessor<TelemetryEvent>(new FunctionExporter(() => undefined, { name: 'same' }), { name: 'twin', logger: silentLogger });
    const a = make();
    const b = make();
    const first = instrument(a, { registry });
    const second = instrument([b], { registry });
    expect(second.registry).toBe(first.registry);
    for (const event of events(3)) a.record(event);
    for (const event of events(5)) b.record(event);
    await Promise.all([a.flush(), b.flush()]);
    const labels = { pipeline: 'twin', exporter: 'same' };
    let families = parseExposition(await registry.metrics());
    expect(valueOf(families, METRICS.exported.name, labels)).toBe(8);
    expect(valueOf(families, `${METRICS.batchEvents.name}_sum`, labels)).toBe(8);

    first.detach();
    first.detach(); // idempotent
    families = parseExposition(await registry.metrics());
    expect(valueOf(families, METRICS.exported.name, labels)).toBe(5);
    expect(valueOf(families, `${METRICS.batchEvents.name}_sum`, labels)).toBe(8); // b still uses the series

    second.detach();
    families = parseExposition(await registry.metrics());
    expect(samples(families, METRICS.exported.name, labels)).toEqual([]);
    expect(samples(families, `${METRICS.batchEvents.name}_sum`, labels)).toEqual([]);
    await Promise.all([a.close(), b.close()]);
  });

  it('uses a fresh registry by default and the global one only on request', () => {
    const processor = new BatchProcessor<TelemetryEvent>(new FunctionExporter(() => undefined), { logger: silentLogger });
    const one = instrument(processor);
    const two = instrument(processor);
    expect(one.registry).not.toBe(globalRegistry);
    expect(one.registry).not.toBe(two.registry);
    expect(resolveRegistry({ global: true })).toBe(globalRegistry);
    const mine = new Registry();
    expect(resolveRegistry({ registry: mine, global: true })).toBe(mine);
    one.detach();
    two.detach();
  });

  it('fails naming a metric the registry already holds, registers none of its own, and works once the registry is free', async () => {
    const registry = new Registry();
    new Gauge({ name: METRICS.queued.name, help: 'someone else\'s', registers: [registry] });
    const processor = new BatchProcessor<TelemetryEvent>(new FunctionExporter(() => undefined, { name: 'fn' }), { name: 'p', logger: silentLogger });
    let error: unknown;
    try {
      instrument(processor, { registry });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(TrackpipeError);
    expect((error as TrackpipeError).message).toContain(METRICS.queued.name);
    expect((error as TrackpipeError).details).toEqual({ metric: METRICS.queued.name });
    expect(registry.getMetricsAsArray().map((metric) => metric.name)).toEqual([METRICS.queued.name]);
    registry.removeSingleMetric(METRICS.queued.name);
    const instrumentation = instrument(processor, { registry });
    for (const event of events(2)) processor.record(event);
    await processor.flush();
    expect(valueOf(parseExposition(await registry.metrics()), METRICS.exported.name, { pipeline: 'p', exporter: 'fn' })).toBe(2);
    instrumentation.detach();
    await processor.close();
  });

  it('refuses a list with something that is not a processor, naming it, and tracks none of the list', async () => {
    const registry = new Registry();
    const good = new BatchProcessor<TelemetryEvent>(new FunctionExporter(() => undefined, { name: 'fn' }), { name: 'good', logger: silentLogger });
    const bad = [null, {}, { name: 'x', exporter: { name: 7 }, stats: () => good.stats(), observe: () => () => undefined }];
    for (const source of bad) {
      let error: unknown;
      try {
        instrument([good, source as never], { registry });
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(TrackpipeError);
      expect((error as TrackpipeError).details).toEqual({ option: 'sources[1]' });
    }
    good.record(events(1)[0]!);
    await good.flush();
    expect(samples(parseExposition(await registry.metrics()), METRICS.exported.name)).toEqual([]);
    await good.close();
  });

  it('adds the default process metrics once per registry', async () => {
    const registry = new Registry();
    enableDefaultMetrics(registry);
    enableDefaultMetrics(registry);
    const families = parseExposition(await registry.metrics());
    expect(families.get('process_cpu_user_seconds_total')?.type).toBe('counter');
    expect(families.get('nodejs_eventloop_lag_seconds')?.type).toBe('gauge');
  });
});

describe('metric definitions', () => {
  it('follow Prometheus naming conventions and keep labels bounded', () => {
    for (const metric of Object.values(METRICS)) {
      expect(metric.name).toMatch(/^trackpipe_[a-z]+(_[a-z]+)*$/);
      expect(metric.help.length).toBeGreaterThan(10);
      if (metric.type === 'counter') expect(metric.name).toMatch(/_total$/);
      else expect(metric.name).not.toMatch(/_total$/);
      if (metric.type === 'histogram') expect(metric.name).toMatch(/_(seconds|bytes|events)$/);
      for (const label of metric.labels) expect(['pipeline', 'exporter', 'reason', 'kind', 'outcome']).toContain(label);
      expect(metric.labels.slice(0, 2)).toEqual(['pipeline', 'exporter']);
    }
  });

  it('are all documented, with their type and labels', async () => {
    const { readFile } = await import('node:fs/promises');
    const doc = await readFile(new URL('../docs/metrics-di-config.md', import.meta.url), 'utf8');
    for (const metric of Object.values(METRICS)) {
      const row = doc.split('\n').find((line) => line.startsWith(`| \`${metric.name}\``));
      expect(row, metric.name).toBeDefined();
      expect(row).toContain(`| ${metric.type} |`);
      for (const label of metric.labels) expect(row).toContain(`\`${label}\``);
    }
  });
});

describe('the test exposition parser', () => {
  it.each([
    ['a sample without a TYPE line', 'x_total 1\n'],
    ['an unquoted label value', '# TYPE x counter\nx{a=b} 1\n'],
    ['an unterminated label value', '# TYPE x counter\nx{a="b} 1\n'],
    ['a duplicate label', '# TYPE x counter\nx{a="1",a="2"} 1\n'],
    ['a value that is not a number', '# TYPE x gauge\nx one\n'],
    ['a bucket of a counter', '# TYPE x counter\nx_bucket{le="1"} 1\n'],
    ['an unknown type', '# TYPE x meter\nx 1\n'],
  ])('rejects %s', (_what, text) => {
    expect(() => parseExposition(text)).toThrow();
  });

  it('reads labels with escapes, histograms and special values', () => {
    const families = parseExposition(
      [
        '# HELP h A \\\\ help\\nline',
        '# TYPE h histogram',
        'h_bucket{le="1",path="a\\"b\\\\c"} 2',
        'h_bucket{le="+Inf",path="a\\"b\\\\c"} 3',
        'h_sum{path="a\\"b\\\\c"} 4.5e0',
        'h_count{path="a\\"b\\\\c"} 3',
        '# TYPE g gauge',
        'g NaN',
        '',
      ].join('\n'),
    );
    expect(families.get('h')!.help).toBe('A \\ help\nline');
    expect(valueOf(families, 'h_bucket', { le: '+Inf', path: 'a"b\\c' })).toBe(3);
    expect(valueOf(families, 'h_sum', { path: 'a"b\\c' })).toBe(4.5);
    expect(valueOf(families, 'g', {})).toBeNaN();
  });
});

describe('metrics endpoint', () => {
  function call(url: string, method: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request(url, { method }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it('answers GET and HEAD on its path only, with the registry content type', async () => {
    const registry = new Registry();
    registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE as never);
    server = await startMetricsServer({ registry, port: 0, path: '/internal/metrics' });
    const base = server.url.replace('/internal/metrics', '');

    const get = await call(`${server.url}?x=1`, 'GET');
    expect(get.status).toBe(200);
    expect(get.headers['content-type']).toBe(Registry.OPENMETRICS_CONTENT_TYPE);
    expect(get.body).toContain('# EOF');
    const head = await call(server.url, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
    expect((await call(server.url, 'POST')).status).toBe(405);
    expect((await call(`${base}/metrics`, 'GET')).status).toBe(404);
  });

  it('answers 500 without details when collecting fails', async () => {
    const registry = new Registry();
    new Gauge({
      name: 'app_broken',
      help: 'a gauge whose collect throws',
      registers: [registry],
      collect() {
        throw new Error('password=hunter2');
      },
    });
    server = await startMetricsServer({ registry, port: 0 });
    const response = await call(server.url, 'GET');
    expect(response.status).toBe(500);
    expect(response.body).toBe('metrics collection failed\n');
  });

  it('serves any path when used as a plain request handler without a path', async () => {
    const { createServer } = await import('node:http');
    const registry = new Registry();
    const http = createServer(metricsHandler(registry));
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = http.address() as { port: number };
      const response = await call(`http://127.0.0.1:${port}/anything`, 'GET');
      expect(response.status).toBe(200);
      expect(response.headers['content-type']).toBe(Registry.PROMETHEUS_CONTENT_TYPE);
    } finally {
      http.closeAllConnections();
      await new Promise((resolve) => http.close(resolve));
    }
  });

  it('stops listening on close(), which is idempotent, and reports a port in use', async () => {
    const registry = new Registry();
    const running = await startMetricsServer({ registry, port: 0 });
    const taken = startMetricsServer({ registry, port: running.port });
    await expect(taken).rejects.toMatchObject({ code: 'TRACKPIPE_ERR_OPTIONS_INVALID' });
    await fetch(running.url); // leaves a keep-alive connection open
    await running.close();
    await running.close();
    await expect(fetch(running.url)).rejects.toThrow();
  });
});
