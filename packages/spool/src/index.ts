export { COMMIT_SECONDS_BUCKETS, type HistogramSnapshot } from './histogram.js';
export { type ResolvedSpoolOptions, type SpoolOptions, type SpoolSyncOptions, resolveSpoolOptions, spoolOptionsSchema } from './options.js';
export { Spool, type SpoolStats } from './spool.js';
export { SPOOL_FORMAT, SPOOL_UNAVAILABLE } from './constants.js';
export { KEY_STORE_FORMAT, type KeptRecord, KeyStore } from './keys.js';
