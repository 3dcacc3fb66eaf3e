import { describe, expect, it } from 'vitest';
import { Ledger, mergeReports, sumStats } from '@trackpipe/core/internal';

describe('Ledger', () => {
  it('reports what was exported and dropped since a snapshot, by reason', () => {
    const ledger = new Ledger();
    ledger.delivered(3);
    const before = ledger.snapshot();
    ledger.delivered(2);
    ledger.drop('rejected', 4);
    ledger.drop('invalid', 1);
    expect(ledger.reportSince(before, true, 7)).toEqual({
      complete: true,
      exported: 2,
      dropped: 5,
      droppedByReason: { rejected: 4, invalid: 1 },
      remaining: 7,
    });
  });

  it('gives stats with the identity once the owner says where the rest is', () => {
    const ledger = new Ledger();
    ledger.recorded = 10;
    ledger.delivered(4);
    ledger.drop('queue_full', 2);
    const stats = ledger.stats({ queued: 3, inFlight: 1, batchesInFlight: 1, queueCapacity: 100 });
    expect(stats.recorded).toBe(stats.exported + stats.dropped + stats.queued + stats.inFlight);
    expect(stats.lastExportAt).toEqual(expect.any(Number));
  });

  it('sums stats and merges reports', () => {
    const a = new Ledger();
    a.recorded = 2;
    a.delivered(2);
    a.failed.auth = 1;
    const b = new Ledger();
    b.recorded = 3;
    b.drop('rejected', 3);
    const view = { queued: 0, inFlight: 0, batchesInFlight: 0, queueCapacity: 10 };
    expect(sumStats([a.stats(view), b.stats(view)])).toMatchObject({ recorded: 5, exported: 2, dropped: 3, queueCapacity: 20, failedExports: { auth: 1 } });
    const merged = mergeReports([a.reportSince(new Ledger().snapshot(), true, 0), b.reportSince(new Ledger().snapshot(), false, 1)]);
    expect(merged).toEqual({ complete: false, exported: 2, dropped: 3, droppedByReason: { rejected: 3 }, remaining: 1 });
  });
});
