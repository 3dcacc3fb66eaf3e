import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KeyStore, SPOOL_UNAVAILABLE } from '../src/index.js';
import { RecordingLogger, tempDir } from './helpers.js';

let root: string;
let cleanup: () => void;
let dir: string;

beforeEach(() => {
  ({ dir: root, cleanup } = tempDir('trackpipe-keystore-'));
  dir = join(root, '.idempotency');
});
afterEach(() => cleanup());

describe('KeyStore', () => {
  it('finds its records again after a reopen, oldest first, without the removed ones', async () => {
    const store = KeyStore.open<{ n: number }>(dir, new RecordingLogger());
    await Promise.all([store.put('b', { at: 20, value: { n: 2 } }), store.put('a', { at: 10, value: { n: 1 } }), store.put('c', { at: 30, value: { n: 3 } })]);
    store.remove('b');
    await store.close();
    const again = KeyStore.open<{ n: number }>(dir, new RecordingLogger());
    try {
      expect(again.load()).toEqual([
        ['a', { at: 10, value: { n: 1 } }],
        ['c', { at: 30, value: { n: 3 } }],
      ]);
    } finally {
      await again.close();
    }
  });

  it('never throws from remove(), also for a key LMDB cannot hold (longer than its largest key): such a key was never stored', async () => {
    const store = KeyStore.open<{ n: number }>(dir, new RecordingLogger());
    const huge = 'k'.repeat(5_000);
    await expect(store.put(huge, { at: 1, value: { n: 1 } })).rejects.toThrow();
    expect(() => store.remove(huge)).not.toThrow();
    await store.put('a', { at: 2, value: { n: 2 } });
    expect(store.load()).toEqual([['a', { at: 2, value: { n: 2 } }]]);
    await store.close();
  });

  it('opens with a logger that throws, taking over a stale owner file (the warning lost, not the open)', async () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'owner.0.lock'), 'not an owner record');
    const throwing = {
      warn: (): void => {
        throw new Error('logger broke');
      },
      error: (): void => {
        throw new Error('logger broke');
      },
    };
    const store = KeyStore.open<{ n: number }>(dir, throwing);
    await store.put('a', { at: 1, value: { n: 1 } });
    expect(store.load()).toEqual([['a', { at: 1, value: { n: 1 } }]]);
    await store.close();
  });

  it('moves unreadable files aside, says where, and starts empty', async () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'data.mdb'), Buffer.alloc(64 * 1024, 0x5a));
    const logger = new RecordingLogger();
    const store = KeyStore.open(dir, logger);
    try {
      expect(store.load()).toEqual([]);
      const errors = logger.errors();
      expect(errors).toHaveLength(1);
      expect(errors[0]).toContain(dir);
      expect(errors[0]).toMatch(/moved to .*and the idempotency key store starts empty/);
      expect(readdirSync(root).filter((f) => f.startsWith('.idempotency.corrupt-'))).toHaveLength(1);
      await store.put('k', { at: 1, value: 'v' });
      expect(store.load()).toEqual([['k', { at: 1, value: 'v' }]]);
    } finally {
      await store.close();
    }
  });

  it('refuses a spool directory as a key store (another kind of files), moving it aside', async () => {
    const { Spool } = await import('../src/index.js');
    const spool = new Spool({ path: dir });
    spool.push({ name: 'a' });
    await spool.persisted();
    await spool.close();
    const logger = new RecordingLogger();
    const store = KeyStore.open(dir, logger);
    await store.close();
    expect(logger.errors()[0]).toMatch(/not an idempotency key store's/);
  });

  it('names the directory when it cannot be used (a file is in its place)', () => {
    writeFileSync(dir, 'x');
    expect(() => KeyStore.open(dir, new RecordingLogger())).toThrow(
      expect.objectContaining({ code: SPOOL_UNAVAILABLE, message: expect.stringContaining(`the idempotency key store directory ${dir} is not a directory (EEXIST)`) }),
    );
  });
});
