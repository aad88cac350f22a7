// How the intake log stores a request's events, on PGlite and on PostgreSQL: compressed with
// LZ4 where the server has it, otherwise out of line and uncompressed (migrations 9 and 10); either
// way an entry reads back exactly as it was appended. Events are logged as they were sent and
// read back (by another process, after a crash) exactly as they were acknowledged.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SqlIntakeLog, toLogEntry } from '../../src/log/sql-intake-log.ts';
import { toEntry } from '../../src/sources/event-envelope.ts';
import { VARIANTS, type TestDatabase } from '../support/databases.ts';

/** A request's worth of events as the log keeps them: 100 lines, well past the 2 kB TOAST threshold. */
const payload = Array.from({ length: 100 }, (_, i) =>
  JSON.stringify({ version: '0', id: `id-${i}`, 'detail-type': 'findings-uploaded', source: 'findings', detail: { tenant_id: 'acme', event_id: `e-${i}`, new_findings_count: i } }),
).join('\n');

for (const variant of VARIANTS) {
  describe(`intake log storage on ${variant.name}`, () => {
    let t: TestDatabase;
    let log: SqlIntakeLog;
    before(async () => {
      t = await variant.open();
      log = new SqlIntakeLog(t.db, { leaseSeconds: 30, exclusive: false });
      await log.start();
    });
    after(async () => {
      await log.stop();
      await t.drop();
    });

    it('stores a large entry as the server allows and reads it back unchanged', async () => {
      const id = await log.append({ tenant: 'acme', kind: 'events', stream: null, count: 100, payload });
      const [{ lz4 }] = await t.db.query<{ lz4: boolean }>("select 'lz4' = any(enumvals) as lz4 from pg_settings where name = 'default_toast_compression'");
      const [row] = await t.db.query<{ storage: string; method: string | null; payload: string }>(
        `select a.attstorage as storage, pg_column_compression(l.payload) as method, l.payload
           from sluice.intake_log l, pg_attribute a
          where l.id = $1 and a.attrelid = 'sluice.intake_log'::regclass and a.attname = 'payload'`,
        [id],
      );
      assert.equal(row.payload, payload);
      if (lz4) {
        assert.equal(row.storage, 'x', 'extended storage: compressed, then out of line');
        assert.equal(row.method, 'lz4');
      } else {
        assert.equal(row.storage, 'e', 'external storage: out of line, not compressed');
        assert.equal(row.method, null);
      }
      if (variant.name === 'PostgreSQL') assert.ok(lz4, 'the CI server (Debian PostgreSQL 15) is built with LZ4');
    });

    it('events logged as sent are read back by another process as they were acknowledged: same ids, same times', async () => {
      // As POST /v1/events makes them: no id, and one event without a time (it takes the request's).
      const now = new Date();
      const lines = [
        '{"source":"findings","detail-type":"findings-uploaded","detail":{"tenant_id":"acme","event_id":"x-1"}}',
        '{ "source" : "findings", "detail-type":"findings-uploaded", "time":"2026-11-22T10:00:00.5+01:00", "detail":{"n":1.50} }',
      ];
      const entries = lines.map((l) => toEntry(JSON.parse(l), 'acme', 'metrics', now, l));
      const items = entries.map((e) => (e.kind === 'events' ? e.item : assert.fail(e.kind)));
      await log.append({ tenant: 'acme', kind: 'events', stream: null, count: 2, payload: entries.map((e) => (e.kind === 'events' ? e.line() : '')).join('\n'), received_at: now.toISOString() });
      await t.db.query('delete from sluice.workers where id = $1', [log.workerId]); // its process is gone
      const other = new SqlIntakeLog(t.db, { leaseSeconds: 30, exclusive: false });
      await other.start();
      const claimed = (await other.claimOrphans(100)).filter((r) => r.count === 2);
      assert.equal(claimed.length, 1);
      const entry = toLogEntry(claimed[0]);
      assert.equal(entry.receivedAt, now.toISOString());
      assert.deepEqual(entry.items, items);
      await other.stop();
      await log.start();
    });
  });
}
