import type { Scenario } from '../harness.js';
import { chaos } from './chaos.js';
import { endToEnd } from './end-to-end.js';
import { flapping } from './flapping.js';
import { hang } from './hang.js';
import { hotPath } from './hot-path.js';
import { kafka } from './kafka.js';
import { outage } from './outage.js';
import { paced } from './paced.js';
import { receiver } from './receiver.js';
import { serviceIngest } from './service-ingest.js';
import { spoolOutage } from './spool-outage.js';
import { summaries } from './summaries.js';

/** Every scenario, in the order a full run goes through them. */
export const SCENARIOS: readonly Scenario<unknown>[] = [hotPath, endToEnd, paced, chaos, outage, kafka, summaries, hang, flapping, spoolOutage, serviceIngest, receiver];
