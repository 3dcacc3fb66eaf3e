import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { FloorClient } from './floor.js';
import { OtelClient } from './otel.js';
import { PosthogClient } from './posthog.js';
import { SegmentClient } from './segment.js';
import { TrackpipeHttpClient } from './trackpipe-http.js';
import type { BenchClient, ClientInfo, ClientSettings } from './types.js';

/** Every HTTP client under test, in the order they run within a round. */
export const HTTP_CLIENTS = ['floor', 'trackpipe-json', 'trackpipe-otlp', 'otel', 'posthog', 'segment'] as const;

/**
 * Every client the runner can build: the above, the gzip variant (scenario 2), and experiment variants
 * that only run when named with `--clients` (see what-we-tried.md).
 */
export const CLIENT_NAMES = [...HTTP_CLIENTS, 'trackpipe-json-gzip', 'trackpipe-json-spool', 'trackpipe-json-c8', 'trackpipe-otlp-c8', 'trackpipe-json-b100', 'trackpipe-otlp-direct', 'trackpipe-json-batch'] as const;

/** A client's name. */
export type ClientName = (typeof CLIENT_NAMES)[number];

/** True when `name` is a client the runner can build. */
export function isClientName(name: string): name is ClientName {
  return (CLIENT_NAMES as readonly string[]).includes(name);
}

/** Builds a client in this process. */
export function createClient(name: ClientName, settings: ClientSettings): BenchClient {
  switch (name) {
    case 'floor':
      return new FloorClient(settings);
    case 'trackpipe-json':
      return new TrackpipeHttpClient(name, settings, { format: 'json', gzip: false });
    case 'trackpipe-json-gzip':
      return new TrackpipeHttpClient(name, settings, { format: 'json', gzip: true });
    case 'trackpipe-json-spool':
      // The same room in memory as the in-memory client's queue: events waiting for their commit.
      return new TrackpipeHttpClient(name, settings, { format: 'json', gzip: false, spool: { maxPendingEvents: settings.queueSize } });
    case 'trackpipe-otlp':
      return new TrackpipeHttpClient(name, settings, { format: 'otlp', gzip: false });
    case 'trackpipe-json-c8':
      return new TrackpipeHttpClient(name, settings, { format: 'json', gzip: false, concurrency: 8 });
    case 'trackpipe-otlp-c8':
      return new TrackpipeHttpClient(name, settings, { format: 'otlp', gzip: false, concurrency: 8 });
    case 'trackpipe-json-batch':
      return new TrackpipeHttpClient(name, settings, { format: 'json-batch', gzip: false });
    case 'trackpipe-otlp-direct':
      return new TrackpipeHttpClient(name, settings, { format: 'otlp-direct', gzip: false });
    case 'trackpipe-json-b100':
      return new TrackpipeHttpClient(name, settings, { format: 'json', gzip: false, retry: { initialBackoffMs: 100 } });
    case 'otel':
      return new OtelClient(settings);
    case 'posthog':
      return new PosthogClient(settings);
    case 'segment':
      return new SegmentClient(settings);
  }
}

const require = createRequire(import.meta.url);

/** The installed version of a package (read from its package.json, found from its entry point). */
export function packageVersion(name: string): string {
  try {
    let dir = dirname(require.resolve(name));
    for (let i = 0; i < 8; i++) {
      try {
        const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
        if (manifest.name === name && manifest.version !== undefined) return manifest.version;
      } catch {
        // not here; go up
      }
      dir = dirname(dir);
    }
  } catch {
    // not installed
  }
  return 'unknown';
}

/** The installed version of a dependency of `@trackpipe/exporter-kafka` (e.g. `@platformatic/kafka`, which the bench does not depend on itself). */
function kafkaExporterDependencyVersion(name: string): string {
  try {
    let dir = dirname(createRequire(require.resolve('@trackpipe/exporter-kafka')).resolve(name));
    for (let i = 0; i < 8; i++, dir = dirname(dir)) {
      try {
        const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string; version?: string };
        if (manifest.name === name && manifest.version !== undefined) return manifest.version;
      } catch {
        // not here; go up
      }
    }
  } catch {
    // not installed
  }
  return 'unknown';
}

/** Labels, versions and queue bounds of the clients, for the results. */
export function clientInfo(): Record<string, ClientInfo> {
  const trackpipe = `@trackpipe/core ${packageVersion('@trackpipe/core')} + @trackpipe/exporter-http ${packageVersion('@trackpipe/exporter-http')}`;
  return {
    floor: { label: 'floor (hand-written)', version: `node:http ${process.version}`, bound: 'none (no retry either)' },
    'trackpipe-json': { label: 'Trackpipe JSON', version: trackpipe, bound: 'maxQueueSize, drop-oldest, counted' },
    'trackpipe-json-gzip': { label: 'Trackpipe JSON, defaults (gzip level 1)', version: trackpipe, bound: 'maxQueueSize, drop-oldest, counted' },
    'trackpipe-json-spool': {
      label: 'Trackpipe JSON + spool',
      version: `${trackpipe} + @trackpipe/spool ${packageVersion('@trackpipe/spool')}`,
      bound: 'the spool: maxBytes (1 GiB) on disk, maxPendingEvents (the scenario\'s queue size, as the in-memory clients\' maxQueueSize) waiting for their commit; counted',
    },
    'trackpipe-otlp': { label: 'Trackpipe OTLP', version: trackpipe, bound: 'maxQueueSize, drop-oldest, counted' },
    'trackpipe-json-c8': { label: 'Trackpipe JSON, 8 exports in flight (experiment)', version: trackpipe, bound: 'maxQueueSize, drop-oldest, counted' },
    'trackpipe-otlp-c8': { label: 'Trackpipe OTLP, 8 exports in flight (experiment)', version: trackpipe, bound: 'maxQueueSize, drop-oldest, counted' },
    'trackpipe-json-batch': { label: 'Trackpipe JSON, one JSON.stringify per batch (experiment)', version: trackpipe, bound: 'maxQueueSize, drop-oldest, counted' },
    'trackpipe-otlp-direct': { label: 'Trackpipe OTLP, direct text encoder (experiment)', version: trackpipe, bound: 'maxQueueSize, drop-oldest, counted' },
    'trackpipe-json-b100': { label: 'Trackpipe JSON, first backoff 100 ms (experiment)', version: trackpipe, bound: 'maxQueueSize, drop-oldest, counted' },
    otel: {
      label: 'OpenTelemetry JS',
      version: `@opentelemetry/sdk-logs ${packageVersion('@opentelemetry/sdk-logs')} + exporter-logs-otlp-http ${packageVersion('@opentelemetry/exporter-logs-otlp-http')}`,
      bound: 'maxQueueSize, drops newest, count not exposed',
    },
    posthog: { label: 'posthog-node', version: `posthog-node ${packageVersion('posthog-node')}`, bound: 'maxQueueSize, drops oldest, count not exposed' },
    segment: {
      label: '@segment/analytics-node',
      version: `@segment/analytics-node ${packageVersion('@segment/analytics-node')}`,
      bound: 'none (every batch is kept until sent or its retries end)',
    },
    'kafkajs-raw': { label: 'kafkajs producer (raw)', version: `kafkajs ${packageVersion('kafkajs')}`, bound: 'none' },
    'trackpipe-kafka-c8': {
      label: 'Trackpipe Kafka, 8 exports in flight (experiment)',
      version: `@trackpipe/core ${packageVersion('@trackpipe/core')} + @trackpipe/exporter-kafka ${packageVersion('@trackpipe/exporter-kafka')}`,
      bound: 'maxQueueSize, drop-oldest, counted',
    },
    'trackpipe-kafka-kafkajs': {
      label: 'Trackpipe Kafka, kafkajs',
      version: `@trackpipe/exporter-kafka ${packageVersion('@trackpipe/exporter-kafka')} + kafkajs ${packageVersion('kafkajs')}`,
      bound: 'maxQueueSize, drop-oldest, counted',
    },
    'trackpipe-kafka-platformatic': {
      label: 'Trackpipe Kafka, @platformatic/kafka',
      version: `@trackpipe/exporter-kafka ${packageVersion('@trackpipe/exporter-kafka')} + @platformatic/kafka ${kafkaExporterDependencyVersion('@platformatic/kafka')}`,
      bound: 'maxQueueSize, drop-oldest, counted',
    },
    'trackpipe-kafka': {
      label: 'Trackpipe Kafka',
      version: `@trackpipe/core ${packageVersion('@trackpipe/core')} + @trackpipe/exporter-kafka ${packageVersion('@trackpipe/exporter-kafka')}`,
      bound: 'maxQueueSize, drop-oldest, counted',
    },
  };
}
