import { defineConfig } from 'vitest/config';

// One root config; each package's tests live in its test/ folder. Workspace packages resolve to their
// TypeScript sources through the "@trackpipe/source" export condition, so tests need no build.
// Tests that need the real Kafka broker are named *.kafka.test.ts; their project starts the broker.
// scripts/packaging/ holds the packed-install test (a Kafka test only because one README example needs the broker).
const kafkaTests = ['packages/*/test/**/*.kafka.test.ts', 'examples/*/test/**/*.kafka.test.ts', 'scripts/packaging/**/*.kafka.test.ts'];

export default defineConfig({
  resolve: { conditions: ['@trackpipe/source'] },
  ssr: { resolve: { conditions: ['@trackpipe/source'] } },
  test: {
    testTimeout: 30_000,
    hookTimeout: 180_000,
    reporters: ['default', './scripts/summary-reporter.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['packages/*/test/**/*.test.ts', 'examples/*/test/**/*.test.ts', 'bench/test/**/*.test.ts', 'scripts/packaging/**/*.test.ts'],
          exclude: kafkaTests,
        },
      },
      {
        extends: true,
        test: {
          name: 'kafka',
          include: kafkaTests,
          globalSetup: ['./tools/kafka/vitest-global-setup.ts'],
          // One broker, shared: run these files one after another.
          fileParallelism: false,
        },
      },
    ],
  },
});
