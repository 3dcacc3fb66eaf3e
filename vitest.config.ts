import { defineConfig } from 'vitest/config';

// One root config; each package's tests live in its test/ folder. Workspace packages resolve to their
// TypeScript sources through the "@trackpipe/source" export condition, so tests need no build.
export default defineConfig({
  resolve: { conditions: ['@trackpipe/source'] },
  ssr: { resolve: { conditions: ['@trackpipe/source'] } },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'examples/*/test/**/*.test.ts', 'bench/test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
    reporters: ['default', './scripts/summary-reporter.ts'],
  },
});
