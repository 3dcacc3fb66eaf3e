import v8 from 'node:v8';
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import type { TelemetryEvent } from '@trackpipe/core';
import { encodeOtlpLogRecord } from '@trackpipe/exporter-http';

// The OTLP encoder keeps the JSON texts of recurring strings (event names, flag keys, variants, …) in
// a module-wide cache of 1 024 entries. Its own file: the cache starts empty here.

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

describe('the OTLP text cache', () => {
  it('keeps no huge strings: 1 100 events named with 100 kB strings leave no 200 MB behind', () => {
    const before = heapAfterGc();
    for (let i = 0; i < 1_100; i++) {
      const event = { id: `id-${i}`, timestamp: 1, name: `${i}:${'x'.repeat(100_000)}` };
      expect(encodeOtlpLogRecord(event as TelemetryEvent).length).toBeGreaterThan(100_000);
    }
    const grown = heapAfterGc() - before;
    expect(grown).toBeLessThan(50 * 1024 * 1024);
  });
});
