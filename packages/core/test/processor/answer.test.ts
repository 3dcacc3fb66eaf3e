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

  it('reads indexes by position, never through an iterator that does not end, and refuses a list claiming billions', () => {
    const endless = new Proxy([2, 0], {
      get(target, key, receiver) {
        if (key === Symbol.iterator) return function* () { for (;;) yield 0; };
        return Reflect.get(target, key, receiver) as unknown;
      },
    });
    expect(readAnswer({ code: 'reject', indexes: endless }, 4)).toMatchObject({ kind: 'reject', rejected: 2 });
    const huge = new Proxy([] as number[], { get: (target, key) => (key === 'length' ? 2 ** 32 - 1 : key === Symbol.iterator ? target[Symbol.iterator] : 0) });
    const answer = readAnswer({ code: 'reject', indexes: huge }, 4);
    expect(answer.kind === 'malformed' && answer.why).toContain('more than 1000000 indexes');
    const duplicates = Array.from({ length: 100_000 }, (_, k) => k % 4);
    expect(readAnswer({ code: 'reject', indexes: duplicates }, 4)).toMatchObject({ kind: 'reject', rejected: 4 });
  });
});
