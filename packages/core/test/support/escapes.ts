import { afterAll, beforeAll } from 'vitest';

/**
 * Collects every unhandled rejection and uncaught exception while the calling test file runs (the
 * handlers are installed and removed with `beforeAll`/`afterAll`); a test clears it with `length = 0`.
 */
export function watchEscapes(): unknown[] {
  const escaped: unknown[] = [];
  const onEscaped = (reason: unknown): void => void escaped.push(reason);
  beforeAll(() => {
    process.on('unhandledRejection', onEscaped);
    process.on('uncaughtException', onEscaped);
  });
  afterAll(() => {
    process.off('unhandledRejection', onEscaped);
    process.off('uncaughtException', onEscaped);
  });
  return escaped;
}
