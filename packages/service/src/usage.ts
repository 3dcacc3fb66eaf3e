// What the `trackpipe` command says without loading any of the service: its help, its version, and
// the error of a bad command line.
import { readFileSync } from 'node:fs';

/** The text of `trackpipe --help`. */
export const HELP = `trackpipe — the Trackpipe collector service

Usage:
  trackpipe serve [options]     run the service until SIGTERM or SIGINT
  trackpipe validate [options]  check a configuration without starting anything
  trackpipe --help              show this help
  trackpipe --version           show the version

Options of serve:
  -c, --config <file>     JSON or YAML configuration (service, receivers, pipelines, metrics).
                          Default: $TRACKPIPE_CONFIG (a path or the configuration itself),
                          else embedded defaults: NDJSON files in $TRACKPIPE_DATA_DIR
                          (./trackpipe-data), or Kafka when $KAFKA_BROKERS is set.
      --host <address>    interface for HTTP and gRPC (overrides the configuration)
  -p, --port <port>       HTTP port (overrides service.http.port; 0 = any free port)
      --grpc-port <port>  gRPC port (overrides service.grpc.port; 0 = any free port)
      --log-level <level> debug, info, warn or error (overrides service.logLevel)
      --allow-unauthenticated
                          start even though ingest listens on a non-loopback address with no
                          API key (service.auth.allowUnauthenticated); without keys or this,
                          such a service refuses to start
  -h, --help              show this help

Options of validate:
  -c, --config <file>     the configuration to check (default: as serve)
      --check-connections also check that file exporters can write their files and that
                          Kafka brokers and HTTP exporter hosts accept a TCP connection
  Checks the schema, \${env:NAME} references, exposure without API keys and every
  exporter's and receiver's options (through its factory). Prints one line per problem (its path,
  never a value) on stderr and exits 2; exits 0 when the configuration is good.

Endpoints: POST /v1/track, /v1/batch, /v1/identify; GET /healthz, /readyz, /metrics;
gRPC analytics.v1.AnalyticsService (TrackEvent, IdentifyUser, TrackBatch).
Logs are JSON lines on stdout. Exit status after SIGTERM/SIGINT: 0 when every accepted event
was exported (nothing dropped since the start, for any reason), 1 otherwise; 2 for a usage or
configuration error.
`;

/** The package's version, or `unknown`. */
export function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** A bad command line: `trackpipe` prints it with a hint to --help, and exits 2. */
export class UsageError extends Error {}
