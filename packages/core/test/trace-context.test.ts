import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchProcessor, FunctionExporter, type Recorded, type TelemetryEvent, silentLogger } from '@trackpipe/core';

let manager: AsyncLocalStorageContextManager;
beforeAll(() => {
  manager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(manager);
});
afterAll(() => {
  context.disable();
  trace.disable();
});

function collect(traceContext: boolean) {
  const got: Recorded<TelemetryEvent>[] = [];
  const processor = new BatchProcessor(new FunctionExporter((es) => void got.push(...es)), { traceContext, logger: silentLogger });
  return { processor, got };
}

describe('trace correlation', () => {
  it('attaches the active span ids, also across an await inside the span', async () => {
    const { processor, got } = collect(true);
    const tracer = new BasicTracerProvider().getTracer('test');
    const expected = await tracer.startActiveSpan('request', async (span) => {
      processor.record({ name: 'before-await' });
      await new Promise((resolve) => setTimeout(resolve, 1));
      processor.record({ name: 'after-await' });
      span.end();
      return span.spanContext();
    });
    processor.record({ name: 'outside' });
    await processor.flush();
    expect(got.map((e) => [e.name, e.traceId, e.spanId])).toEqual([
      ['before-await', expected.traceId, expected.spanId],
      ['after-await', expected.traceId, expected.spanId],
      ['outside', undefined, undefined],
    ]);
    expect(expected.traceId).toMatch(/^[0-9a-f]{32}$/);
  });

  it('leaves events alone when enrichment is off, and keeps ids an event already has', async () => {
    const off = collect(false);
    const on = collect(true);
    const tracer = new BasicTracerProvider().getTracer('test');
    tracer.startActiveSpan('s', (span) => {
      off.processor.record({ name: 'x' });
      on.processor.record({ name: 'y', traceId: 'given', spanId: 'given' });
      span.end();
    });
    await Promise.all([off.processor.flush(), on.processor.flush()]);
    expect(off.got[0]?.traceId).toBeUndefined();
    expect(on.got[0]).toMatchObject({ traceId: 'given', spanId: 'given' });
  });
});
