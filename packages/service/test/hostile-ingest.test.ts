// Hostile event shapes over real HTTP: refused by path with a 400, the rest of the request never
// half-queued, and never a 500.
import { constants } from 'node:buffer';
import { Metadata, status } from '@grpc/grpc-js';
import { MemoryExporter } from '@trackpipe/collector-memory';
import { BatchProcessor, type Recorded, TrackpipeError, silentLogger } from '@trackpipe/core';
import { describe, expect, it } from 'vitest';
import { type IngestEvent, TrackpipeService, parseServiceConfig } from '../src/index.js';
import { grpcClient, grpcFailure, post, servicesPerTest } from './support.js';

const services = servicesPerTest();

describe('strings with a lone surrogate (JSON escapes UTF-8 cannot carry)', () => {
  // `"\ud800"` is valid JSON in valid UTF-8, but parses to half a character: every UTF-8 encoder on
  // the way to a destination (Kafka keys, protobuf, Buffer.from) writes U+FFFD instead — the ids
  // "a\ud800" and "a\udbff" would both arrive as "a\ufffd" and be deduplicated into one.
  const cases: [string, string, string][] = [
    ['an id', '{"name":"a","id":"evt-\\ud800"}', 'batch[1].id'],
    ['a name', '{"name":"signup\\udfff"}', 'batch[1].name'],
    ['a flag field', '{"name":"feature_flag.evaluation","flagKey":"f","value":true,"variant":"\\udc00on"}', 'batch[1].variant'],
    ['an attribute value, nested', '{"name":"a","attributes":{"cart":{"items":["ok","\\ud83d"]}}}', 'batch[1].attributes.cart.items[1]'],
    ['an attribute key', '{"name":"a","attributes":{"k\\ud800":1}}', 'batch[1].attributes["k\\ud800"]'],
    ['a flag value', '{"name":"feature_flag.evaluation","flagKey":"f","value":"\\ude00"}', 'batch[1].value'],
    ['a context value', '{"name":"a","context":{"user":{"email":"x\\udbff@example.com"}}}', 'batch[1].context.user.email'],
  ];

  it.each(cases)('in %s refuse the whole batch with 400 naming the field; nothing is queued', async (_, event, path) => {
    const { url, processor } = await services.start();
    const body = `{"batch":[{"name":"fine","attributes":{"smile":"\\ud83d\\ude00"}},${event}]}`;
    const res = await post(`${url}/v1/batch`, body, { raw: true });
    expect(res.status).toBe(400);
    expect(res.body.error?.code).toBe('invalid_request');
    // A key's path quotes it as JSON does: the lone half as the ASCII escape `\ud800`.
    expect(res.body.error?.issues).toEqual([{ path, message: expect.stringContaining('lone surrogate') as string }]);
    expect(processor.stats().recorded).toBe(0);
  });

  it('a well-formed pair (an emoji) is accepted and delivered unchanged, in strings and keys', async () => {
    const { url, memory, processor } = await services.start();
    const res = await post(`${url}/v1/track`, { id: 'e-\u{1F600}', name: 'smile \u{1F600}', attributes: { '\u{1F600}': ['\u{1F600}'] } });
    expect(res.status).toBe(202);
    await processor.flush();
    expect(memory.events).toMatchObject([{ id: 'e-\u{1F600}', name: 'smile \u{1F600}', attributes: { '\u{1F600}': ['\u{1F600}'] } }]);
  });
});

describe('limits.maxDepth', () => {
  it('past 1 000 fails at start by path (config) or as an invalid option (code): deeper validation would overflow the stack', () => {
    for (const maxDepth of [1_001, 1_000_000]) {
      let error: unknown;
      try {
        parseServiceConfig({ service: { limits: { maxDepth } }, pipelines: [{ exporters: [{ type: 'console' }] }] }, { env: {} });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(TrackpipeError);
      expect((error as TrackpipeError).message).toContain('service.limits.maxDepth: must be an integer from 1 to 1000');
      const collector = new BatchProcessor<IngestEvent>(new MemoryExporter<Recorded<IngestEvent>>(), { logger: silentLogger });
      try {
        expect(() => new TrackpipeService({ collector, http: false, grpc: false, limits: { maxDepth } })).toThrow(/limits\.maxDepth must be an integer from 1 to 1000/);
      } finally {
        void collector.close({ timeoutMs: 0 });
      }
    }
  });

  it('at 1 000, a value nested that deep is accepted, and one nested 100 000 deep is refused by path with a 400, never a 500', async () => {
    const { url, processor } = await services.start({ limits: { maxDepth: 1_000 } });
    const nested = (depth: number): string => `${'['.repeat(depth)}1${']'.repeat(depth)}`;
    expect((await post(`${url}/v1/track`, `{"name":"deep","attributes":{"a":${nested(999)}}}`, { raw: true })).status).toBe(202);
    const deeper = await post(`${url}/v1/track`, `{"name":"deeper","attributes":{"a":${nested(100_000)}}}`, { raw: true });
    expect(deeper.status).toBe(400);
    expect(deeper.body.error?.message).toBe('attributes: is nested more than 1000 levels deep');
    expect(processor.stats().recorded).toBe(1);
  });
});

describe('http.maxBodyBytes', () => {
  it('past the longest string Node.js can make fails at start by path (config) or as an invalid option (code): such bodies can never be parsed, and on Node.js 20 zlib refused every gzip body', () => {
    const max = constants.MAX_STRING_LENGTH;
    let error: unknown;
    try {
      parseServiceConfig({ service: { http: { maxBodyBytes: 5_000_000_000 } }, pipelines: [{ exporters: [{ type: 'console' }] }] }, { env: {} });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(TrackpipeError);
    expect((error as TrackpipeError).message).toContain(`service.http.maxBodyBytes: must be an integer from 1 to ${max}`);
    expect(parseServiceConfig({ service: { http: { maxBodyBytes: max } }, pipelines: [{ exporters: [{ type: 'console' }] }] }, { env: {} }).service.http.maxBodyBytes).toBe(max);
    const collector = new BatchProcessor<IngestEvent>(new MemoryExporter<Recorded<IngestEvent>>(), { logger: silentLogger });
    try {
      expect(() => new TrackpipeService({ collector, http: { maxBodyBytes: max + 1 }, grpc: false })).toThrow(`http.maxBodyBytes must be an integer from 1 to ${max}`);
    } finally {
      void collector.close({ timeoutMs: 0 });
    }
  });
});

describe('a gRPC message nested past protobuf\'s recursion limit', () => {
  /** A protobuf length-delimited field: tag, varint length, bytes. */
  const field = (number: number, bytes: Buffer): Buffer => {
    const length: number[] = [];
    for (let n = bytes.length; ; n >>>= 7) {
      if (n < 0x80) {
        length.push(n);
        break;
      }
      length.push((n & 0x7f) | 0x80);
    }
    return Buffer.concat([Buffer.from([(number << 3) | 2, ...length]), bytes]);
  };
  /** TrackEventRequest { event { name: "x", value: [[[...1...]]] } }, the list `levels` deep (two messages a level). */
  const nestedRequest = (levels: number): Buffer => {
    let value: Buffer = Buffer.from([0x11, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f]); // Value { number_value: 1 }
    for (let i = 0; i < levels; i++) value = field(6, field(1, value)); // Value { list_value { values: [value] } }
    return field(1, Buffer.concat([field(2, Buffer.from('x')), field(8, value)]));
  };

  it('is refused as too deep (INVALID_ARGUMENT), not called malformed, and the service stays up', async () => {
    const { grpcAddress, processor } = await services.start({ grpc: { port: 0 } });
    const client = grpcClient(grpcAddress);
    try {
      const send = (bytes: Buffer): Promise<unknown> =>
        new Promise((resolve, reject) =>
          client.client.makeUnaryRequest(
            '/analytics.v1.AnalyticsService/TrackEvent',
            () => bytes,
            (answer: Buffer) => answer,
            {},
            new Metadata(),
            (error, answer) => (error ? reject(error) : resolve(answer)),
          ),
        );
      // Within protobuf's limit but past maxDepth: the validator names the field.
      const shallow = await grpcFailure(send(nestedRequest(20)));
      expect(shallow.code).toBe(status.INVALID_ARGUMENT);
      expect(shallow.details).toMatch(/^event\.value(\[0\])*: is nested more than 16 levels deep$/);
      const deep = await grpcFailure(send(nestedRequest(5_000)));
      expect(deep.code).toBe(status.INVALID_ARGUMENT);
      expect(deep.details).toBe('the message nests more than 100 protobuf messages deep (values are limited to 16 levels)');
      expect(await client.call('TrackEvent', { event: { name: 'after' } })).toMatchObject({ id: expect.any(String) as string });
      expect(processor.stats().recorded).toBe(1);
    } finally {
      client.close();
    }
  });
});
