import { MAX_TIMER_MS } from './options.js';

/**
 * Resolves with `promise`'s outcome, or with `fallback` after `ms`, whichever comes first; past the
 * longest timer (`Infinity` included) it waits for `promise` alone, as Node would fire such a timer at
 * once. The timer is cleared when `promise` settles first.
 */
export async function within<T, F>(promise: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  if (ms > MAX_TIMER_MS) return promise;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<F>((resolve) => {
    timer = setTimeout(() => resolve(fallback), Math.max(0, ms));
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}
