// Building blocks shared by Trackpipe's own packages. Not a public API: names and shapes change
// without notice. Applications use the root entry.
export { admit } from './admission.js';
export { describeValue } from './errors.js';
export { recordTime } from './id.js';
export { MAX_TIMER_MS, callerTimeout, readOptions, resolveOptions } from './options.js';
export { type Answer, Thrown, readAnswer } from './processor/answer.js';
export { Batcher, type PoisonHandler, type Work } from './processor/batcher.js';
export { type FlushSource, FlushTracker } from './processor/flush-tracker.js';
export { Ledger, type LedgerSnapshot, type LedgerView, mergeReports, sumStats } from './processor/ledger.js';
export { type RetrySchedule, type RetryState, RetryPolicy, backoffDelay } from './processor/retry-policy.js';
export { setOwn } from './own.js';
export { RingBuffer } from './ring.js';
export { within } from './within.js';
export { resolveSummarizingOptions } from './summaries/summarizing-collector.js';
