import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InMemoryProvider, OpenFeature } from '@openfeature/server-sdk';
import { memoryExporterModule } from '@trackpipe/collector-memory/di';
import type { FlagEvaluationEvent, FlushReport, SummarizingOptions } from '@trackpipe/core';
import type { TrackpipeConfigInput } from '@trackpipe/core/config';
import { type CreateCollectorOptions, type TrackpipeCollector, createCollector } from '@trackpipe/core/di';
import { instrumentFlagEvaluations, metricsHandler } from '@trackpipe/core/metrics';
import { httpExporterModule } from '@trackpipe/exporter-http/di';
import { type HookMode, TrackpipeHook } from '@trackpipe/openfeature';

/** The flags this app knows, served by OpenFeature's in-memory provider. */
export const FLAGS = {
  'new-checkout': {
    variants: { on: true, off: false },
    defaultVariant: 'off',
    disabled: false,
    contextEvaluator: (context: { targetingKey?: string }) =>
      (context.targetingKey ?? '').length % 2 === 0 ? 'on' : 'off',
  },
  'checkout-theme': {
    variants: { light: 'light', dark: 'dark' },
    defaultVariant: 'light',
    disabled: false,
  },
} as const;

/** A running app: its address, its collector (with the metrics registry), its hook and a stop function. */
export interface App {
  readonly url: string;
  readonly collector: TrackpipeCollector<FlagEvaluationEvent>;
  /** The Trackpipe hook (its `summarizer` in the summary modes). */
  readonly hook: TrackpipeHook;
  /** Flushes what the hook recorded (in the summary modes: the open window first). */
  flush(): Promise<FlushReport>;
  /** Stops the server, then closes the hook (the open window of summaries) and the collector (flushing every exporter), and OpenFeature. */
  close(): Promise<FlushReport>;
}

/** How the app tracks evaluations. */
export interface TrackingOptions {
  /**
   * `"events"`: every evaluation; `"summaries"`: counts per flag and variant per window;
   * `{ summaries: true, sample, seed? }`: summaries plus a sampled share of full events. Default `"events"`.
   */
  mode?: HookMode;
  /** Options of the summarizer in the summary modes (`intervalMs`, `maxKeys`, ...). Default: its defaults. */
  summarizer?: SummarizingOptions;
}

/**
 * Starts the app: `GET /checkout?user=<id>` evaluates two flags for the user through OpenFeature, with
 * the Trackpipe hook recording each evaluation into the pipelines the config describes; `GET /metrics`
 * serves Trackpipe's self-metrics. The exporters come from the config alone.
 */
export async function startApp(
  config: TrackpipeConfigInput,
  options: { port?: number; collector?: CreateCollectorOptions<FlagEvaluationEvent>; tracking?: TrackingOptions } = {},
): Promise<App> {
  const collector = await createCollector<FlagEvaluationEvent>(config, {
    ...options.collector,
    modules: [memoryExporterModule, httpExporterModule, ...(options.collector?.modules ?? [])],
  });
  await OpenFeature.setProviderAndWait(new InMemoryProvider(FLAGS));
  const flags = OpenFeature.getClient('checkout');
  // Record every evaluation (or summaries of them); copy the `plan` attribute, hash the user id, keep the e-mail out.
  const hook = new TrackpipeHook(collector, {
    contextAttributes: ['plan'],
    targetingKey: 'hash',
    hashSalt: 'demo',
    mode: options.tracking?.mode ?? 'events',
    summarizer: options.tracking?.summarizer ?? {},
  });
  flags.addHooks(hook);
  // In the summary modes: trackpipe_flag_evaluations_total{flag, variant} on /metrics, at most 20 series.
  if (hook.summarizer !== undefined) instrumentFlagEvaluations(hook.summarizer, { registry: collector.registry, maxSeries: 20 });
  const metrics = metricsHandler(collector.registry);

  const server: Server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (url.pathname === '/metrics') return metrics(request, response);
    if (url.pathname !== '/checkout') {
      response.writeHead(404).end();
      return;
    }
    const context = {
      targetingKey: url.searchParams.get('user') ?? 'anonymous',
      plan: url.searchParams.get('plan') ?? 'free',
      email: `${url.searchParams.get('user') ?? 'anonymous'}@example.com`,
    };
    void (async () => {
      const newCheckout = await flags.getBooleanValue('new-checkout', false, context);
      const theme = await flags.getStringValue('checkout-theme', 'light', context);
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ newCheckout, theme }));
    })();
  });
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    collector,
    hook,
    flush: () => hook.flush(),
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      // The hook closes what it records into: the summarizer (its open window first) and the collector.
      const report = await hook.close();
      await OpenFeature.close();
      return report;
    },
  };
}
