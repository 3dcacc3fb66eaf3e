import { Metadata, status } from '@grpc/grpc-js';
import { parseExposition, samples } from '@trackpipe/core/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { loadAnalyticsService } from '../src/index.js';
import { grpcClient, grpcFailure, startService, toStruct, toValue, waitFor } from './support.js';

type Started = Awaited<ReturnType<typeof startService>>;
const running: Started[] = [];
const clients: { close(): void }[] = [];

async function start(options: Parameters<typeof startService>[0] = {}): Promise<Started & { client: ReturnType<typeof grpcClient> }> {
  const started = await startService({ http: false, ...options });
  running.push(started);
  const client = grpcClient(started.grpcAddress);
  clients.push(client);
  return { ...started, client };
}

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of running.splice(0)) await s.service.shutdown({ timeoutMs: 5_000 });
});

describe('gRPC ingest (analytics.v1.AnalyticsService)', () => {
  it('TrackEvent queues one event, converting Struct attributes to plain JSON, and answers its id', async () => {
    const { client, memory } = await start();
    const attributes = { total: 12.5, tags: ['a', 'b'], nested: { ok: true, none: null } };
    const res = await client.call('TrackEvent', {
      event: { name: 'checkout.completed', timestampMs: 1_700_000_000_000, attributes: toStruct(attributes) },
    });
    expect(res.id).toMatch(/^[0-9a-f-]{36}$/);
    await waitFor(() => memory.events.length === 1, 10_000, 'delivery');
    expect(memory.events[0]).toEqual({ id: res.id, name: 'checkout.completed', timestamp: 1_700_000_000_000, attributes });
  });

  it('TrackBatch queues all events, flag evaluations included, and answers their ids in order', async () => {
    const { client, memory } = await start();
    const res = await client.call('TrackBatch', {
      events: [
        { id: 'b-1', name: 'page.viewed' },
        {
          id: 'b-2',
          name: 'feature_flag.evaluation',
          flagKey: 'new-checkout',
          value: toValue('treatment'),
          variant: 'treatment',
          reason: 'SPLIT',
          targetingKey: 'user-1',
          provider: 'in-memory',
          context: toStruct({ plan: 'pro' }),
        },
      ],
    });
    expect(res).toEqual({ accepted: 2, ids: ['b-1', 'b-2'] });
    await waitFor(() => memory.events.length === 2, 10_000, 'delivery');
    expect(memory.events.find((e) => e.id === 'b-2')).toMatchObject({
      flagKey: 'new-checkout',
      value: 'treatment',
      variant: 'treatment',
      context: { plan: 'pro' },
    });
  });

  it('IdentifyUser queues an identify event with userId and traits', async () => {
    const { client, memory } = await start();
    const res = await client.call('IdentifyUser', { userId: 'user-9', traits: toStruct({ plan: 'team', seats: 5 }) });
    await waitFor(() => memory.events.length === 1, 10_000, 'delivery');
    expect(memory.events[0]).toMatchObject({ id: res.id, name: 'identify', attributes: { userId: 'user-9', traits: { plan: 'team', seats: 5 } } });
  });

  it('answers INVALID_ARGUMENT naming the field path, accepting none of the batch', async () => {
    const { client, processor } = await start();
    const failure = await grpcFailure(client.call('TrackBatch', { events: [{ name: 'a' }, { attributes: toStruct({ x: 1 }) }] }));
    expect(failure.code).toBe(status.INVALID_ARGUMENT);
    expect(failure.details).toBe('events[1].name: required');
    const flag = await grpcFailure(client.call('TrackEvent', { event: { name: 'feature_flag.evaluation', flagKey: 'f' } }));
    expect(flag.details).toBe('event.value: required for a feature_flag.evaluation event');
    expect((await grpcFailure(client.call('IdentifyUser', {}))).details).toBe('userId: required');
    expect((await grpcFailure(client.call('TrackBatch', {}))).details).toBe('events: must not be empty');
    expect(processor.stats().recorded).toBe(0);
  });

  it('answers INVALID_ARGUMENT with its details cut short when a path holds a huge Struct key (the trailer would be past what a client takes)', async () => {
    const { client, processor } = await start();
    // A NaN is refused by path; the key is part of the path. Each key, unbounded, made a grpc-message trailer no client reads: no answer.
    for (const key of ['k-'.repeat(50_000), `x${'\u{1F600}'.repeat(50_000)}`]) {
      const request = { event: { name: 'a', attributes: { fields: { [key]: { numberValue: Number.NaN } } } } };
      const answer = await new Promise<{ code: number; details: string }>((resolve) => {
        const call = (client.client as unknown as Record<string, (...args: unknown[]) => void>).TrackEvent!.bind(client.client);
        call(request, new Metadata(), { deadline: Date.now() + 5_000 }, (error: { code: number; details: string } | null) =>
          resolve(error === null ? { code: status.OK, details: '' } : { code: error.code, details: error.details }),
        );
      });
      expect(answer.code).toBe(status.INVALID_ARGUMENT);
      expect(answer.details.slice(0, 58)).toBe(`event.attributes["${key.slice(0, 40)}`);
      expect(answer.details).toMatch(/\.\.\. \(\d+ more characters\)$/);
      expect(answer.details.length).toBeLessThan(1_100);
    }
    expect(processor.stats().recorded).toBe(0);
  });

  it('answers UNAUTHENTICATED without a valid key in the metadata, OK with one', async () => {
    const { client } = await start({ apiKeys: ['grpc-key-1'] });
    const request = { event: { name: 'x' } };
    expect((await grpcFailure(client.call('TrackEvent', request))).code).toBe(status.UNAUTHENTICATED);
    expect((await grpcFailure(client.call('TrackEvent', request, { authorization: 'Bearer wrong' }))).code).toBe(status.UNAUTHENTICATED);
    const ok = await client.call('TrackEvent', request, { authorization: 'Bearer grpc-key-1' });
    expect(ok.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers RESOURCE_EXHAUSTED to a message over maxMessageBytes, and stays up', async () => {
    const { client } = await start({ grpc: { port: 0, maxMessageBytes: 1024 } });
    const big = await grpcFailure(client.call('TrackEvent', { event: { name: 'x', attributes: toStruct({ pad: 'y'.repeat(4096) }) } }));
    expect(big.code).toBe(status.RESOURCE_EXHAUSTED);
    expect((await client.call('TrackEvent', { event: { name: 'small' } })).id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers INVALID_ARGUMENT naming the message type to bytes that are no valid protobuf (not INTERNAL), counts them, and stays up', async () => {
    const started = await start({ http: { port: 0 } });
    // Bytes a real client sends as the message: a field header with wire type 7 (none exists), a
    // varint cut short, a length past the end.
    const malformed = [Buffer.from([0x0f, 0x01]), Buffer.from([0x0a, 0x80]), Buffer.from([0x0a, 0x50, 0x0a])];
    for (const bytes of malformed) {
      const failure = await grpcFailure(
        new Promise((resolve, reject) =>
          started.client.client.makeUnaryRequest(
            '/analytics.v1.AnalyticsService/TrackEvent',
            () => bytes,
            (answer: Buffer) => answer,
            {},
            new Metadata(),
            (error, answer) => (error ? reject(error) : resolve(answer)),
          ),
        ),
      );
      expect(failure.code).toBe(status.INVALID_ARGUMENT);
      expect(failure.details).toBe('the message is not a valid analytics.v1.TrackEventRequest (protobuf)');
    }
    expect(started.processor.stats().recorded).toBe(0);
    const text = await (await fetch(`${started.url}/metrics`)).text();
    expect(text).toContain('trackpipe_service_requests_total{transport="grpc",route="TrackEvent",status="INVALID_ARGUMENT"} 3');
    expect((await started.client.call('TrackEvent', { event: { name: 'after' } })).id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('refuses a message with a string that is not UTF-8 (INVALID_ARGUMENT, nothing recorded) instead of delivering it changed, and takes any valid one', async () => {
    const started = await start({ http: { port: 0 } });
    const methods = loadAnalyticsService().service;
    const serialize = (method: 'TrackEvent' | 'TrackBatch', request: unknown): Buffer => methods[method]!.requestSerialize(request);
    const send = (method: 'TrackEvent' | 'TrackBatch', bytes: Buffer): Promise<unknown> =>
      new Promise((resolve, reject) =>
        started.client.client.makeUnaryRequest(
          `/analytics.v1.AnalyticsService/${method}`,
          () => bytes,
          (answer: Buffer) => answer,
          {},
          new Metadata(),
          (error, answer) => (error ? reject(error) : resolve(answer)),
        ),
      );
    /** The serialized request with the UTF-8 bytes of `marker` (ASCII) replaced by `bytes` of the same length. */
    const spliced = (method: 'TrackEvent' | 'TrackBatch', request: unknown, marker: string, bytes: number[]): Buffer => {
      const out = serialize(method, request);
      const at = out.indexOf(marker);
      expect(at).toBeGreaterThanOrEqual(0);
      Buffer.from(bytes).copy(out, at);
      return out;
    };
    // Valid messages whose bytes are not UTF-8 as a whole: lengths past 127, doubles, non-ASCII text,
    // a genuine U+FFFD, strings nested in Structs and lists.
    const text = `caf\u00e9 \u{1f600} \ufffd ${'x'.repeat(300)}`;
    const valid = {
      events: [
        { id: 'u-1', name: 'checkout', attributes: toStruct({ total: 12.345678, big: 1e300, tiny: -2.5e-308, note: text, list: [1.5, text, { deep: text }] }) },
        { id: 'u-2', name: 'caf\u00e9 \u{1f600} \ufffd', flagKey: 'f', value: toValue(0.1), context: toStruct({ plan: text }) },
      ],
    };
    expect(await send('TrackBatch', serialize('TrackBatch', valid))).toBeInstanceOf(Buffer);
    await waitFor(() => started.memory.events.length === 2, 10_000, 'delivery');
    expect(started.memory.events.find((e) => e.id === 'u-2')).toMatchObject({ name: 'caf\u00e9 \u{1f600} \ufffd', context: { plan: text } });
    expect((started.memory.events.find((e) => e.id === 'u-1')?.attributes as Record<string, unknown>).list).toEqual([1.5, text, { deep: text }]);
    // A Latin-1 é, a lone continuation byte, an encoded surrogate (ED A0 80), a lead byte cut short:
    // in the name, in a flag field, deep in a Struct list, in one event of a batch.
    const refused = [
      spliced('TrackEvent', { event: { name: 'cafX' } }, 'X', [0xe9]),
      spliced('TrackEvent', { event: { name: 'n', flagKey: 'flagXY' } }, 'XY', [0x80, 0x41]),
      spliced('TrackEvent', { event: { name: 'n', attributes: toStruct({ list: [1.5, { deep: 'aXYZ' }] }) } }, 'XYZ', [0xed, 0xa0, 0x80]),
      spliced('TrackBatch', { events: [{ name: 'ok' }, { name: 'n', context: toStruct({ plan: `${'p'.repeat(200)}X` }) }] }, 'X', [0xc3]),
    ];
    for (const bytes of refused) {
      const method = bytes === refused[3] ? 'TrackBatch' : 'TrackEvent';
      const failure = await grpcFailure(send(method, bytes));
      expect(failure.code).toBe(status.INVALID_ARGUMENT);
      expect(failure.details).toBe('the message holds a string that is not valid UTF-8 (proto3 strings must be); it is refused, never repaired');
    }
    expect(started.processor.stats().recorded).toBe(2);
  });

  it('counts gRPC requests by method and status in /metrics', async () => {
    const started = await start({ http: { port: 0 } });
    await started.client.call('TrackEvent', { event: { name: 'x' } });
    await grpcFailure(started.client.call('TrackEvent', { event: {} }));
    const text = await (await fetch(`${started.url}/metrics`)).text();
    expect(text).toContain('trackpipe_service_requests_total{transport="grpc",route="TrackEvent",status="OK"} 1');
    expect(text).toContain('trackpipe_service_requests_total{transport="grpc",route="TrackEvent",status="INVALID_ARGUMENT"} 1');
  });

  it('counts the answers grpc-js gives itself (a message over maxMessageBytes: RESOURCE_EXHAUSTED) once each, as it counts its own', async () => {
    const started = await start({ http: { port: 0 }, grpc: { port: 0, maxMessageBytes: 1024 } });
    const big = await grpcFailure(started.client.call('TrackEvent', { event: { name: 'x', attributes: toStruct({ pad: 'y'.repeat(4096) }) } }));
    expect(big.code).toBe(status.RESOURCE_EXHAUSTED);
    await started.client.call('TrackEvent', { event: { name: 'x' } });
    await grpcFailure(started.client.call('TrackEvent', { event: {} }));
    const text = await (await fetch(`${started.url}/metrics`)).text();
    expect(text).toContain('trackpipe_service_requests_total{transport="grpc",route="TrackEvent",status="RESOURCE_EXHAUSTED"} 1');
    expect(text).toContain('trackpipe_service_requests_total{transport="grpc",route="TrackEvent",status="OK"} 1');
    expect(text).toContain('trackpipe_service_requests_total{transport="grpc",route="TrackEvent",status="INVALID_ARGUMENT"} 1');
  });

  it('refuses a 4 MiB message with a wrong key before decoding any of it, and decodes it with a good key', async () => {
    const started = await start({ apiKeys: ['grpc-key-1'], http: { port: 0 } });
    const decodedBytes = async (): Promise<number> => {
      const families = parseExposition(await (await fetch(`${started.url}/metrics`)).text());
      return samples(families, 'trackpipe_service_decoded_bytes_total', { transport: 'grpc' }).reduce((sum, s) => sum + s.value, 0);
    };
    // Just under the 4 MiB default limit.
    const big = { events: [{ name: 'big', attributes: toStruct({ pad: 'y'.repeat(4 * 1024 * 1024 - 1024) }) }] };
    const attempts: Record<string, string>[] = [{}, { authorization: 'Bearer wrong' }, { authorization: 'Basic grpc-key-1' }];
    for (const metadata of attempts) {
      const refused = await grpcFailure(started.client.call('TrackBatch', big, metadata));
      expect(refused.code).toBe(status.UNAUTHENTICATED);
      expect(refused.details).toContain('a valid API key is required');
    }
    expect(await decodedBytes()).toBe(0);
    expect(started.processor.stats().recorded).toBe(0);
    const text = await (await fetch(`${started.url}/metrics`)).text();
    expect(text).toContain('trackpipe_service_requests_total{transport="grpc",route="TrackBatch",status="UNAUTHENTICATED"} 3');

    const ok = await started.client.call('TrackBatch', big, { authorization: 'Bearer grpc-key-1' });
    expect(ok.accepted).toBe(1);
    expect(await decodedBytes()).toBeGreaterThan(4 * 1024 * 1024 - 1024);
    // The connection the refusals used still works.
    expect((await started.client.call('TrackEvent', { event: { name: 'small' } }, { authorization: 'Bearer grpc-key-1' })).id).toMatch(/^[0-9a-f-]{36}$/);
  });
});
