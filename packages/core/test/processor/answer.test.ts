import { describe, expect, it } from 'vitest';
import { ExportResults } from '@trackpipe/core';
import { Thrown, readAnswer } from '@trackpipe/core/internal';

describe('readAnswer', () => {
  it.each([
    [ExportResults.ok(), { kind: 'ok' }],
    [ExportResults.retry({ retryAfterMs: 5 }), { kind: 'retry', retryAfterMs: 5, auth: false }],
    [ExportResults.retry({ retryAfterMs: -1, auth: true }), { kind: 'retry', retryAfterMs: undefined, auth: true }],
    [ExportResults.reject(), { kind: 'reject', rejected: 4 }],
    [ExportResults.reject({ indexes: [1, 1, 3] }), { kind: 'reject', rejected: 2 }],
    [ExportResults.reject({ count: 0 }), { kind: 'reject', rejected: 0 }],
    [ExportResults.tooLarge(), { kind: 'too_large' }],
  ])('reads %j', (result, answer) => {
    expect(readAnswer(result, 4)).toMatchObject(answer);
  });

  it.each([
    ['indexes that are not a list', { code: 'reject', indexes: 'x' }, 'not a list'],
    ['an index out of range', { code: 'reject', indexes: [4] }, 'from 0 to 3'],
    ['a count out of range', { code: 'reject', count: 5 }, 'from 0 to 4'],
    ['a numeric code', { code: 7 }, 'code number'],
    ['null', null, 'answered object'],
    ['undefined', undefined, 'answered undefined'],
    ['a code getter that throws', { get code(): string { throw new Error('nope'); } }, 'could not be read (nope)'],
    ['a thrown error', new Thrown(new Error('kaput')), 'threw: kaput'],
  ])('turns %s into a malformed answer saying why', (_, outcome, why) => {
    const answer = readAnswer(outcome, 4);
    expect(answer.kind).toBe('malformed');
    expect(answer.kind === 'malformed' && answer.why).toContain(why);
  });
});
