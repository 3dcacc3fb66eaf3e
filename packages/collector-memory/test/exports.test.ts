import { describe, expect, it } from 'vitest';
import { MemoryExporter } from '@trackpipe/collector-memory';
import { MemoryExporter as CoreMemoryExporter } from '@trackpipe/core/testing';

describe('@trackpipe/collector-memory exports', () => {
  it('re-exports the MemoryExporter of @trackpipe/core/testing, so instances of either pass instanceof checks of the other', () => {
    expect(MemoryExporter).toBe(CoreMemoryExporter);
    expect(new MemoryExporter()).toBeInstanceOf(CoreMemoryExporter);
  });
});
