// Shared pieces of the spool tests: temporary directories, a recording listener and logger, and a
// processor-like drain that takes events with their sequence numbers.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DropReason, type Logger, type QueueListener, TrackpipeError } from '@trackpipe/core';
import { Spool, type SpoolOptions } from '../src/index.js';

export interface Ev {
  /** core's jsonEncoder (the spool's and the processor's) refuses an event without an own name: events read back from disk need one. */
  readonly name?: string;
  readonly k: number;
  readonly pad?: string;
  readonly big?: bigint;
}

/** A fresh directory under the OS temp dir; removed by `cleanup()`. */
export function tempDir(prefix = 'trackpipe-spool-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A listener that counts drops by reason and ready() calls. */
export class RecordingListener implements QueueListener {
  readonly drops = new Map<DropReason, number>();
  readies = 0;
  dropped(reason: DropReason, count: number): void {
    this.drops.set(reason, (this.drops.get(reason) ?? 0) + count);
  }
  ready(): void {
    this.readies++;
  }
  count(reason: DropReason): number {
    return this.drops.get(reason) ?? 0;
  }
}

/** A logger that keeps every line. */
export class RecordingLogger implements Logger {
  readonly lines: { level: 'warn' | 'error'; message: string; fields: Record<string, unknown> | undefined }[] = [];
  warn(message: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level: 'warn', message, fields });
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.lines.push({ level: 'error', message, fields });
  }
  errors(): string[] {
    return this.lines.filter((l) => l.level === 'error').map((l) => l.message);
  }
}

/** Opens a spool with a quiet logger unless one is given; returns it with its listener and the recovered count. */
export function openSpool(
  options: SpoolOptions,
): { spool: Spool<Ev>; listener: RecordingListener; logger: RecordingLogger; recovered: number } {
  const logger = (options.logger as RecordingLogger | undefined) ?? new RecordingLogger();
  const spool = new Spool<Ev>({ ...options, logger });
  const listener = new RecordingListener();
  const recovered = spool.open(listener);
  return { spool, listener, logger, recovered };
}

/** Takes up to `limit` ready events, each with its sequence number (`head` once `peek()` found it). */
export function take(spool: Spool<Ev>, limit = Infinity): { key: number; event: Ev }[] {
  const out: { key: number; event: Ev }[] = [];
  while (out.length < limit && spool.peek() !== undefined) {
    const key = spool.head;
    out.push({ key, event: spool.shift()! });
  }
  return out;
}

/** Pushes events with `k` = the sequence number they get. */
export function pushN(spool: Spool<Ev>, n: number, pad = ''): void {
  for (let i = 0; i < n; i++) spool.push({ k: spool.tail, pad });
}

/** The TrackpipeError `new Spool({ path })` throws (anything else, or opening, fails the test). */
export function openRefusal(path: string, logger: Logger = new RecordingLogger()): TrackpipeError {
  try {
    new Spool({ path, logger });
  } catch (error) {
    if (error instanceof TrackpipeError) return error;
    throw error;
  }
  throw new Error(`a spool opened ${path}`);
}
