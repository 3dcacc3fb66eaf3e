// The options of the gRPC ingest server and their checks, apart from the server: the service checks
// them when it is built, and loads the server (@grpc/grpc-js, @grpc/proto-loader) only when it starts
// gRPC ingest.
import { MAX_TIMER_MS } from '@trackpipe/core/internal';
import { durationOption, integerOption } from './options.js';

/** Options of the gRPC ingest server. Every field is optional; defaults follow each. */
export interface GrpcServerOptions {
  /** Interface to listen on. Default `"127.0.0.1"`. */
  host?: string;
  /** Port to listen on; 0 picks a free one. Default 50051. */
  port?: number;
  /** Largest request message, in bytes; larger ones get RESOURCE_EXHAUSTED. Default 4 194 304 (4 MiB). */
  maxMessageBytes?: number;
  /**
   * A call whose message has not fully arrived (and been ended by the client) this many milliseconds
   * after it began is answered DEADLINE_EXCEEDED; also the grace a connection past its age gets to
   * finish its calls. Default 30 000.
   */
  requestTimeoutMs?: number;
  /**
   * Every connection is sent a GOAWAY after this many milliseconds (±10 %, so that clients do not
   * reconnect all at once), then closed once its calls are done, or `requestTimeoutMs` later at the
   * latest. Clients reconnect for their next call. It bounds what a client that stalls can hold (a
   * stream it never ends, a connection that never starts a call). Default 120 000.
   */
  maxConnectionAgeMs?: number;
  /**
   * Calls (HTTP/2 streams) one connection may have open at once, announced to the client in the
   * HTTP/2 SETTINGS (`SETTINGS_MAX_CONCURRENT_STREAMS`): a client queues further calls until one of
   * its calls ends, and a stream opened past the limit is refused (REFUSED_STREAM) without becoming
   * a call. It bounds what one connection can hold: a client that opens calls and stalls them holds
   * at most this many. Default 100 (the HTTP/2 specification's recommended minimum).
   */
  maxConcurrentStreams?: number;
}

/** The `maxMessageBytes` of gRPC options, default applied; TRACKPIPE_ERR_OPTIONS_INVALID naming `grpc.maxMessageBytes` when it is not an integer from 1 to 2^31 - 1. */
export function maxMessageBytesOf(options: GrpcServerOptions): number {
  // grpc-js keeps message lengths in 32-bit signed integers.
  return integerOption('grpc.maxMessageBytes', options.maxMessageBytes, 4 * 1024 * 1024, 1, 2_147_483_647);
}

/** The largest SETTINGS_MAX_CONCURRENT_STREAMS HTTP/2 (and Node) allows: 2^32 - 1. */
const MAX_STREAMS = 4_294_967_295;

/** gRPC options with their defaults applied and each checked. */
export interface GrpcSettings {
  readonly host: string;
  readonly port: number;
  readonly maxMessageBytes: number;
  readonly requestTimeoutMs: number;
  readonly maxConnectionAgeMs: number;
  readonly maxConcurrentStreams: number;
}

/**
 * gRPC options, defaults applied; TRACKPIPE_ERR_OPTIONS_INVALID naming the first bad one by its path
 * (`grpc.requestTimeoutMs`, ...). What the server's constructor checks, without loading the server.
 */
export function grpcSettings(options: GrpcServerOptions): GrpcSettings {
  const maxMessageBytes = maxMessageBytesOf(options);
  const requestTimeoutMs = durationOption('grpc.requestTimeoutMs', options.requestTimeoutMs, 30_000);
  // grpc-js adds up to 10 % of jitter to the age: keep the timer Node runs in range.
  const maxConnectionAgeMs = integerOption('grpc.maxConnectionAgeMs', options.maxConnectionAgeMs, 120_000, 1, Math.floor(MAX_TIMER_MS / 1.1));
  const maxConcurrentStreams = integerOption('grpc.maxConcurrentStreams', options.maxConcurrentStreams, 100, 1, MAX_STREAMS);
  return { host: options.host ?? '127.0.0.1', port: options.port ?? 50051, maxMessageBytes, requestTimeoutMs, maxConnectionAgeMs, maxConcurrentStreams };
}
