import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BATCH_OPTIONS, ExportResults, type NumericOption, RETRY_OPTIONS, type Recorded, type TelemetryEvent, TrackpipeError, silentLogger } from '@trackpipe/core';
import { resolveOptions } from '@trackpipe/core/internal';
import {
  CONFIG_ENV,
  type ConfigIssue,
  batchSchema,
  exporterSchema,
  issuesOf,
  loadConfig,
  metricsSchema,
  parseConfig,
  parseConfigText,
  pipelineSchema,
  retrySchema,
  toProcessorOptions,
} from '@trackpipe/core/config';
import { createCollector } from '@trackpipe/core/di';
import { METRICS } from '@trackpipe/core/metrics';
import { parseExposition, valueOf } from '@trackpipe/core/testing';

const SECRET = 's3cr3t-Tok3n-9f8e7d';

/** The error a call throws (fails the test when it does not throw). */
function thrown(fn: () => unknown): TrackpipeError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(TrackpipeError);
    return error as TrackpipeError;
  }
  throw new Error('expected an error');
}

async function rejected(promise: Promise<unknown>): Promise<TrackpipeError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(TrackpipeError);
    return error as TrackpipeError;
  }
  throw new Error('expected a rejection');
}

/** Everything an error could print: message, stack, inspect output (details and cause), JSON details. */
function printed(error: TrackpipeError): string {
  return [error.message, error.stack, inspect(error, { depth: 10 }), JSON.stringify(error.details)].join('\n');
}

const minimal = { pipelines: [{ exporters: [{ type: 'console' }] }] };

function withBatch(batch: Record<string, unknown>): unknown {
  return { pipelines: [{ name: 'main', batch, exporters: [{ type: 'console' }] }] };
}

describe('config schema and defaults', () => {
  it('applies defaults and keeps batch and retry settings for the processor', () => {
    const config = parseConfig(minimal, { env: {} });
    expect(config.pipelines[0]!.name).toBe('default');
    expect(config.metrics).toEqual({
      enabled: true,
      host: '127.0.0.1',
      path: '/metrics',
      defaultMetrics: false,
      global: false,
    });
  });

  it('maps pipeline settings onto BatchProcessorOptions, leaving the rest to the processor defaults', () => {
    const config = parseConfig(
      {
        pipelines: [
          {
            name: 'flags',
            batch: { maxQueueSize: 100, maxBatchSize: 10, overflow: 'drop-newest', closeTimeoutMs: 0 },
            retry: { initialBackoffMs: 5, maxElapsedMs: 1_000 },
            traceContext: true,
            exporters: [{ type: 'console' }],
          },
        ],
      },
      { env: {} },
    );
    const options = toProcessorOptions(config.pipelines[0]!);
    expect(options).toEqual({
      name: 'flags',
      maxQueueSize: 100,
      maxBatchSize: 10,
      overflow: 'drop-newest',
      closeTimeoutMs: 0,
      retry: { initialBackoffMs: 5, maxElapsedMs: 1_000 },
      traceContext: true,
    });
    const resolved = resolveOptions({ ...options, logger: silentLogger });
    expect(resolved.maxBatchBytes).toBe(1_048_576);
    expect(resolved.retry).toEqual({ initialBackoffMs: 5, multiplier: 2, maxBackoffMs: 5_000, maxElapsedMs: 1_000 });
  });

  it('passes exporter options through for the factory to validate', () => {
    const config = parseConfig(
      { pipelines: [{ exporters: [{ type: 'http', name: 'ingest', url: 'http://x', headers: { a: 'b' } }] }] },
      { env: {} },
    );
    expect(config.pipelines[0]!.exporters[0]).toEqual({ type: 'http', name: 'ingest', url: 'http://x', headers: { a: 'b' } });
  });
});

describe('config reference', () => {
  it('documents every field of the schema, with the processor defaults', async () => {
    const doc = await readFile(new URL('../docs/metrics-di-config.md', import.meta.url), 'utf8');
    const fields = [
      ...Object.keys(pipelineSchema.shape).map((k) => `pipelines[].${k}`),
      ...Object.keys(batchSchema.shape).map((k) => `pipelines[].batch.${k}`),
      ...Object.keys(retrySchema.shape).map((k) => `pipelines[].retry.${k}`),
      ...Object.keys(exporterSchema.shape).map((k) => `pipelines[].exporters[].${k}`),
      ...Object.keys(metricsSchema.shape).map((k) => `metrics.${k}`),
    ];
    const rows = new Map(
      doc
        .split('\n')
        .filter((line) => line.startsWith('| `'))
        .map((line) => [line.slice(3, line.indexOf('`', 3)), line]),
    );
    for (const field of fields) expect(rows.has(field), field).toBe(true);
    // The rows of processor options are exactly what the option tables (options.ts) say: bounds, default, meaning.
    const number = (n: number) => n.toLocaleString('en-US').replaceAll(',', ' ');
    const bounds = (o: NumericOption) => (o.max === undefined ? `${o.kind} ≥ ${o.min}` : `${o.kind} from ${o.min} to ${number(o.max)}`);
    const expected = (section: string, table: Record<string, NumericOption>) =>
      Object.entries(table).map(([key, o]) => `| \`pipelines[].${section}.${key}\` | ${bounds(o)} | ${number(o.default)} | ${o.doc} |`);
    for (const row of [...expected('batch', BATCH_OPTIONS), ...expected('retry', RETRY_OPTIONS)]) expect(doc.split('\n')).toContain(row);
    const defaults = resolveOptions({ logger: silentLogger });
    expect(rows.get('pipelines[].batch.overflow')).toContain(`| \`"${defaults.overflow}"\` |`);
  });
});

describe('config errors', () => {
  const cases: { what: string; input: unknown; env?: Record<string, string>; issues: ConfigIssue[] }[] = [
    {
      what: 'a wrong type',
      input: withBatch({ maxBatchSize: '512' }),
      issues: [{ path: 'pipelines[0].batch.maxBatchSize', message: 'must be an integer >= 1' }],
    },
    {
      what: 'a negative size',
      input: withBatch({ maxQueueSize: -5 }),
      issues: [{ path: 'pipelines[0].batch.maxQueueSize', message: 'must be an integer from 1 to 1000000000' }],
    },
    {
      what: 'a delay longer than a timer can wait (it would fire after 1 ms)',
      input: { pipelines: [{ batch: { exportTimeoutMs: 1e12 }, retry: { maxBackoffMs: 2 ** 31 }, exporters: [{ type: 'console' }] }] },
      issues: [
        { path: 'pipelines[0].batch.exportTimeoutMs', message: 'must be a finite number from 1 to 2147483647' },
        { path: 'pipelines[0].retry.maxBackoffMs', message: 'must be a finite number from 0 to 2147483647' },
      ],
    },
    {
      what: 'a fraction where an integer belongs',
      input: withBatch({ maxConcurrentExports: 1.5 }),
      issues: [{ path: 'pipelines[0].batch.maxConcurrentExports', message: 'must be an integer >= 1' }],
    },
    {
      what: 'an unknown key',
      input: withBatch({ maxBatchSzie: 10 }),
      issues: [{ path: 'pipelines[0].batch.maxBatchSzie', message: 'unknown key' }],
    },
    {
      what: 'an unknown top-level key',
      input: { ...minimal, exporters: [] },
      issues: [{ path: 'exporters', message: 'unknown key' }],
    },
    {
      what: 'a value outside an enumeration',
      input: withBatch({ overflow: 'drop-all' }),
      issues: [{ path: 'pipelines[0].batch.overflow', message: 'must be one of "drop-oldest", "drop-newest"' }],
    },
    {
      what: 'a missing environment variable',
      input: { pipelines: [{ exporters: [{ type: 'http', headers: { authorization: 'Bearer ${env:TRACKPIPE_TEST_UNSET}' } }] }] },
      issues: [{ path: 'pipelines[0].exporters[0].headers.authorization', message: 'environment variable TRACKPIPE_TEST_UNSET is not set' }],
    },
    {
      what: 'a malformed environment reference',
      input: { pipelines: [{ exporters: [{ type: 'http', url: '${env:not-a-name}' }] }] },
      issues: [{ path: 'pipelines[0].exporters[0].url', message: expect.stringContaining('invalid environment reference') as string }],
    },
    {
      what: 'no pipelines',
      input: { pipelines: [] },
      issues: [{ path: 'pipelines', message: 'must list at least one pipeline' }],
    },
    {
      what: 'a pipeline without exporters and a bad name',
      input: { pipelines: [{ name: 'a b', exporters: [] }] },
      issues: [
        { path: 'pipelines[0].name', message: expect.stringContaining('must be a name') as string },
        { path: 'pipelines[0].exporters', message: 'must list at least one exporter' },
      ],
    },
    {
      what: 'an exporter without a type',
      input: { pipelines: [{ exporters: [{ name: 'x' }] }] },
      issues: [{ path: 'pipelines[0].exporters[0].type', message: 'is required' }],
    },
    {
      what: 'two pipelines with one name',
      input: { pipelines: [{ name: 'p', exporters: [{ type: 'console' }] }, { name: 'p', exporters: [{ type: 'console' }] }] },
      issues: [{ path: 'pipelines[1].name', message: expect.stringContaining('duplicate pipeline name') as string }],
    },
    {
      what: 'two exporters of one type without names',
      input: { pipelines: [{ exporters: [{ type: 'console' }, { type: 'console' }] }] },
      issues: [{ path: 'pipelines[0].exporters[1].type', message: expect.stringContaining('duplicate exporter name') as string }],
    },
    {
      what: 'a bad metrics port and path',
      input: { ...minimal, metrics: { port: 70_000, path: 'metrics' } },
      issues: [
        { path: 'metrics.port', message: 'must be an integer from 0 to 65535' },
        { path: 'metrics.path', message: 'must start with "/"' },
      ],
    },
    {
      what: 'a metrics host no server can listen on (a line break from an env variable, a port)',
      input: { ...minimal, metrics: { host: '127.0.0.1\n', port: 0 } },
      issues: [{ path: 'metrics.host', message: expect.stringContaining('must be an IP address or a host name') as string }],
    },
    {
      what: 'a metrics host with a port',
      input: { ...minimal, metrics: { host: 'localhost:9464' } },
      issues: [{ path: 'metrics.host', message: expect.stringContaining('without spaces, port or scheme') as string }],
    },
    {
      what: 'a __proto__ key (it would have become the prototype, its keys reported under the wrong path or passed to the exporter)',
      input: JSON.parse(
        '{"pipelines":[{"batch":{"__proto__":{"maxBatchSize":0}},"exporters":[{"type":"console","__proto__":{"stream":"stdout"}}]}]}',
      ) as unknown,
      issues: [
        { path: 'pipelines[0].batch.__proto__', message: 'is not allowed as a key' },
        { path: 'pipelines[0].exporters[0].__proto__', message: 'is not allowed as a key' },
      ],
    },
    {
      what: 'a YAML alias cycle',
      input: parseConfigText('pipelines:\n  - &p\n    exporters: [{ type: console, again: *p }]\n', 'cycle.yaml'),
      issues: [{ path: 'pipelines[0].exporters[0].again', message: 'contains itself (a YAML alias cycle or a circular object)' }],
    },
    {
      what: 'nesting too deep to walk',
      input: { pipelines: [{ exporters: [{ type: 'console', deep: JSON.parse(`${'['.repeat(10_000)}${']'.repeat(10_000)}`) as unknown }] }] },
      issues: [{ path: `pipelines[0].exporters[0].deep${'[0]'.repeat(59)}`, message: 'is nested deeper than 64 levels' }],
    },
    {
      what: 'a getter that throws',
      input: { pipelines: [{ get exporters(): never { throw new Error(SECRET); } }] },
      issues: [{ path: 'pipelines[0]', message: 'could not be read (a getter or proxy threw)' }],
    },
    {
      what: 'something that is not an object',
      input: 'pipelines',
      issues: [{ path: '', message: 'must be an object' }],
    },
  ];

  it.each(cases)('names the path and the problem for $what', ({ input, env, issues }) => {
    const error = thrown(() => parseConfig(input, { env: env ?? {} }));
    expect(error.code).toBe('TRACKPIPE_ERR_CONFIG_INVALID');
    expect(issuesOf(error)).toEqual(issues);
    for (const issue of issuesOf(error)) expect(error.message).toContain(`${issue.path === '' ? '(root)' : issue.path}: ${issue.message}`);
  });

  it('reports every problem at once', () => {
    const error = thrown(() =>
      parseConfig(
        {
          pipelines: [{ batch: { maxBatchSize: 0, maxQueueSize: 'many', bogus: true }, exporters: [{ type: 'console', key: '${env:NOPE}' }] }],
          metrics: { enabled: 'yes' },
        },
        { env: {} },
      ),
    );
    expect(issuesOf(error).map((i) => i.path)).toEqual([
      'pipelines[0].exporters[0].key',
      'pipelines[0].batch.maxQueueSize',
      'pipelines[0].batch.maxBatchSize',
      'pipelines[0].batch.bogus',
      'metrics.enabled',
    ]);
    expect(error.message).toMatch(/^TRACKPIPE_ERR_CONFIG_INVALID: the configuration has 5 problems:\n/);
  });

  it('never prints a secret substituted from the environment, whatever goes wrong', async () => {
    const env = { API_TOKEN: SECRET };
    const errors: TrackpipeError[] = [
      // Secrets where the schema wants something else.
      thrown(() => parseConfig(withBatch({ maxBatchSize: '${env:API_TOKEN}', overflow: '${env:API_TOKEN}' }), { env })),
      thrown(() => parseConfig({ ...minimal, metrics: { path: '${env:API_TOKEN}', enabled: '${env:API_TOKEN}' } }, { env })),
      thrown(() => parseConfig({ pipelines: [{ name: '${env:API_TOKEN}!', exporters: [{ type: '${env:API_TOKEN}' }] }] }, { env })),
      // A secret in a literal config that does not parse.
      thrown(() => parseConfigText(`pipelines:\n  - name: main\n    token: "${SECRET}\n  exporters: [`, 'inline')),
      thrown(() => parseConfigText(`{"pipelines": [{"token": "${SECRET}}]}`, 'inline')),
      await rejected(loadConfig({ env: { [CONFIG_ENV]: `{"pipelines": [{"token": ${SECRET}}]}` } })),
      // Secrets the factories refuse, and an unknown type coming from the environment.
      await rejected(
        createCollector(
          {
            pipelines: [
              {
                exporters: [
                  { type: 'file', path: '${env:API_TOKEN}', mode: '${env:API_TOKEN}' },
                  { type: 'console', stream: '${env:API_TOKEN}' },
                  { type: 'function', ref: '${env:API_TOKEN}' },
                ],
              },
            ],
          },
          { env, logger: silentLogger },
        ),
      ),
      await rejected(createCollector({ pipelines: [{ exporters: [{ type: '${env:API_TOKEN}' }] }] }, { env, logger: silentLogger })),
    ];
    for (const error of errors) {
      expect(error.code).toBe('TRACKPIPE_ERR_CONFIG_INVALID');
      expect(printed(error)).not.toContain(SECRET);
      expect(printed(error)).not.toContain(SECRET.slice(0, 8));
    }
    expect(issuesOf(errors[0]!).map((i) => i.path)).toEqual(['pipelines[0].batch.maxBatchSize', 'pipelines[0].batch.overflow']);
    expect(issuesOf(errors[6]!)).toEqual([
      { path: 'pipelines[0].exporters[0].mode', message: 'unknown key' },
      { path: 'pipelines[0].exporters[1].stream', message: 'must be one of "stdout", "stderr"' },
      { path: 'pipelines[0].exporters[2].ref', message: 'no such function (known: none; pass { functions } to createCollector)' },
    ]);
    expect(issuesOf(errors[7]!)).toEqual([
      { path: 'pipelines[0].exporters[0].type', message: 'unknown exporter type (known: console, file, function)' },
    ]);
  });

  it('reports where a file fails to parse, by line and column', () => {
    const error = thrown(() => parseConfigText('pipelines:\n  - exporters: [\n', 'trackpipe.yaml'));
    expect(error.message).toMatch(/trackpipe\.yaml/);
    expect(issuesOf(error)[0]!.message).toMatch(/^not valid JSON or YAML at line \d+, column \d+ \([A-Z_]+\)$/);
  });
});

describe('environment substitution', () => {
  it('substitutes ${env:NAME} in string values, with defaults and an escape, and leaves keys alone', () => {
    const config = parseConfig(
      {
        pipelines: [
          {
            exporters: [
              {
                type: 'http',
                url: 'https://${env:HOST}/v1/${env:PATH_PART:-events}',
                headers: { '${env:HOST}': 'Bearer ${env:TOKEN}', literal: '$${env:TOKEN}', empty: '${env:EMPTY:-fallback}' },
                list: ['${env:HOST}', 3],
              },
            ],
          },
        ],
      },
      { env: { HOST: 'ingest.example', TOKEN: SECRET, EMPTY: '' } },
    );
    expect(config.pipelines[0]!.exporters[0]).toEqual({
      type: 'http',
      url: 'https://ingest.example/v1/events',
      headers: { '${env:HOST}': `Bearer ${SECRET}`, literal: '${env:TOKEN}', empty: 'fallback' },
      list: ['ingest.example', 3],
    });
  });

  it('does not substitute twice: a validated config passes through createCollector unchanged', async () => {
    const config = parseConfig(
      { pipelines: [{ exporters: [{ type: 'function', ref: '${env:FN}' }] }], metrics: { enabled: false } },
      { env: { FN: 'fn' } },
    );
    expect(parseConfig(config)).toBe(config);
    const tp = await createCollector(config, { functions: { fn: () => undefined }, env: {}, logger: silentLogger });
    expect(tp.config).toBe(config);
    await tp.close();
  });

  it('reads process.env by default (only in the loader)', () => {
    vi.stubEnv('TRACKPIPE_TEST_HOST', 'from-process-env');
    try {
      const config = parseConfig({ ...minimal, metrics: { host: '${env:TRACKPIPE_TEST_HOST}' } });
      expect(config.metrics.host).toBe('from-process-env');
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe('loading', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trackpipe-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const yamlText = [
    '# Trackpipe configuration',
    'pipelines:',
    '  - name: flags',
    '    batch:',
    '      maxBatchSize: 64',
    '      flushIntervalMs: 250',
    '    exporters:',
    '      - type: file',
    '        path: ${env:OUT_DIR}/events.ndjson',
    'metrics:',
    '  port: 0',
    '',
  ].join('\n');
  const expected = {
    pipelines: [{ name: 'flags', batch: { maxBatchSize: 64, flushIntervalMs: 250 }, exporters: [{ type: 'file', path: '/tmp/out/events.ndjson' }] }],
    metrics: { enabled: true, host: '127.0.0.1', port: 0, path: '/metrics', defaultMetrics: false, global: false },
  };
  const env = { OUT_DIR: '/tmp/out' };

  it('loads a YAML file', async () => {
    const file = join(dir, 'trackpipe.yaml');
    await writeFile(file, yamlText);
    expect(await loadConfig({ file, env })).toEqual(expected);
  });

  it('loads a JSON file', async () => {
    const file = join(dir, 'trackpipe.json');
    const json = {
      pipelines: [{ name: 'flags', batch: { maxBatchSize: 64, flushIntervalMs: 250 }, exporters: [{ type: 'file', path: '${env:OUT_DIR}/events.ndjson' }] }],
      metrics: { port: 0 },
    };
    await writeFile(file, JSON.stringify(json, null, '\t'));
    expect(await loadConfig({ file, env })).toEqual(expected);
  });

  it('names the file in errors, and a file that cannot be read', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'pipelines:\n  - exporters:\n      - type: console\n    batch:\n      maxBatchSize: -1\n');
    const error = await rejected(loadConfig({ file, env }));
    expect(error.message).toContain(file);
    expect(issuesOf(error)).toEqual([{ path: 'pipelines[0].batch.maxBatchSize', message: 'must be an integer >= 1' }]);
    const missing = await rejected(loadConfig({ file: join(dir, 'nope.yaml'), env }));
    expect(missing.code).toBe('TRACKPIPE_ERR_CONFIG_INVALID');
    expect(missing.message).toMatch(/cannot read the configuration file .*nope\.yaml: ENOENT/);
  });

  it('prefers an object over a file over TRACKPIPE_CONFIG', async () => {
    const object = { pipelines: [{ name: 'from-object', exporters: [{ type: 'console' }] }] };
    const config = await loadConfig({ object, file: join(dir, 'nope.yaml'), env: { [CONFIG_ENV]: '{"pipelines": []}' } });
    expect(config.pipelines[0]!.name).toBe('from-object');
  });

  it('reads TRACKPIPE_CONFIG as a file path', async () => {
    const file = join(dir, 'from-env.yml');
    await writeFile(file, yamlText);
    expect(await loadConfig({ env: { ...env, [CONFIG_ENV]: ` ${file} ` } })).toEqual(expected);
  });

  it('reads TRACKPIPE_CONFIG as inline JSON', async () => {
    const inline = JSON.stringify({ pipelines: [{ name: 'inline', exporters: [{ type: 'console' }] }] });
    const config = await loadConfig({ env: { [CONFIG_ENV]: inline } });
    expect(config.pipelines[0]!.name).toBe('inline');
  });

  it('reads TRACKPIPE_CONFIG as inline YAML when it spans lines', async () => {
    const config = await loadConfig({ env: { ...env, [CONFIG_ENV]: yamlText } });
    expect(config).toEqual(expected);
  });

  it('names TRACKPIPE_CONFIG in its errors, and says when there is no configuration at all', async () => {
    const error = await rejected(loadConfig({ env: { [CONFIG_ENV]: '{"pipelines": [], "extra": 1}' } }));
    expect(error.message).toContain(`(${CONFIG_ENV})`);
    expect(issuesOf(error).map((i) => i.path)).toEqual(['pipelines', 'extra']);
    const none = await rejected(loadConfig({ env: {} }));
    expect(none.code).toBe('TRACKPIPE_ERR_CONFIG_INVALID');
    expect(none.message).toContain(CONFIG_ENV);
  });
});

describe('fan-out with one exporter down', () => {
  it('delivers everything through the healthy exporter while the dead one queues and drops, each counted separately', async () => {
    const delivered = new Set<string>();
    let deadCalls = 0;
    const tp = await createCollector<TelemetryEvent>(
      {
        pipelines: [
          {
            name: 'flags',
            batch: { maxQueueSize: 20, maxBatchSize: 10, flushIntervalMs: 20, closeTimeoutMs: 2_000 },
            retry: { initialBackoffMs: 5, maxBackoffMs: 20, maxElapsedMs: 600_000 },
            exporters: [
              { type: 'function', name: 'healthy', ref: 'healthy' },
              { type: 'function', name: 'dead', ref: 'dead' },
            ],
          },
        ],
        metrics: { port: 0 },
      },
      {
        logger: silentLogger,
        functions: {
          healthy: (events: readonly Recorded<TelemetryEvent>[]) => {
            for (const event of events) delivered.add(event.id);
          },
          dead: () => {
            deadCalls++;
            return ExportResults.retry({ error: new Error('connection refused') });
          },
        },
      },
    );
    const pipeline = tp.pipelines.get('flags')!;
    const healthy = pipeline.exporters.get('healthy')!;
    const dead = pipeline.exporters.get('dead')!;
    expect(healthy.options.maxBatchSize).toBe(10);

    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 10; i++) tp.record({ name: 'feature_flag.evaluation', attributes: { round, i } });
      const report = await healthy.flush({ timeoutMs: 10_000 });
      expect(report.complete).toBe(true);
    }
    await vi.waitFor(() => expect(deadCalls).toBeGreaterThan(1), { timeout: 10_000 });

    const h = healthy.stats();
    const d = dead.stats();
    expect(h).toMatchObject({ recorded: 100, exported: 100, dropped: 0, queued: 0, inFlight: 0 });
    expect(delivered.size).toBe(100);
    expect(d.recorded).toBe(100);
    expect(d.exported).toBe(0);
    // It holds at most its queue (20) plus one batch (10) per export slot (2); the rest is dropped.
    expect(d.droppedByReason.queue_full).toBeGreaterThanOrEqual(100 - 20 - 2 * 10);
    expect(d.queued + d.inFlight).toBeLessThanOrEqual(20 + 2 * 10);
    expect(d.recorded).toBe(d.exported + d.dropped + d.queued + d.inFlight);
    expect(d.failedExports.retryable).toBeGreaterThan(0);

    // The metrics endpoint tells the two apart.
    const response = await fetch(tp.metricsServer!.url);
    const families = parseExposition(await response.text());
    const healthyLabels = { pipeline: 'flags', exporter: 'healthy' };
    const deadLabels = { pipeline: 'flags', exporter: 'dead' };
    const now = { healthy: healthy.stats(), dead: dead.stats() };
    expect(valueOf(families, METRICS.exported.name, healthyLabels)).toBe(100);
    expect(valueOf(families, METRICS.exported.name, deadLabels)).toBe(0);
    expect(valueOf(families, METRICS.dropped.name, { ...deadLabels, reason: 'queue_full' })).toBe(now.dead.droppedByReason.queue_full);
    expect(valueOf(families, METRICS.dropped.name, { ...healthyLabels, reason: 'queue_full' })).toBe(0);
    expect(valueOf(families, METRICS.failures.name, { ...deadLabels, kind: 'retryable' })).toBeGreaterThan(0);
    expect(valueOf(families, METRICS.failures.name, { ...healthyLabels, kind: 'retryable' })).toBe(0);

    // Closing gives up on the dead exporter at the deadline and says so; the server stops.
    const report = await tp.close({ timeoutMs: 200 });
    expect(report.complete).toBe(false);
    expect(report.droppedByReason.shutdown_timeout).toBeGreaterThan(0);
    expect(dead.stats()).toMatchObject({ exported: 0, dropped: 100, queued: 0, inFlight: 0 });
    expect(healthy.stats()).toMatchObject({ exported: 100, dropped: 0 });
    await expect(fetch(tp.metricsServer!.url)).rejects.toThrow();
  });
});

describe('README option list', () => {
  it('states the bounds and default of every processor option as the option tables do', async () => {
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    const headings = readme.split('\n').filter((line) => line.startsWith('### `'));
    const bounds = (o: NumericOption) => (o.max === undefined ? `${o.kind} ≥ ${o.min}` : `${o.kind} from ${o.min} to ${o.max}`);
    const expected = [
      ...Object.entries(BATCH_OPTIONS).map(([key, o]) => `### \`${key}\` — ${bounds(o)}, default \`${o.default}\``),
      ...Object.entries(RETRY_OPTIONS).map(([key, o]) => `### \`retry.${key}\` — ${bounds(o)}, default \`${o.default}\``),
    ];
    for (const heading of expected) expect(headings).toContain(heading);
  });
});
