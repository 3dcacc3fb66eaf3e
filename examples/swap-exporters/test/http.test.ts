import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildProgram, runProgram } from './run-program.js';

beforeAll(buildProgram);

describe('swap-exporters with config/http.yaml', () => {
  it('sends every event over HTTP, and only there', async () => {
    const ids: string[] = [];
    const auth = new Set<string>();
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (c: Buffer) => chunks.push(c));
      request.on('end', () => {
        const raw = Buffer.concat(chunks);
        const body = request.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
        const { batch } = JSON.parse(body.toString()) as { batch: { id: string; flagKey: string }[] };
        for (const event of batch) ids.push(event.id);
        auth.add(String(request.headers.authorization));
        response.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const { code, outcome, stderr } = await runProgram('http.yaml', 2_000, {
        EVENTS_URL: `http://127.0.0.1:${port}/v1/batch`,
        EVENTS_TOKEN: 'swap-secret',
      });
      expect(code, stderr).toBe(0);
      expect(outcome).toMatchObject({ exporters: ['http'], recorded: 2_000, complete: true, exported: 2_000, dropped: 0 });
      expect(new Set(ids).size).toBe(2_000);
      expect(ids).toHaveLength(2_000);
      expect([...auth]).toEqual(['Bearer swap-secret']);
    } finally {
      server.close();
    }
  });
});
