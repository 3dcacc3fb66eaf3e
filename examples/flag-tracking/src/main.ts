// Runs the flag-tracking app with the config file given as argument (default: config/console.yaml).
//   node dist/main.js [config.yaml] [--mode events|summaries|sampled] [--interval-ms 10000]
// Try: node dist/main.js config/http.yaml --mode summaries, then curl 'http://127.0.0.1:3000/checkout?user=ada&plan=pro'
import { parseArgs } from 'node:util';
import { closeOnSignals } from '@trackpipe/core';
import { loadConfig } from '@trackpipe/core/config';
import type { HookMode } from '@trackpipe/openfeature';
import { startApp } from './app.js';

const USAGE = 'usage: node dist/main.js [config.yaml] [--mode events|summaries|sampled] [--interval-ms <ms>]';

/** `sampled`: summaries plus 1 % of the evaluations as full events. */
const MODES: Readonly<Record<string, HookMode>> = { events: 'events', summaries: 'summaries', sampled: { summaries: true, sample: 0.01 } };

let values: { mode?: string; 'interval-ms'?: string };
let positionals: string[];
try {
  ({ values, positionals } = parseArgs({ options: { mode: { type: 'string' }, 'interval-ms': { type: 'string' } }, allowPositionals: true }));
} catch (error) {
  console.error(`flag-tracking: ${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
  process.exit(2);
}
const mode = MODES[values.mode ?? 'events'];
const intervalMs = values['interval-ms'] === undefined ? undefined : Number(values['interval-ms']);
if (mode === undefined || (intervalMs !== undefined && !(intervalMs > 0))) {
  console.error(`flag-tracking: --mode must be events, summaries or sampled; --interval-ms a positive number\n${USAGE}`);
  process.exit(2);
}
const file = positionals[0] ?? new URL('../config/console.yaml', import.meta.url).pathname;
const app = await startApp(await loadConfig({ file }), {
  port: Number(process.env.PORT ?? 3000),
  tracking: { mode, summarizer: intervalMs === undefined ? {} : { intervalMs } },
});
closeOnSignals([app]);
console.error(`flag-tracking app (${values.mode ?? 'events'}) on ${app.url}/checkout?user=ada (metrics: ${app.url}/metrics)`);
