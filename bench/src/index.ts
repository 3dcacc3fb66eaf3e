// The benchmark is a program (`pnpm bench`, src/run.ts); these exports let tests and other tools reuse its parts.
export { type BenchClient, type ClientSettings, type ShutdownOutcome } from './clients/types.js';
export { CLIENT_NAMES, type ClientName, HTTP_CLIENTS, createClient } from './clients/index.js';
export { FloorClient } from './clients/floor.js';
export { TrackpipeHttpClient } from './clients/trackpipe-http.js';
export { Sink, type SinkCounts, type SinkFaults, eventsOf, idOf, parseBody } from './sink.js';
export { BATCH_SIZE, BURST, flagEvaluationAt } from './workload.js';
