// Both drivers carry long text and json parameters exactly: PGlite's driver sends them to the
// engine as UTF-8 bytes in binary format (see pglite-driver.ts), short ones as text. Both load
// rows with COPY exactly, and a COPY the database refuses fails whole with its error, inside a
// batch too, leaving the driver usable.
import assert from 'node:assert/strict';
import pg from 'pg';
import { after, before, describe, it } from 'node:test';
import { sqlState } from '../../src/store/database.ts';
import { copyField, copyJson, copyText } from '../../src/store/copy-text.ts';
import { VARIANTS, withServedPglite, type TestDatabase } from '../support/databases.ts';
import { waitUntil } from '../support/sluice-process.ts';

const LONG = `${'é€😀 "quoted" \\ back\nslash\t'.repeat(400)}end`;

for (const variant of VARIANTS) {
  describe(`query parameters on ${variant.name}`, () => {
    let t: TestDatabase;
    before(async () => {
      t = await variant.open();
    });
    after(() => t.drop());

    it('long and short text comes back as sent, counted in characters', async () => {
      for (const s of [LONG, 'short é😀']) {
        const [r] = await t.db.query<{ s: string; n: number }>('select $1::text as s, char_length($1::text)::int as n', [s]);
        assert.equal(r.s, s);
        assert.equal(r.n, [...s].length);
      }
    });

    it('long json text is parsed by the database', async () => {
      const doc = { text: LONG, list: Array.from({ length: 50 }, (_, i) => ({ i, v: `value ${i} ✓` })) };
      const [r] = await t.db.query<{ text: string; n: number }>("select $1::text::json->>'text' as text, json_array_length($1::text::json->'list')::int as n", [JSON.stringify(doc)]);
      assert.equal(r.text, LONG);
      assert.equal(r.n, 50);
    });

    it('a NUL character is refused in a long text as in a short one', async () => {
      for (const s of [`${LONG}\u0000`, 'a\u0000b']) await assert.rejects(t.db.query('select $1::text as s', [s]));
    });

    it('numbers and booleans still bind to text parameters', async () => {
      const [r] = await t.db.query<{ a: string; b: string }>('select $1::text as a, $2::text as b', [12.5, true]);
      assert.deepEqual([r.a, r.b], ['12.5', 'true']);
    });

    const line = (values: readonly unknown[]): string => `${values.map(copyField).join('\t')}\n`;

    it('COPY loads text, json, numbers, booleans and nulls exactly as sent', async () => {
      await t.db.exec('create table copied (k text primary key, doc jsonb, n numeric, ok boolean, note varchar(3))');
      const awkward = ['\\N', '\\.', 'tab\there', 'line\nbreak\r\n', 'back\\slash', LONG, ' "quoted" ', 'é€😀'];
      const rows = awkward.map((k, i) => [k, { k, i, nested: [k, null] }, i + 0.25, i % 2 === 0, i % 3 === 0 ? null : 'abc']);
      assert.equal(await t.db.copy('copied (k, doc, n, ok, note)', rows.map(line).join('')), awkward.length);
      const back = await t.db.query<{ k: string; doc: unknown; n: string; ok: boolean; note: string | null }>('select k, doc, n::text as n, ok, note from copied');
      const byKey = new Map(back.map((r) => [r.k, r]));
      for (const [k, doc, n, ok, note] of rows) {
        const r = byKey.get(k as string);
        assert.ok(r, `row ${JSON.stringify(k)} was loaded`);
        assert.deepEqual([r.doc, Number(r.n), r.ok, r.note], [doc, n, ok, note]);
      }
    });

    it('COPY loads JSON text escaped by copyJson (backslashes only) as it was', async () => {
      await t.db.exec('create table copied_json (k text primary key, doc jsonb)');
      const awkward = ['\\N', 'tab\there', 'line\nbreak\r\n', 'back\\slash\\', '\\\\t', ' "quoted" ', 'é€😀', 'sep\u2028arator', LONG];
      const docs = awkward.map((v, i) => ({ [v]: v, i, list: [v, null, { v }] }));
      assert.equal(await t.db.copy('copied_json (k, doc)', docs.map((d, i) => `${copyText(awkward[i])}\t${copyJson(JSON.stringify(d))}\n`).join('')), awkward.length);
      const back = new Map((await t.db.query<{ k: string; doc: unknown }>('select k, doc from copied_json')).map((r) => [r.k, r.doc]));
      docs.forEach((d, i) => assert.deepEqual(back.get(awkward[i]), d, JSON.stringify(awkward[i])));
    });

    it('a COPY the database refuses fails whole with its error, in a batch too, and the driver goes on', async () => {
      const before = await t.db.query<{ n: number }>('select count(*)::int as n from copied');
      // A key already stored (the error comes after all the data is sent), then a value too long.
      for (const [rows, code] of [[[['new-1', {}, 1, true, null], ['\\N', {}, 1, true, null]], '23505'], [[['new-2', {}, 1, true, 'abcd']], '22001']] as const) {
        await assert.rejects(t.db.copy('copied (k, doc, n, ok, note)', rows.map(line).join('')), (e) => sqlState(e) === code);
        await assert.rejects(
          t.db.batch([{ sql: "insert into copied (k) values ('in-the-batch')" }, { copy: 'copied (k, doc, n, ok, note)', rows: rows.map(line).join('') }]),
          (e) => sqlState(e) === code,
        );
      }
      assert.deepEqual(await t.db.query('select count(*)::int as n from copied'), before);
      assert.deepEqual(await t.db.batch([{ copy: 'copied (k)', rows: 'after\n' }]), [1]);
    });

    it('a batch runs its steps in one transaction: each answers, and a failing step undoes the others', async () => {
      assert.deepEqual(await t.db.batch([{ copy: 'copied (k)', rows: 'batch-1\nbatch-2\n' }, { sql: "select count(*)::int as n from copied where k like 'batch-%'" }]), [2, [{ n: 2 }]]);
      await assert.rejects(
        t.db.batch([{ copy: 'copied (k)', rows: 'batch-3\n' }, { sql: 'insert into copied (k) values ($1)', params: ['batch-1'] }]),
        (e) => sqlState(e) === '23505',
      );
      assert.deepEqual(await t.db.query("select k from copied where k like 'batch-%' order by k"), [{ k: 'batch-1' }, { k: 'batch-2' }]);
    });
  });
}

describe('the embedded database shared over its socket', () => {
  it("a client's parameterized queries and Sluice's own, interleaved, each get their own answers", async () => {
    await withServedPglite(async (db, client) => {
      // The client's statements are unnamed and take two round trips (Parse/Describe, then
      // Bind/Execute/Sync); Sluice's own queries, with another parameter count, run meanwhile.
      let done = false;
      const ours: string[] = [];
      const loop = (async () => {
        for (let i = 0; !done; i++) ours.push(`${(await db.query<{ s: string }>('select $1::text || $2::text || $3::text as s', ['o', String(i), '?']))[0].s}`);
      })();
      const theirs: string[] = [];
      try {
        for (let i = 0; i < 60; i++) theirs.push((await client.query<{ s: string }>('select $1::text || $2::text as s', [`c${i}`, '!']))[0].s);
      } finally {
        done = true;
        await loop;
      }
      assert.deepEqual(theirs, Array.from({ length: 60 }, (_, i) => `c${i}!`));
      assert.ok(ours.length > 60, `Sluice's own queries ran meanwhile (${ours.length})`);
      assert.deepEqual(ours, Array.from({ length: ours.length }, (_, i) => `o${i}?`));
    });
  });
  it("a client's transaction is its own: Sluice's writes meanwhile wait for it, neither joining nor ending it", { timeout: 30_000 }, async () => {
    await withServedPglite(async (db, client, socket) => {
      await db.query('create table t_client (a int)');
      await db.query('create table t_own (a int)');
      let ownDone = false;
      let own: Promise<void> | undefined;
      await assert.rejects(
        client.transaction(async (tx) => {
          await tx.query('insert into t_client values (1)');
          own = Promise.all([db.query('insert into t_own values (1)'), db.transaction(async (t) => void (await t.query('insert into t_own values (2)')))]).then(() => {
            ownDone = true;
          });
          await new Promise((r) => setTimeout(r, 300));
          assert.equal(ownDone, false, "Sluice's writes wait for the client's transaction to end");
          await tx.query('insert into t_client values (2)');
          throw new Error('undo');
        }),
        /undo/,
      );
      await own;
      assert.deepEqual(await db.query('select count(*)::int as n from t_client'), [{ n: 0 }], "the client's rollback undid all its rows");
      assert.deepEqual(await db.query('select a from t_own order by a'), [{ a: 1 }, { a: 2 }], "Sluice's writes are committed");

      // A client that goes away inside its transaction: it is rolled back, and Sluice goes on.
      const raw = new pg.Client({ host: socket.dir, database: 'postgres', user: 'postgres' });
      await raw.connect();
      await raw.query('begin');
      await raw.query('insert into t_client values (3)');
      const later = db.query('insert into t_own values (3)');
      await raw.end();
      await later;
      assert.deepEqual(await db.query('select count(*)::int as n from t_client'), [{ n: 0 }]);
      assert.deepEqual(await db.query('select count(*)::int as n from t_own'), [{ n: 3 }]);
    });
  });

  it("a client's transaction held past the warning time is reported once, and Sluice's work goes on when it ends", { timeout: 30_000 }, async () => {
    const WARN_MS = 300;
    const warnings: Array<{ message: string; at: number }> = [];
    await withServedPglite(
      async (db, _client, socket) => {
        db.onWarning = (message) => warnings.push({ message, at: Date.now() });
        const raw = new pg.Client({ host: socket.dir, database: 'postgres', user: 'postgres' });
        await raw.connect();
        try {
          const began = Date.now();
          await raw.query('begin');
          let done = 0;
          const waiting = [db.query('select 1'), db.query('select 2'), db.transaction(async (t) => t.query('select 3'))].map((q) => q.then(() => done++));
          // Well before the default 10 s: the option is what decides.
          await waitUntil('the warning', () => warnings.length > 0, 5_000);
          assert.ok(warnings[0].at - began >= WARN_MS, `warned ${warnings[0].at - began} ms after the transaction began, before its time`);
          assert.match(warnings[0].message, /held a transaction open .*Sluice's own reads and writes wait until it commits or rolls back/);
          await new Promise((r) => setTimeout(r, 2 * WARN_MS));
          assert.equal(done, 0, "Sluice's work still waits for the client's transaction");
          assert.equal(warnings.length, 1, `one warning for the transaction, however much work waits on it: ${JSON.stringify(warnings)}`);
          await raw.query('commit');
          await Promise.all(waiting);
          assert.equal(done, 3);
          // The next transaction that holds Sluice's work up gets its own warning.
          await raw.query('begin');
          const again = db.query('select 4');
          await waitUntil('the second warning', () => warnings.length === 2, 5_000);
          await raw.query('rollback');
          await again;
        } finally {
          await raw.end();
        }
      },
      { transactionWarnMs: WARN_MS },
    );
  });

  it('COPY FROM STDIN over the socket loads its rows, fails whole on a bad row, and the session goes on', { timeout: 30_000 }, async () => {
    await withServedPglite(async (db, client) => {
      await db.query('create table t_copy (a text, b int)');
      assert.equal(await client.copy('t_copy (a, b)', 'x\t1\ny\t2\n'), 2);
      await assert.rejects(client.copy('t_copy (a, b)', 'z\t5\nz\tnot a number\n'), (e: { code?: string }) => e.code === '22P02');
      const [loaded, count] = await client.batch([{ copy: 't_copy (a, b)', rows: 'w\t3\n' }, { sql: 'select count(*)::int as n from t_copy' }]);
      assert.equal(loaded, 1);
      assert.deepEqual(count, [{ n: 3 }]);
      await assert.rejects(client.batch([{ copy: 't_copy (a, b)', rows: 'v\t4\n' }, { sql: 'select 1/0' }]), (e: { code?: string }) => e.code === '22012');
      assert.deepEqual(await db.query('select a, b from t_copy order by b'), [{ a: 'x', b: 1 }, { a: 'y', b: 2 }, { a: 'w', b: 3 }], 'the failed COPY and the undone batch left nothing');
      assert.deepEqual(await client.query("select 'still here' as s"), [{ s: 'still here' }]);
    });
  });
  it("a client's settings do not reach Sluice's own work: time zone, statement timeout, read-only transactions", { timeout: 30_000 }, async () => {
    await withServedPglite(async (db, client) => {
      await db.query('create table t_settings (a int)');
      await client.query("set timezone = 'America/New_York'");
      await client.query("set statement_timeout = '1ms'");
      await client.query('set default_transaction_read_only = on');
      assert.deepEqual(await db.query('select current_setting($1) as v', ['TimeZone']), [{ v: 'UTC' }]);
      await db.query('insert into t_settings select g from generate_series(1, 20000) g');
      await db.transaction(async (tx) => void (await tx.query('insert into t_settings values (0)')));
      assert.deepEqual(await db.query('select count(*)::int as n from t_settings'), [{ n: 20001 }]);
    });
  });
});
