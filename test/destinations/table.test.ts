// The table destination on PGlite and on PostgreSQL: created from the config, evolved safely
// (add, widen; refuse narrowing before anything is written), idempotent batched writes with
// keep or update, and a bad value failing only its record, with the column named.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { TableDestinationConfig } from '../../src/config/config.ts';
import { columnValue, parseColumnType, Unfit, unsafeChange } from '../../src/destinations/table/column-types.ts';
import { createTableDestination } from '../../src/destinations/table/index.ts';
import { VARIANTS, type TestDatabase } from '../support/databases.ts';

const tx = (id: string, amount: unknown, extra: Record<string, unknown> = {}) => ({
  id: `rec-${id}`,
  source_tenant: 'acme',
  at: '2026-11-20T10:00:00.000Z',
  value: { transaction_id: id, amount, currency: 'EUR', user_id: 'k1:abc', created_at: '2026-11-20T10:00:00Z', ...extra },
});

const BATCH = { stream: 'transactions', id: 'b1', at: '2026-11-20T10:00:00.000Z' };

const TRANSACTIONS: TableDestinationConfig = {
  type: 'table',
  table: 'transactions',
  columns: {
    transaction_id: 'text',
    amount: 'numeric(10,2)',
    currency: 'varchar(3)',
    user_id: { type: 'text', subject: 'user_id' },
    created_at: 'timestamptz',
    quantity: { type: 'integer', from: '$.items.count' },
    amount_cents: { type: 'bigint', value: (r) => Math.round(Number((r as { amount: number }).amount) * 100) },
  },
  primary_key: ['transaction_id'],
};

describe('column types', () => {
  it('parses config and catalog spellings alike', () => {
    assert.deepEqual(parseColumnType('NUMERIC(12, 2)'), { kind: 'numeric', precision: 12, scale: 2 });
    assert.deepEqual(parseColumnType('character varying(20)'), { kind: 'varchar', length: 20 });
    assert.deepEqual(parseColumnType('timestamp with time zone'), { kind: 'timestamptz' });
    assert.equal(parseColumnType('money'), null);
    assert.equal(parseColumnType('varchar'), null);
  });

  it('allows only widenings', () => {
    const t = (s: string) => parseColumnType(s)!;
    assert.equal(unsafeChange(t('integer'), t('bigint')), null);
    assert.equal(unsafeChange(t('numeric(10,2)'), t('numeric(12,2)')), null);
    assert.equal(unsafeChange(t('varchar(3)'), t('text')), null);
    assert.match(unsafeChange(t('bigint'), t('integer'))!, /not a widening/);
    assert.match(unsafeChange(t('numeric(10,2)'), t('numeric(10,3)'))!, /fewer digits/);
    assert.match(unsafeChange(t('text'), t('integer'))!, /not a widening/);
    assert.match(unsafeChange(t('integer'), t('numeric(8,0)'))!, /fewer integer digits/);
  });

  it('checks values without quoting them', () => {
    const t = (s: string) => parseColumnType(s)!;
    assert.deepEqual(columnValue(t('numeric(5,2)'), '123.456'), '123.456');
    assert.deepEqual(columnValue(t('numeric(5,2)'), 1234.5), new Unfit('too many digits for numeric(5,2)'));
    assert.deepEqual(columnValue(t('integer'), 'abc'), new Unfit('expected an integer (integer), got string'));
    assert.deepEqual(columnValue(t('smallint'), 40000), new Unfit('out of range for smallint'));
    assert.deepEqual(columnValue(t('timestamptz'), 'yesterday'), new Unfit('expected an ISO 8601 date-time, got string'));
    assert.deepEqual(columnValue(t('boolean'), 'true'), true);
    assert.deepEqual(columnValue(t('bigint'), '9223372036854775807'), '9223372036854775807');
  });

  it('judges a number as it judges its text', () => {
    const t = (s: string) => parseColumnType(s)!;
    const numbers = [0, -0, 1, -1, 0.5, 99.99, 999.995, 1000, -1000, 12345, 32767, 32768, -32768, -32769, 2147483647, 2147483648, 1e15, 2 ** 53, 2 ** 53 + 2, 1.5e-7, -123.456];
    for (const type of ['smallint', 'integer', 'bigint', 'numeric(5,2)', 'numeric(7,0)', 'numeric(30,2)', 'numeric', 'double precision', 'real']) {
      // The same verdict and the same text written (a number stays a number, its JSON text its
      // text); a refusal names the type it was given.
      const same = (v: unknown) => {
        const r = columnValue(t(type), v);
        return r instanceof Unfit ? { ok: false, reason: r.reason.replace(/got (number|string)$/, 'got …') } : { ok: true, text: String(r) };
      };
      for (const n of numbers) assert.deepEqual(same(n), same(String(n)), `${type} ${n}`);
    }
    const long = 'é'.repeat(3);
    assert.deepEqual(columnValue(t('varchar(3)'), long), long);
    assert.deepEqual(columnValue(t('varchar(3)'), '😀😀😀'), '😀😀😀', 'three code points in six UTF-16 units');
    assert.ok(columnValue(t('varchar(3)'), 'abcd') instanceof Unfit);
    for (const when of ['2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', '2026-13-45T00:00:00Z', '2026-01-01T00:00:00Z']) {
      assert.equal(!(columnValue(t('timestamptz'), when) instanceof Unfit), !when.startsWith('2026-13'), when);
    }
  });
});

for (const variant of VARIANTS) {
  describe(`table destination on ${variant.name}`, () => {
    let t: TestDatabase;
    before(async () => {
      t = await variant.open();
    });
    after(() => t.drop());

    const rows = () => t.db.query<Record<string, unknown>>('select transaction_id, amount::text as amount, currency, quantity, amount_cents::text as cents from bi.transactions order by 1');

    it('creates the table and writes a batch once, however often it is delivered', async () => {
      const d = createTableDestination(TRANSACTIONS, { db: t.db });
      await d.open!();
      const batch = [tx('t1', 12.5, { items: { count: 2 } }), tx('t2', '99.99'), tx('t1', 1)];
      assert.deepEqual(await d.write(batch, BATCH), []);
      assert.deepEqual(await d.write(batch, BATCH), []);
      assert.deepEqual(await rows(), [
        { transaction_id: 't1', amount: '12.50', currency: 'EUR', quantity: 2, cents: '1250' },
        { transaction_id: 't2', amount: '99.99', currency: 'EUR', quantity: null, cents: '9999' },
      ]);
    });

    it('fails a value that does not fit, naming the column, and writes its neighbours', async () => {
      const d = createTableDestination(TRANSACTIONS, { db: t.db });
      const failures = await d.write([tx('t3', 'twelve'), tx('t4', 4), tx('t5', 5, { currency: 'EURO' }), tx('t6', 6, { created_at: 'not a date' }), { ...tx('', 1), value: { amount: 1 } }], BATCH);
      assert.deepEqual(failures, [
        { index: 0, code: 'column_invalid', reason: 'column amount (numeric(10,2)): expected a number, got string' },
        { index: 2, code: 'column_invalid', reason: 'column currency (varchar(3)): longer than 3 characters' },
        { index: 3, code: 'column_invalid', reason: 'column created_at (timestamptz): expected an ISO 8601 date-time, got string' },
        { index: 4, code: 'missing_key', reason: 'primary key column transaction_id has no value' },
      ]);
      assert.deepEqual((await rows()).map((r) => r.transaction_id), ['t1', 't2', 't4']);
    });

    it('finds a row the database itself refuses by splitting the batch', async () => {
      await t.db.exec("alter table bi.transactions add constraint positive check (amount > 0)");
      const d = createTableDestination(TRANSACTIONS, { db: t.db });
      const failures = await d.write([tx('t7', 7), tx('t8', -8), tx('t9', 9)], BATCH);
      assert.equal(failures.length, 1);
      assert.equal(failures[0].index, 1);
      assert.equal(failures[0].code, 'row_rejected');
      assert.match(failures[0].reason, /SQLSTATE 23514/);
      assert.deepEqual((await rows()).map((r) => r.transaction_id), ['t1', 't2', 't4', 't7', 't9']);
      await t.db.exec('alter table bi.transactions drop constraint positive');
    });

    it('keeps jsonb documents, escaped text and every scalar type as sent', async () => {
      const d = createTableDestination(
        { type: 'table', table: 'documents', columns: { id: 'text', doc: 'jsonb', note: 'text', n: 'bigint', ok: 'boolean', x: 'double precision' }, primary_key: ['id'] },
        { db: t.db },
      );
      await d.open!();
      const doc = { nested: { list: [1, 'two', null, { deep: true }] }, 'quote"key': 'tab\there', unicode: 'é😀\u2028' };
      const v = (id: string, value: Record<string, unknown>) => ({ id, source_tenant: 'acme', at: BATCH.at, value: { id, ...value } });
      assert.deepEqual(await d.write([v('a', { doc, note: 'line\nbreak "quoted" \\ back', n: '9223372036854775807', ok: false, x: 1e-7 }), v('b', { doc: [1, 2], note: null }), v('c', {})], BATCH), []);
      // The same rows again with a new one: written by the INSERT that skips stored keys.
      assert.deepEqual(await d.write([v('c', {}), v('d', {})], BATCH), []);
      assert.deepEqual(await t.db.query('select id, doc::text as doc, note, n::text as n, ok, x from bi.documents order by 1'), [
        { id: 'a', doc: (await t.db.query<{ d: string }>('select $1::text::jsonb::text as d', [JSON.stringify(doc)]))[0].d, note: 'line\nbreak "quoted" \\ back', n: '9223372036854775807', ok: false, x: 1e-7 },
        { id: 'b', doc: '[1, 2]', note: null, n: null, ok: null, x: null },
        // A jsonb column without a value holds JSON null, whichever statement wrote the row.
        { id: 'c', doc: 'null', note: null, n: null, ok: null, x: null },
        { id: 'd', doc: 'null', note: null, n: null, ok: null, x: null },
      ]);
      assert.deepEqual(JSON.parse((await t.db.query<{ d: string }>("select doc::text as d from bi.documents where id = 'a'"))[0].d), doc);
    });

    it('a redelivered batch with new rows among stored ones adds just the new, keeping the stored as they were', async () => {
      const d = createTableDestination(
        { type: 'table', table: 'events_kept', columns: { id: 'text', n: 'integer' }, primary_key: ['id'] },
        { db: t.db },
      );
      await d.open!();
      const v = (id: string, n: number) => ({ id, source_tenant: 'acme', at: BATCH.at, value: { id, n } });
      assert.deepEqual(await d.write([v('a', 1), v('b', 2)], BATCH), []);
      assert.deepEqual(await d.write([v('c', 3), v('a', 10), v('d', 4), v('b', 20)], BATCH), []);
      assert.deepEqual(await t.db.query('select id, n from bi.events_kept order by 1'), [
        { id: 'a', n: 1 },
        { id: 'b', n: 2 },
        { id: 'c', n: 3 },
        { id: 'd', n: 4 },
      ]);
    });

    it('on_conflict update replaces the row with the latest one', async () => {
      const users = createTableDestination({ type: 'table', table: 'users', columns: { user_id: 'text', country: 'text', plan: 'text' }, primary_key: ['user_id'], on_conflict: 'update' }, { db: t.db });
      await users.open!();
      const u = (id: string, country: string, plan: string) => ({ id: `u-${id}-${plan}`, source_tenant: 'acme', at: BATCH.at, value: { user_id: id, country, plan } });
      await users.write([u('a', 'DE', 'free'), u('b', 'FR', 'free')], BATCH);
      await users.write([u('a', 'DE', 'pro'), u('a', 'AT', 'team')], BATCH);
      assert.deepEqual(await t.db.query('select user_id, country, plan from bi.users order by 1'), [
        { user_id: 'a', country: 'AT', plan: 'team' },
        { user_id: 'b', country: 'FR', plan: 'free' },
      ]);
    });

    it("indexes subject columns with a btree on the pseudonym's hash, replacing the indexes of earlier versions", async () => {
      await t.db.query('create index transactions_user_id_idx on bi.transactions (user_id)');
      await t.db.query('create index transactions_user_id_hash on bi.transactions using hash (user_id)');
      const d = createTableDestination(TRANSACTIONS, { db: t.db });
      const plan = await d.plan();
      assert.deepEqual(plan.statements.slice(-2), ['drop index bi."transactions_user_id_hash"', 'drop index bi."transactions_user_id_idx"']);
      await d.open!();
      const defs = await t.db.query<{ def: string }>("select indexdef as def from pg_indexes where schemaname = 'bi' and tablename = 'transactions' and indexdef like '%user_id%'");
      assert.deepEqual(defs.map((r) => r.def), ['CREATE INDEX transactions_user_id_key ON bi.transactions USING btree (hashtextextended(user_id, (0)::bigint))']);
      assert.deepEqual((await d.plan()).statements.filter((x) => x.startsWith('drop')), [], 'once replaced, nothing to drop');
    });

    it('adds columns and widens types as the config changes, keeping the rows', async () => {
      const wider = { ...TRANSACTIONS, columns: { ...TRANSACTIONS.columns, amount: 'numeric(14,2)', quantity: { type: 'bigint', from: '$.items.count' }, country: 'text' } };
      const d = createTableDestination(wider, { db: t.db });
      const plan = await d.plan();
      assert.deepEqual(plan.problems, []);
      assert.equal(plan.statements.length, 4, 'two widenings, one new column, and the subject index kept');
      assert.match(plan.statements[3], /create index if not exists "transactions_user_id_key" on bi."transactions" \(hashtextextended\("user_id"::text, 0\)\)/);
      await d.open!();
      assert.deepEqual(await d.write([tx('t10', 123456789012.5, { country: 'DE' })], BATCH), []);
      const types = await t.db.query<{ name: string; type: string }>(
        "select column_name as name, data_type || coalesce('(' || numeric_precision || ')', '') as type from information_schema.columns where table_schema = 'bi' and table_name = 'transactions' and column_name in ('amount', 'quantity', 'country') order by 1",
      );
      assert.deepEqual(types, [
        { name: 'amount', type: 'numeric(14)' },
        { name: 'country', type: 'text' },
        { name: 'quantity', type: 'bigint(64)' },
      ]);
      assert.equal((await rows()).length, 6);
    });

    it('refuses a narrowing or a new key with the column and the reason, changing nothing', async () => {
      const narrower = { ...TRANSACTIONS, columns: { ...TRANSACTIONS.columns, amount: 'integer', created_at: 'date', store: 'text' }, primary_key: ['transaction_id', 'store'] };
      const d = createTableDestination(narrower, { db: t.db });
      const { problems } = await d.plan();
      assert.deepEqual(problems, [
        'table transactions, column amount: cannot change numeric(14,2) to integer: changing numeric(14,2) to integer is not a widening Sluice can apply safely; add a new column instead',
        'table transactions, column created_at: cannot change timestamptz to date: changing timestamptz to date is not a widening Sluice can apply safely; add a new column instead',
        'table transactions, column quantity: cannot change bigint to integer: changing bigint to integer is not a widening Sluice can apply safely; add a new column instead',
        'table transactions, column store: a new column cannot join the primary key of an existing table',
        'table transactions: the primary key is (transaction_id) and the config says (transaction_id, store); a primary key cannot change in place',
      ]);
      await assert.rejects(d.open!(), /column amount: cannot change/);
      const cols = await t.db.query<{ n: number }>("select count(*)::int as n from information_schema.columns where table_schema = 'bi' and table_name = 'transactions' and column_name = 'store'");
      assert.equal(cols[0].n, 0);
    });
  });
}
