// node dist/main.js <config file> [events]: records flag evaluations through whatever exporters the
// config names — here the built-in `file` and the application's own `audit` — then prints one JSON
// line with the outcome, followed by what a /metrics endpoint would serve (Trackpipe's self-metrics
// and the audit exporter's own counter, from the one injected registry). Exit 1 if anything was lost.
import { type FlagEvaluationEvent, flagEvaluation } from '@trackpipe/core';
import { loadConfig } from '@trackpipe/core/config';
import { createCollector } from '@trackpipe/core/di';
import { auditModule } from './audit-module.js';

const [file, count = '1000'] = process.argv.slice(2);
if (file === undefined) {
  console.error('usage: main.js <config file> [events]');
  process.exit(2);
}

const collector = await createCollector<FlagEvaluationEvent>(await loadConfig({ file }), { modules: [auditModule] });
const total = Number(count);
for (let i = 0; i < total; i++) {
  collector.record(flagEvaluation({ flagKey: 'new-checkout', value: i % 3 === 0, variant: i % 3 === 0 ? 'on' : 'off', targetingKey: `user-${i % 40}` }));
  if (i % 500 === 499) await new Promise((resolve) => setImmediate(resolve));
}
const flushed = await collector.flush({ timeoutMs: 30_000 });
const metrics = await collector.registry.metrics(); // before close(), which detaches the self-metrics
const closed = await collector.close({ timeoutMs: 10_000 });
const exporters = [...collector.pipelines.values()].flatMap((p) => [...p.exporters.keys()]);
// Each exporter has its own processor: stats() sums them, so an event counts once per exporter.
const { exported, dropped } = collector.stats();
const complete = flushed.complete && closed.complete;
console.log(JSON.stringify({ exporters, recorded: total, complete, exported, dropped }));
process.stdout.write(metrics);
if (!complete || exported !== total * exporters.length) process.exitCode = 1;
