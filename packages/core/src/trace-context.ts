import { isSpanContextValid, trace } from '@opentelemetry/api';

/** The ids of an OpenTelemetry span, as events carry them. */
export interface SpanIds {
  readonly traceId: string;
  readonly spanId: string;
}

/**
 * The active span's ids, read through `@opentelemetry/api` (undefined without an SDK, or without an
 * active, valid span). The processor's `traceContext` option adds them to each admitted event.
 */
export function activeSpanIds(): SpanIds | undefined {
  const span = trace.getActiveSpan();
  if (span === undefined) return undefined;
  const context = span.spanContext();
  return isSpanContextValid(context) ? { traceId: context.traceId, spanId: context.spanId } : undefined;
}
