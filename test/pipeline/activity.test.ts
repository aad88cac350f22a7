/**
 * The overview's activity counts: summed per minute, stream, tenant, outcome and code in memory,
 * written in one statement per flush, and kept under their own minute when a flush fails.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Activity } from '../../src/pipeline/activity.ts';
import type { Database, Param } from '../../src/store/database.ts';

function fakeDb(failures: number): { db: Database; writes: Array<Array<{ m: number; s: string; t: string; o: string; c: string; n: number }>> } {
  const writes: Array<Array<{ m: number; s: string; t: string; o: string; c: string; n: number }>> = [];
  let left = failures;
  const db = {
    kind: 'pglite',
    query: async (_sql: string, params?: Param[]) => {
      if (left-- > 0) throw Object.assign(new Error('connection refused'), { name: 'ConnectionError' });
      writes.push(JSON.parse(params![0] as string));
      return [];
    },
  } as unknown as Database;
  return { db, writes };
}

describe('activity counts', () => {
  it('sums per minute and key, and writes them in one statement', async () => {
    const { db, writes } = fakeDb(0);
    let now = Date.UTC(2026, 10, 21, 10, 0, 30);
    const a = new Activity(db, () => {}, () => now);
    a.record('metrics', 'acme', 'ok', '', 3);
    a.recordEach('metrics', ['acme', 'globex', 'acme'], 'ok', '');
    a.record('metrics', 'acme', 'failed', 'invalid_record');
    now += 60_000;
    a.record('metrics', 'acme', 'ok', '', 1);
    await a.flush();
    assert.equal(writes.length, 1);
    const m0 = Date.UTC(2026, 10, 21, 10, 0);
    assert.deepEqual(
      writes[0].map((w) => [w.m - m0, w.t, w.o, w.c, w.n]),
      [
        [0, 'acme', 'ok', '', 5],
        [0, 'globex', 'ok', '', 1],
        [0, 'acme', 'failed', 'invalid_record', 1],
        [60_000, 'acme', 'ok', '', 1],
      ],
    );
    await a.flush();
    assert.equal(writes.length, 1, 'nothing new, nothing written');
  });

  it('keeps counts under their own minute when a flush fails, and writes them with the next', async () => {
    const { db, writes } = fakeDb(1);
    let now = Date.UTC(2026, 10, 21, 10, 0, 10);
    const warnings: string[] = [];
    const a = new Activity(db, (m) => warnings.push(m), () => now);
    a.record('metrics', 'acme', 'ok', '', 2);
    // The clock moves on while the failing write is in flight.
    const failing = a.flush();
    now += 5 * 60_000;
    await failing;
    assert.match(warnings[0], /activity counts not stored yet \(ConnectionError\)/);
    a.record('metrics', 'acme', 'ok', '', 1);
    await a.flush();
    assert.deepEqual(writes[0].map((w) => [new Date(w.m).toISOString(), w.n]).sort(), [
      ['2026-11-21T10:00:00.000Z', 2],
      ['2026-11-21T10:05:00.000Z', 1],
    ]);
  });
});
