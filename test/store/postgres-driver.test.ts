// The server driver prepares statements with parameters (one round trip and no parse each time
// they run again), up to PREPARED_STATEMENTS distinct ones per driver; past that, statements run
// unprepared and give the same answers. A connection lost mid-transaction fails the transaction,
// not the process.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PREPARED_STATEMENTS, PostgresDriver } from '../../src/store/postgres-driver.ts';
import { createServerDatabase, withServedPglite } from '../support/databases.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';

describe('the PostgreSQL server driver', () => {
  let server: { url: string; drop: () => Promise<void> };
  let db: PostgresDriver;
  before(async () => {
    server = await createServerDatabase();
    db = new PostgresDriver({ url: server.url, max: 1 }); // one connection: its statements are the driver's
  });
  after(async () => {
    await db.close();
    await server.drop();
  });

  const prepared = async (): Promise<string[]> => (await db.query<{ statement: string }>('select statement from pg_prepared_statements')).map((r) => r.statement);

  it('prepares a statement with parameters once and runs it again prepared', async () => {
    const sql = 'select $1::int + 1 as n';
    for (let i = 0; i < 3; i++) assert.deepEqual(await db.query(sql, [i]), [{ n: i + 1 }]);
    assert.equal((await prepared()).filter((s) => s === sql).length, 1);
  });

  it('runs statements without parameters unprepared', async () => {
    await db.query('select 42 as answer');
    assert.ok(!(await prepared()).some((s) => s.includes('42 as answer')));
  });

  it('stops preparing at the limit, and the rest still answer', async () => {
    for (let i = 0; i < PREPARED_STATEMENTS + 20; i++) {
      const [r] = await db.query<{ n: number }>(`select $1::int * ${i} as n`, [2]);
      assert.equal(r.n, 2 * i);
    }
    // Ours only: the driver prepares its own type lookup when it connects.
    const statements = (await prepared()).filter((s) => s.startsWith('select $1::int'));
    assert.equal(statements.length, PREPARED_STATEMENTS);
    assert.ok(statements.includes('select $1::int * 0 as n'));
    assert.ok(!statements.includes(`select $1::int * ${PREPARED_STATEMENTS + 19} as n`));
  });

  it('prepares inside transactions too, with the same answers', async () => {
    const rows = await db.transaction(async (tx) => tx.query<{ n: number }>('select $1::int + 1 as n', [41]));
    assert.deepEqual(rows, [{ n: 42 }]);
  });

  it("works in UTC whatever the database's time zone", async () => {
    const name = new URL(server.url).pathname.slice(1);
    await db.exec(`alter database ${name} set timezone = 'America/New_York'`);
    const other = new PostgresDriver({ url: server.url, max: 1 });
    try {
      assert.deepEqual(await other.query('show timezone'), [{ TimeZone: 'UTC' }]);
      assert.deepEqual(await other.query("select '2026-11-22 10:00'::timestamptz::text as t"), [{ t: '2026-11-22 10:00:00+00' }]);
    } finally {
      await other.close();
    }
  });

  it('a connection lost between the statements of a transaction fails it, and the next call reconnects', async () => {
    const proxy = await startTcpProxy(Number(new URL(server.url).port || 5432));
    const url = new URL(server.url);
    url.port = String(proxy.port);
    const cut = new PostgresDriver({ url: url.toString(), max: 1 });
    try {
      // Out of the pool and between statements, the connection reports its loss on itself: a
      // driver that did not listen there would end the process here.
      await assert.rejects(
        cut.transaction(async (tx) => {
          await tx.query('select 1');
          await proxy.cut();
          await new Promise((r) => setTimeout(r, 200));
          await tx.query('select 2');
        }),
      );
      await proxy.restore();
      assert.deepEqual(await cut.query('select 3 as n'), [{ n: 3 }]);
    } finally {
      await cut.close();
      await proxy.close();
    }
  });
});

describe('the server driver through a running Sluice\'s socket (PGlite)', () => {
  it('prepares nothing: the clients share PGlite\'s one session', async () => {
    await withServedPglite(async (pglite, client) => {
      for (let i = 0; i < 3; i++) assert.deepEqual(await client.query('select $1::int + 1 as n', [i]), [{ n: i + 1 }]);
      const [r] = await pglite.query<{ n: number }>('select count(*)::int as n from pg_prepared_statements');
      assert.equal(r.n, 0);
    });
  });
});
