// Runs the flag-tracking app with the config file given as argument (default: config/console.yaml).
// Try: node dist/main.js config/http.yaml, then curl 'http://127.0.0.1:3000/checkout?user=ada&plan=pro'
import { closeOnSignals } from '@trackpipe/core';
import { loadConfig } from '@trackpipe/core/config';
import { startApp } from './app.js';

const file = process.argv[2] ?? new URL('../config/console.yaml', import.meta.url).pathname;
const app = await startApp(await loadConfig({ file }), { port: Number(process.env.PORT ?? 3000) });
closeOnSignals([app]);
console.error(`flag-tracking app on ${app.url}/checkout?user=ada (metrics: ${app.url}/metrics)`);
