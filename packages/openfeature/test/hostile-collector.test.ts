import { silentLogger } from '@trackpipe/core';
import { TrackpipeHook } from '@trackpipe/openfeature';
import { describe, expect, it } from 'vitest';
import { RecordingCollector } from './support/fakes.js';

// The hook records into anything with record(). When that collector's flush() or close() throws
// synchronously, hook.flush() and hook.close() still answer a promise — rejected with that error —
// so `await hook.close()` and closeOnSignals([hook]) see a failed close, not an exception at the call.

class ThrowingCollector extends RecordingCollector {
  override flush(): never {
    throw new Error('flush threw synchronously');
  }
  override close(): never {
    throw new Error('close threw synchronously');
  }
}

/** What `call` returns, or the exception it threw at the call, tagged. */
function at<T>(call: () => T): { returned: T } | { threw: unknown } {
  try {
    return { returned: call() };
  } catch (error) {
    return { threw: error };
  }
}

describe('a hook over a collector whose flush() and close() throw synchronously', () => {
  it('answers flush() and close() with rejected promises instead of throwing', async () => {
    const hook = new TrackpipeHook(new ThrowingCollector(), { logger: silentLogger });
    const flushed = at(() => hook.flush());
    const closed = at(() => hook.close());
    expect(flushed).not.toHaveProperty('threw');
    expect(closed).not.toHaveProperty('threw');
    await expect((flushed as { returned: Promise<unknown> }).returned).rejects.toThrow('flush threw synchronously');
    await expect((closed as { returned: Promise<unknown> }).returned).rejects.toThrow('close threw synchronously');
  });
});
