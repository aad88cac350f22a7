// A running Sluice on the embedded database shares it over its socket (sluice keys, psql, BI
// tools). A client's open transaction holds PGlite's one session: Sluice's intake waits for it
// instead of writing inside it, and /readyz answers 503 in bounded time meanwhile.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { READY_WAIT_MS } from '../../src/api/ops-routes.ts';
import { findings, findingsConfig, postJson, startTestSluice, type TestSluice } from '../support/test-sluice.ts';

describe('a running Sluice on PGlite beside a socket client holding a transaction', () => {
  let s: TestSluice;
  before(async () => {
    s = await startTestSluice('PGlite', findingsConfig());
  });
  after(() => s.close());

  it('intake waits for the client and is not undone by its rollback; /readyz is 503 within its wait, then 200', { timeout: 60_000 }, async () => {
    const key = (await s.keys.create('acme', 'ingest')).key;
    const client = new pg.Client({ host: s.dataDir, database: 'postgres', user: 'postgres' });
    await client.connect();
    try {
      await client.query('begin');
      await client.query('create table public.scratch (a int)');
      const t0 = Date.now();
      const ready = await fetch(`${s.url}/readyz`);
      const waited = Date.now() - t0;
      assert.equal(ready.status, 503);
      assert.deepEqual(await ready.json(), { ok: false, store: false, log: false, waited_ms: READY_WAIT_MS });
      assert.ok(waited < READY_WAIT_MS + 1_500, `answered in ${waited} ms`);

      let answered = false;
      const ingest = postJson(`${s.url}/v1/events`, key, [findings('acme', 'held-1', new Date(), 1)]).then((r) => {
        answered = true;
        return r;
      });
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(answered, false, 'the intake log append waits for the client transaction');
      await client.query('rollback');
      const r = await ingest;
      assert.equal(r.status, 200);
      await s.pipeline.whenIdle();
      assert.deepEqual(await s.db.query("select record_id from sluice.metric_points where record_id = 'e:held-1'"), [{ record_id: 'e:held-1' }], "the client's rollback did not undo the acknowledged event");
      assert.deepEqual(await s.db.query("select count(*)::int as n from pg_tables where tablename = 'scratch'"), [{ n: 0 }], "the client's own work was rolled back");
      assert.equal((await fetch(`${s.url}/readyz`)).status, 200);
    } finally {
      await client.end();
    }
  });
});
