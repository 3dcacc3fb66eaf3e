import { type FlagEvaluationEvent, flagEvaluation } from '@trackpipe/core';
import { encodeOtlpLogRecord } from '@trackpipe/exporter-http';
import { describe, expect, it } from 'vitest';
import { encodeOtlpLogRecordDirect } from '../src/clients/otlp-direct.js';
import { flagEvaluationAt } from '../src/workload.js';

describe('encodeOtlpLogRecordDirect (experiment)', () => {
  const cases: [string, FlagEvaluationEvent][] = [
    ['a workload event', { ...flagEvaluationAt(7, 'p-'), timestamp: 1_764_098_000_123 }],
    ['an event without id or time', flagEvaluationAt(8)],
    ['a fractional timestamp', { ...flagEvaluationAt(9, 'p-'), timestamp: 1_764_098_000_123.5 }],
    [
      'strings that need escaping, numbers, objects and an error code',
      {
        ...flagEvaluation({ flagKey: 'a"b\\c\n', value: { nested: [1, 2.5, 'x'] }, variant: 'ü', reason: 'ERROR', errorCode: 'FLAG_NOT_FOUND' }),
        id: 'id"1',
        timestamp: 5,
        context: { n: 3, f: 1.5, b: true, s: 'q"', nil: null },
      },
    ],
    ['a valid trace context', { ...flagEvaluationAt(10, 'p-'), traceId: 'AB'.repeat(16), spanId: 'cd'.repeat(8) }],
    ['an all-zero trace id', { ...flagEvaluationAt(11, 'p-'), traceId: '0'.repeat(32), spanId: 'cd'.repeat(8) }],
  ];

  it.each(cases)('writes the same text as encodeOtlpLogRecord for %s', (_name, event) => {
    expect(encodeOtlpLogRecordDirect(event)).toBe(encodeOtlpLogRecord(event));
  });

  it('hands events with free-form attributes to encodeOtlpLogRecord', () => {
    const event = { ...flagEvaluationAt(1, 'p-'), attributes: { 'feature_flag.key': 'overridden?' } };
    expect(encodeOtlpLogRecordDirect(event)).toBe(encodeOtlpLogRecord(event));
  });
});
