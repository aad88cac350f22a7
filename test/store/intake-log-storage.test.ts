// How the intake log stores a request's events, on PGlite and on PostgreSQL: compressed with
// LZ4 where the server has it, otherwise out of line and uncompressed (migrations 9 and 10); either
// way an entry reads back exactly as it was appended.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SqlIntakeLog } from '../../src/log/sql-intake-log.ts';
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
  });
}
