// Records simulated flag evaluations through a BatchProcessor that writes NDJSON to a file, then
// closes it and prints what was delivered. Run: pnpm demo (or node dist/main.js [events] [file]).
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BatchProcessor, type FlagEvaluationEvent, NdjsonExporter, flagEvaluation } from '@trackpipe/core';

const total = Number(process.argv[2] ?? 10_000);
const file = process.argv[3] ?? join(tmpdir(), `trackpipe-quickstart-${process.pid}.ndjson`);

const collector = new BatchProcessor<FlagEvaluationEvent>(new NdjsonExporter({ destination: { path: file } }), {
  name: 'quickstart',
  flushIntervalMs: 200,
});

const variants = ['control', 'treatment'] as const;
const started = performance.now();
for (let i = 0; i < total; i++) {
  const variant = variants[i % 2] ?? 'control';
  collector.record(
    flagEvaluation({
      flagKey: i % 3 === 0 ? 'new-checkout' : 'dark-mode',
      value: variant === 'treatment',
      variant,
      reason: 'SPLIT',
      targetingKey: `user-${i % 1000}`,
      provider: 'quickstart',
    }),
  );
  if (i % 1000 === 999) await new Promise((resolve) => setImmediate(resolve)); // let exports run
}
const report = await collector.close();
const seconds = (performance.now() - started) / 1000;
const s = collector.stats();
console.log(
  `recorded ${s.recorded}, exported ${s.exported}, dropped ${s.dropped}, queued ${s.queued} ` +
    `in ${seconds.toFixed(2)} s (${Math.round(s.exported / seconds)} events/s); close complete: ${report.complete}`,
);
console.log(`events written to ${file}`);
if (!report.complete || s.exported !== total) process.exitCode = 1;
