// One program, two destinations: node dist/main.js <config file> [events]. The exporters come from the
// config alone (config/http.yaml or config/kafka.yaml); nothing here names HTTP or Kafka but the list
// of exporter types the program allows. Prints one JSON line with the outcome; exit 1 if anything was lost.
import { type FlagEvaluationEvent, flagEvaluation } from '@trackpipe/core';
import { loadConfig } from '@trackpipe/core/config';
import { createCollector } from '@trackpipe/core/di';
import { httpExporterModule } from '@trackpipe/exporter-http/di';
import { kafkaExporterModule } from '@trackpipe/exporter-kafka/di';

const [file, count = '1000'] = process.argv.slice(2);
if (file === undefined) {
  console.error('usage: main.js <config file> [events]');
  process.exit(2);
}

const collector = await createCollector<FlagEvaluationEvent>(await loadConfig({ file }), {
  modules: [httpExporterModule, kafkaExporterModule],
});
const total = Number(count);
for (let i = 0; i < total; i++) {
  collector.record(
    flagEvaluation({ flagKey: 'new-checkout', value: i % 2 === 0, variant: i % 2 === 0 ? 'on' : 'off', targetingKey: `user-${i % 50}` }),
  );
  if (i % 500 === 499) await new Promise((resolve) => setImmediate(resolve));
}
const report = await collector.close({ timeoutMs: 30_000 });
const exporters = [...collector.pipelines.values()].flatMap((p) => [...p.exporters.keys()]);
console.log(JSON.stringify({ exporters, recorded: total, ...report }));
if (!report.complete || report.exported !== total) process.exitCode = 1;
