import { describe, expect, it } from 'vitest';
import { BatchProcessor, FunctionExporter } from '@trackpipe/core';

describe('smoke', () => {
  it('delivers', async () => {
    const got: unknown[] = [];
    const p = new BatchProcessor(new FunctionExporter((events) => void got.push(...events)));
    p.record({ name: 'x' });
    await p.close();
    expect(got).toHaveLength(1);
  });
});
