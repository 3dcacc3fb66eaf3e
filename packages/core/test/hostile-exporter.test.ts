import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { BatchProcessor, type ExportResult, ExportResults, type Exporter, type Recorded, type TelemetryEvent, type TrackpipeError } from '@trackpipe/core';

// What an exporter throws or answers is quoted in what the processor says about the export: logs,
// onError, stats().lastError. An exporter's error may carry a credential (a request echoed with its
// Authorization header) and be of any size (a whole response body). What the processor says stays
// one bounded line with anything that looks like a credential hidden.

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ';
const BEARER = 'Bearer abcDEF123456ghiJKL';
const HUGE = 'x'.repeat(5_000_000);
const leaky = (): Error => new Error(`request failed: Authorization: ${BEARER}; session ${JWT}\n${HUGE}`);

function said(answer: () => ExportResult | Promise<ExportResult>) {
  const logged: string[] = [];
  const errors: TrackpipeError[] = [];
  const exporter: Exporter<Recorded<TelemetryEvent>> = { name: 'leaky', export: () => Promise.resolve().then(answer) };
  const processor = new BatchProcessor(exporter, {
    logger: { warn: (m) => logged.push(m), error: (m) => logged.push(m) },
    onError: (e) => errors.push(e),
    retry: { initialBackoffMs: 1, maxBackoffMs: 1, maxElapsedMs: 20 },
  });
  return { processor, logged, errors };
}

function expectHidden(texts: readonly string[]): void {
  expect(texts.length).toBeGreaterThan(0);
  for (const text of texts) {
    expect(text).not.toContain(JWT);
    expect(text).not.toContain('abcDEF123456ghiJKL');
    expect(text.length).toBeLessThan(1_200);
    expect(text).not.toContain('\n');
  }
}

describe('an exporter whose errors quote credentials and are megabytes long', () => {
  it.each<[string, () => ExportResult | Promise<ExportResult>]>([
    ['throws it', () => { throw leaky(); }],
    ['rejects with it', () => ExportResults.reject({ error: leaky() })],
    ['keeps asking for a retry with it until the budget runs out', () => ExportResults.retry({ error: leaky() })],
    ['refuses the credentials with it', () => ExportResults.retry({ auth: true, error: leaky() })],
  ])('is quoted in one bounded line, credentials hidden, when it %s', async (_, answer) => {
    const { processor, logged, errors } = said(answer);
    processor.record({ name: 'a' });
    await processor.flush({ timeoutMs: 2_000 });
    await processor.close({ timeoutMs: 100 });
    expectHidden([...logged, ...errors.map((e) => e.message), processor.stats().lastError?.message ?? '']);
  });
});

describe("an exporter's error handed to onError as the cause", () => {
  it('says what the original said, its name, code and frames, with the credentials hidden all down the chain; never the original', async () => {
    const root = Object.assign(new TypeError(`socket closed; retry with ${BEARER}`), { code: 'ECONNRESET' });
    const thrown = new Error(`request failed: session ${JWT}\n${HUGE}`, { cause: root });
    const { processor, errors } = said(() => ExportResults.reject({ error: thrown }));
    processor.record({ name: 'a' });
    await processor.close({ timeoutMs: 2_000 });
    expect(errors).toHaveLength(1);
    const cause = errors[0]!.cause as Error & { code?: unknown };
    expect(cause).toBeInstanceOf(Error);
    expect(cause).not.toBe(thrown);
    expect(cause.message).toContain('request failed');
    const inner = cause.cause as Error & { code?: unknown };
    expect(inner).not.toBe(root);
    expect([inner.name, inner.code, inner.message]).toEqual(['TypeError', 'ECONNRESET', expect.stringContaining('socket closed') as string]);
    expect(inner.stack).toMatch(/\n\s+at /);
    const shown = inspect(errors[0], { depth: 10 });
    expect(shown).toContain('ECONNRESET');
    expect(shown).not.toContain(JWT);
    expect(shown).not.toContain('abcDEF123456ghiJKL');
    expect(shown.length).toBeLessThan(20_000);
  });

  it('hides what a hostile cause quotes in its name and code too, and survives a cause whose getters throw', async () => {
    const hostile = new Error('x');
    Object.defineProperty(hostile, 'name', { value: `Leak ${BEARER}` });
    Object.defineProperty(hostile, 'code', { value: `E ${JWT}` });
    const throwing = new Error('y');
    Object.defineProperty(throwing, 'stack', { get: () => { throw new Error('stack getter'); } });
    for (const error of [hostile, throwing]) {
      const { processor, errors } = said(() => ExportResults.reject({ error }));
      processor.record({ name: 'a' });
      await processor.close({ timeoutMs: 2_000 });
      expect(errors).toHaveLength(1);
      const shown = inspect(errors[0], { depth: 10 });
      expect(shown).not.toContain(JWT);
      expect(shown).not.toContain('abcDEF123456ghiJKL');
      expect(errors[0]!.cause).toBeInstanceOf(Error);
      expect((errors[0]!.cause as Error).message).toBe(error.message);
    }
  });
});

describe('an exporter whose encoder or encodeBatch is not a function', () => {
  it.each<[string, Record<string, unknown>]>([
    ['encoder', { encoder: 'json' }],
    ['encodeBatch', { encodeBatch: true }],
  ])('is refused at construction, naming %s, instead of dropping every event as unserializable', (field, extra) => {
    const exporter = { name: 'odd', export: () => Promise.resolve(ExportResults.ok()), ...extra } as unknown as Exporter<Recorded<TelemetryEvent>>;
    expect(() => new BatchProcessor(exporter)).toThrow(expect.objectContaining({ code: 'TRACKPIPE_ERR_OPTIONS_INVALID', message: expect.stringContaining(`exporter.${field}`) }));
  });

  it('takes null as none: an encoder or encodeBatch set to null encodes as if not given', async () => {
    const exported: string[] = [];
    const exporter = {
      name: 'nulls',
      encoder: null,
      encodeBatch: null,
      export: (batch: { events: readonly Recorded<TelemetryEvent>[] }) => {
        for (const e of batch.events) exported.push(e.name);
        return Promise.resolve(ExportResults.ok());
      },
    } as unknown as Exporter<Recorded<TelemetryEvent>>;
    const processor = new BatchProcessor(exporter, { logger: { warn: () => undefined, error: () => undefined } });
    processor.record({ name: 'a' });
    expect(await processor.close()).toMatchObject({ complete: true, exported: 1, dropped: 0 });
    expect(exported).toEqual(['a']);
  });

  it('is refused at construction, with a clear error, when reading it throws', () => {
    const exporter = {
      name: 'odd',
      export: () => Promise.resolve(ExportResults.ok()),
      get encoder(): never {
        throw new Error('getter broke');
      },
    } as unknown as Exporter<Recorded<TelemetryEvent>>;
    expect(() => new BatchProcessor(exporter)).toThrow(expect.objectContaining({ code: 'TRACKPIPE_ERR_OPTIONS_INVALID' }));
  });
});

describe('an exporter whose name getter throws after the processor was built', () => {
  it('does not stall the pipeline after a rejected batch: the events after it are exported without a flush', async () => {
    let reads = 0;
    let calls = 0;
    const exported: string[] = [];
    const exporter = {
      get name(): string {
        if (reads++ > 0) throw new Error('the name is gone');
        return 'fickle';
      },
      export: (batch: { events: readonly Recorded<TelemetryEvent>[] }) => {
        if (calls++ === 0) return Promise.resolve(ExportResults.reject());
        for (const e of batch.events) exported.push(e.name);
        return Promise.resolve(ExportResults.ok());
      },
    } as unknown as Exporter<Recorded<TelemetryEvent>>;
    const processor = new BatchProcessor(exporter, {
      logger: { warn: () => undefined, error: () => undefined },
      maxBatchSize: 1,
      maxConcurrentExports: 1,
      flushIntervalMs: 60_000,
    });
    processor.record({ name: 'a' });
    processor.record({ name: 'b' });
    processor.record({ name: 'c' });
    for (let i = 0; i < 50 && exported.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(exported).toEqual(['b', 'c']);
    expect(processor.stats()).toMatchObject({ recorded: 3, exported: 2, dropped: 1, queued: 0, inFlight: 0 });
    expect(processor.stats().lastError?.message).toContain('exporter fickle rejected 1 of 1 events');
    await processor.close();
  });
});
