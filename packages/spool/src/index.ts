export { COMMIT_SECONDS_BUCKETS, type HistogramSnapshot } from './histogram.js';
export { type ResolvedSpoolOptions, SPOOL_DEFAULTS, type SpoolOptions, type SpoolSyncOptions, resolveSpoolOptions } from './options.js';
export { Spool, type SpoolStats } from './spool.js';
export { SPOOL_FORMAT, SPOOL_UNAVAILABLE } from './constants.js';
