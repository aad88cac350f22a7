// GDPR erasure end to end, on PGlite and on PostgreSQL: events with known raw ids go through the
// metrics stream and a BI table, pseudonymized; an erasure (dry run first) deletes the subject's
// rows everywhere, recomputes the touched rollups, writes an audit without the raw id, is
// idempotent, and keeps the subject erased when its events are replayed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { SluiceConfig } from '../../src/config/config.ts';
import { columnText, dimensionText, subjectIn } from '../../src/store/subject-key.ts';
import { STORES, findingsConfig, postJson, startTestSluice, type TestSluice } from '../support/test-sluice.ts';

const KEYS_ENV = 'SLUICE_TEST_ERASURE_KEYS';
process.env[KEYS_ENV] = 'k2:second-secret-0123456789,k1:first-secret-0123456789';
const pseudonymize = { type: 'pseudonymize' as const, key: { env: KEYS_ENV }, fields: { 'metadata.user_id': 'hash' as const } };

function config(): SluiceConfig {
  const base = findingsConfig();
  const target = base.rules![0].targets[0];
  target.input_transformer!.input_paths_map!.u = '$.detail.user_id';
  target.input_transformer!.input_template = target.input_transformer!.input_template.replace('"event_time":<at>', '"event_time":<at>,"user_id":<u>');
  base.rules!.push({
    name: 'transactions',
    pattern: { source: ['shop'], 'detail-type': ['transaction'] },
    targets: [{ stream: 'transactions', input_transformer: { input_paths_map: { d: '$.detail' }, input_template: '{"metadata":<d>}' } }],
  });
  base.streams!.metrics.processors = [{ type: 'validate' }, pseudonymize];
  base.streams!.transactions = {
    buffer: { interval_seconds: 0 },
    processors: [pseudonymize],
    destination: {
      type: 'table',
      table: 'transactions',
      columns: { id: { type: 'text', from: '$.metadata.id' }, amount: { type: 'numeric(10,2)', from: '$.metadata.amount' }, user_id: { type: 'text', from: '$.metadata.user_id', subject: 'user_id' } },
      primary_key: ['id'],
    },
  };
  return base;
}

const HOUR = 3_600_000;
const at = new Date(Math.floor(Date.now() / HOUR) * HOUR - 2 * HOUR + 60_000).toISOString();
const finding = (id: string, user: string) => ({ source: 'findings', 'detail-type': 'findings-uploaded', time: at, detail: { tenant_id: 'acme', event_id: id, user_id: user, new_findings_count: 2, existing_findings_count: 1, created_at: at } });
const sale = (id: string, user: string, amount: number) => ({ source: 'shop', 'detail-type': 'transaction', time: at, detail: { id, user_id: user, amount } });

for (const store of STORES) {
  describe(`erasure on ${store}`, () => {
    let s: TestSluice;
    let ingest: string;
    let admin: string;
    before(async () => {
      s = await startTestSluice(store, config());
      ingest = (await s.keys.create('acme', 'ingest')).key;
      admin = (await s.keys.create('*', 'admin')).key;
    });
    after(() => s.close());

    const send = async (events: unknown[]) => {
      const res = await postJson(`${s.url}/v1/events`, ingest, events);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      await s.pipeline.whenIdle();
    };
    const counts = async () => {
      const [row] = await s.db.query<{ points: number; rows: number; rolled: number }>(
        `select (select count(*)::int from sluice.metric_points) as points, (select count(*)::int from bi.transactions) as rows,
                (select coalesce(sum(count), 0)::int from sluice.metric_rollups where measure = '') as rolled`,
      );
      return row;
    };
    const erase = (body: unknown, key = admin) => postJson(`${s.url}/v1/admin/erasures`, key, body);

    it('stores only pseudonyms of the raw ids', async () => {
      await send([finding('f1', 'alice@example.com'), finding('f2', 'alice@example.com'), finding('f3', 'bob@example.com'), sale('s1', 'alice@example.com', 10), sale('s2', 'bob@example.com', 20)]);
      assert.deepEqual(await counts(), { points: 3, rows: 2, rolled: 3 });
      const dump = JSON.stringify([...(await s.db.query("select * from bi.transactions")), ...(await s.db.query("select record_id, dimensions from sluice.metric_points"))]);
      assert.ok(!dump.includes('alice') && !dump.includes('bob'), dump);
    });

    it('a dry run counts without deleting; only an admin key may erase', async () => {
      const wrong = await erase({ subject: 'alice@example.com' }, ingest);
      assert.equal(wrong.status, 403);
      const bad = await erase({ subject: 'alice@example.com', field: 'user id' });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.code, 'invalid_request');
      // A field that holds no pseudonyms (a typo) would erase nothing and be audited as done.
      const typo = await erase({ subject: 'alice@example.com', field: 'userid', dry_run: true });
      assert.equal(typo.status, 400);
      assert.equal(typo.body.error.code, 'unknown_field');
      assert.match(typo.body.error.message, /^field "userid" holds no pseudonyms here; subject fields: user_id \(/);
      assert.ok(!JSON.stringify(typo.body).includes('alice'), 'the raw subject is not echoed');
      const dry = await erase({ subject: 'alice@example.com', dry_run: true });
      assert.equal(dry.status, 200, JSON.stringify(dry.body));
      assert.deepEqual(dry.body.counts, { 'bi.transactions': 1, metric_points: 2, stream_errors: 0, dead_letters: 0 });
      assert.equal(dry.body.pseudonyms.length, 2, 'one pseudonym per key of the ring');
      assert.deepEqual(await counts(), { points: 3, rows: 2, rolled: 3 });
    });

    it('a dimension an earlier config indexed stays erasable after the config stopped hashing it', async () => {
      await s.db.query('create index if not exists metric_points_key_email on sluice.metric_points (hashtextextended(dimensions->>\'email\', 0))');
      try {
        const res = await erase({ subject: 'carol@example.com', field: 'email', dry_run: true });
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.equal(res.body.counts.metric_points, 0);
      } finally {
        await s.db.query('drop index sluice.metric_points_key_email');
        await s.db.query("delete from sluice.erasures where field = 'email'"); // the next test counts the audit rows
      }
    });

    it('erases the subject everywhere, recomputes the rollups, audits without the raw id, and is idempotent', async () => {
      // A query answered (and cached) before the erasure is not served after it.
      const read = (await s.keys.create('acme', 'read')).key;
      const from = Math.floor(Date.parse(at) / HOUR) * HOUR;
      const query = { metric: 'findings_upload_completed', from: new Date(from).toISOString(), to: new Date(from + 2 * HOUR).toISOString(), step: '1h', aggregations: ['count'], group_by: ['user_id'] };
      const byUser = async () => {
        const q = await postJson(`${s.url}/v1/query`, read, query);
        assert.equal(q.status, 200, JSON.stringify(q.body));
        return (q.body.results[0].series as Array<{ group: { user_id: string }; values: { count: number[] } }>).map((g) => [g.group.user_id, g.values.count.reduce((a, b) => a + b, 0)]).sort();
      };
      const before = await byUser();
      assert.equal(before.length, 2);
      assert.deepEqual(before.map(([, n]) => n).sort(), [1, 2]);
      const res = await erase({ subject: 'alice@example.com' });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(res.body.counts, { 'bi.transactions': 1, metric_points: 2, stream_errors: 0, dead_letters: 0 });
      assert.deepEqual(await counts(), { points: 1, rows: 1, rolled: 1 });
      const after = await byUser();
      assert.deepEqual(after, before.filter(([, n]) => n === 1), "alice's group is gone at once, not when the cached answer expires");
      assert.ok(!res.body.pseudonyms.includes(after[0][0]));
      const again = await erase({ subject: 'alice@example.com' });
      assert.deepEqual(again.body.counts, { 'bi.transactions': 0, metric_points: 0, stream_errors: 0, dead_letters: 0 });
      const audit = await s.db.query<{ field: string; dry_run: boolean; pseudonyms: string[] }>('select field, dry_run, pseudonyms from sluice.erasures order by id');
      assert.deepEqual(audit.map((a) => [a.field, a.dry_run]), [['user_id', true], ['user_id', false], ['user_id', false]]);
      assert.ok(!JSON.stringify(audit).includes('alice'));
    });

    it("finds a subject's rows through the subject indexes, not by scanning", async () => {
      const plan = async (where: string, table: string) => {
        const rows = await s.db.transaction(async (tx) => {
          await tx.query('set local enable_seqscan = off');
          return tx.query<Record<string, string>>(`explain select 1 from ${table} where ${where}`, ['["k1:x"]']);
        });
        return rows.map((r) => Object.values(r)[0]).join('\n');
      };
      // The conditions the Eraser writes (erasure.ts) for a subject column and a hashed dimension.
      const table = await plan(subjectIn(columnText('"user_id"'), '$1'), 'bi.transactions');
      assert.match(table, /Index Scan (using|on) transactions_user_id_key [^\n]*\n\s+Index Cond: \(hashtextextended\(user_id, '0'::bigint\) = ANY/, table);
      const points = await plan(subjectIn(dimensionText('user_id'), '$1'), 'sluice.metric_points');
      assert.match(points, /Index Scan (using|on) metric_points\S+ [^\n]*\n\s+Index Cond: \(hashtextextended\(\(dimensions ->> 'user_id'::text\), '0'::bigint\) = ANY/, points);
      assert.doesNotMatch(`${table}\n${points}`, /Seq Scan on (transactions|metric_points)/);
    });

    it('an erased subject stays erased when its events are replayed; others still flow', async () => {
      await send([finding('f1', 'alice@example.com'), finding('f4', 'alice@example.com'), sale('s1', 'alice@example.com', 10), finding('f5', 'carol@example.com'), sale('s3', 'carol@example.com', 5)]);
      assert.deepEqual(await counts(), { points: 2, rows: 2, rolled: 2 });
    });

    it('several subjects in one request: each counted and audited on its own, in their order', async () => {
      await send([finding('m1', 'dave@example.com'), finding('m2', 'erin@example.com'), sale('m3', 'erin@example.com', 7)]);
      const before = await counts();
      for (const [body, message] of [
        [{ subjects: [] }, /^give 1 to 1000 subjects, got 0$/],
        [{ subjects: Array.from({ length: 1001 }, (_, i) => `s${i}`) }, /^give 1 to 1000 subjects, got 1001$/],
        [{ subjects: ['a', 7] }, /^subjects\[1\] must be a string$/],
        [{ subjects: ['a', ''] }, /^subjects\[1\] must be 1 to 1024 characters$/],
        [{ subject: 'a', subjects: ['b'] }, /^expected \{ "subject": string \} or \{ "subjects"/],
      ] as const) {
        const res = await erase(body);
        assert.equal(res.status, 400, JSON.stringify(body).slice(0, 80));
        assert.equal(res.body.error.code, 'invalid_request');
        assert.match(res.body.error.message, message);
      }
      assert.deepEqual(await counts(), before, 'a refused request erases nothing');
      const audits = (await s.db.query<{ n: number }>('select count(*)::int as n from sluice.erasures'))[0].n;
      const res = await erase({ subjects: ['erin@example.com', 'nobody@example.com', 'dave@example.com'] });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.deepEqual(
        res.body.erasures.map((e: { counts: Record<string, number> }) => e.counts),
        [
          { 'bi.transactions': 1, metric_points: 1, stream_errors: 0, dead_letters: 0 },
          { 'bi.transactions': 0, metric_points: 0, stream_errors: 0, dead_letters: 0 },
          { 'bi.transactions': 0, metric_points: 1, stream_errors: 0, dead_letters: 0 },
        ],
      );
      assert.deepEqual(await counts(), { points: before.points - 2, rows: before.rows - 1, rolled: before.rolled - 2 });
      const audit = await s.db.query<{ pseudonyms: string[] }>('select pseudonyms from sluice.erasures order by id offset $1', [audits]);
      assert.deepEqual(audit.map((a) => a.pseudonyms), res.body.erasures.map((e: { pseudonyms: string[] }) => e.pseudonyms), 'one audit row per subject');
      assert.ok(!JSON.stringify(res.body).includes('@example.com'), 'the raw subjects are not echoed');
    });
  });
}
