import { afterEach, describe, expect, it } from 'vitest';
import { BatchProcessor } from '@trackpipe/core';
import { HttpExporter } from '@trackpipe/exporter-http';
import { capturingLogger } from './helpers/logger.js';
import { TestServer } from './helpers/test-server.js';

const OLD_TOKEN = 'tok-expired-0123456789';
const NEW_TOKEN = 'tok-rotated-9876543210';

let server: TestServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

describe('auth failures (401/403)', () => {
  it('are retried until the token is rotated, and every acknowledged event is delivered once', async () => {
    const received = new Map<string, number>();
    let refused = 0;
    server = await TestServer.start({
      handler: (request) => {
        if (request.headers.authorization !== `Bearer ${NEW_TOKEN}`) {
          refused++;
          return { status: 401, body: `token ${String(request.headers.authorization)} expired` };
        }
        for (const e of request.json() as { id: string }[]) received.set(e.id, (received.get(e.id) ?? 0) + 1);
        return { status: 200 };
      },
    });
    // The application's credential store: the token is rotated after the service has refused it twice.
    let token = OLD_TOKEN;
    const logger = capturingLogger();
    const exporter = new HttpExporter({
      url: server.url('/v1/events'),
      headers: () => {
        if (refused >= 2) token = NEW_TOKEN;
        return { authorization: `Bearer ${token}` };
      },
    });
    const processor = new BatchProcessor(exporter, {
      maxBatchSize: 10,
      retry: { initialBackoffMs: 20, maxBackoffMs: 50, maxElapsedMs: 60_000 },
      logger,
    });
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const event = { name: 'auth.check', attributes: { i } };
      processor.record(event);
      ids.push((event as { id?: string }).id!);
    }
    const report = await processor.close({ timeoutMs: 20_000 });

    expect(refused).toBeGreaterThanOrEqual(2);
    expect(report.complete).toBe(true);
    expect(processor.stats()).toMatchObject({ exported: 30, dropped: 0 });
    expect([...received.keys()].sort()).toEqual([...ids].sort());
    expect([...received.values()].every((n) => n === 1)).toBe(true);
    // Loud, at error level (the processor's line), naming the exporter and the status, never the token.
    const authLines = logger.lines.filter((line) => line.level === 'error' && line.message.includes('TRACKPIPE_ERR_EXPORT_AUTH'));
    expect(authLines.length).toBeGreaterThanOrEqual(1);
    expect(authLines[0]!.message).toMatch(/exporter http: .*HTTP 401.*credentials were refused/);
    expect(processor.stats().failedExports.auth).toBe(refused);
    expect(logger.text()).not.toContain(OLD_TOKEN);
    expect(logger.text()).not.toContain(NEW_TOKEN);
  });

  it('are dropped as rejected with retryAuthFailures false, reported once as an auth failure', async () => {
    server = await TestServer.start({ handler: () => ({ status: 403, body: 'forbidden' }) });
    const logger = capturingLogger();
    const processor = new BatchProcessor(new HttpExporter({ url: server.url(), retryAuthFailures: false }), { maxBatchSize: 5, logger });
    for (let i = 0; i < 5; i++) processor.record({ name: 'auth.drop' });
    await processor.close({ timeoutMs: 10_000 });
    expect(server.requests).toHaveLength(1);
    expect(processor.stats()).toMatchObject({ droppedByReason: { rejected: 5 }, failedExports: { auth: 1, permanent: 1 } });
    expect(logger.lines).toHaveLength(1);
    expect(logger.lines[0]!.message).toMatch(/TRACKPIPE_ERR_EXPORT_AUTH: .*rejected 5 of 5 events: .*HTTP 403/);
  });
});
