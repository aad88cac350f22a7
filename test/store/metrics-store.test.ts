// The metrics store on PGlite and on PostgreSQL: idempotent writes, rollups counting only new
// points, day partitions and retention, and row-level security as a second wall.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MetricsStore } from '../../src/destinations/metrics/metrics-store.ts';
import type { MetricPoint } from '../../src/destinations/metrics/metric-point.ts';
import { TENANT_ROLE } from '../../src/store/migrations.ts';
import { VARIANTS, type TestDatabase } from '../support/databases.ts';

const DAY = 86_400_000;
const point = (tenant: string, id: string, time: string, n: number, dims: Record<string, string> = {}): MetricPoint => ({
  tenant,
  metric: 'uploads',
  time,
  record_id: id,
  dimensions: dims,
  measures: { n },
});

for (const variant of VARIANTS) {
  describe(`metrics store on ${variant.name}`, () => {
    let t: TestDatabase;
    let store: MetricsStore;
    before(async () => {
      t = await variant.open();
      store = new MetricsStore(t.db, { rollupDimensions: ['plan'] });
      await store.prepare();
    });
    after(() => t.drop());

    it('stores a point once however often its record id is written', async () => {
      const p = point('acme', 'e:1', '2026-11-20T10:15:00Z', 5);
      assert.equal(await store.write([p, p]), 1);
      assert.equal(await store.write([p]), 0);
      const rows = await t.db.query<{ n: number }>("select count(*)::int as n from sluice.metric_points where tenant = 'acme'");
      assert.equal(rows[0].n, 1);
    });

    it('the same record id in another tenant or metric is another point', async () => {
      assert.equal(await store.write([point('globex', 'e:1', '2026-11-20T10:15:00Z', 5), { ...point('acme', 'e:1', '2026-11-20T10:15:00Z', 5), metric: 'other' }]), 2);
      // In one batch, each repeated: the first point with the id, and two others with its id.
      const [a, b, c] = [point('umbrella', 'e:2', '2026-11-20T10:15:00Z', 1), point('umbrella', 'e:2', '2026-11-20T10:16:00Z', 2), point('hooli', 'e:2', '2026-11-20T10:15:00Z', 3)];
      assert.equal(await store.write([a, b, c, b, a, c, b]), 3);
    });

    const rollupsOf = async (tenant: string) =>
      (
        await t.db.query<{ bucket: string; dims: string; measure: string; count: number; sum: number; min: number; max: number }>(
          `select to_char(bucket at time zone 'UTC', 'HH24') as bucket, dimensions::text as dims, measure, count::int as count, sum, min, max
             from sluice.metric_rollups where tenant = $1 order by 1, 2, 3`,
          [tenant],
        )
      ).map((r) => [r.bucket, r.dims, r.measure, r.count, r.sum, r.min, r.max]);
    const PER_PLAN = [
      ['11', '{"plan": "free"}', '', 1, 0, null, null],
      ['11', '{"plan": "free"}', 'n', 1, 10, 10, 10],
      ['11', '{"plan": "pro"}', '', 3, 0, null, null],
      ['11', '{"plan": "pro"}', 'n', 3, 8, 1, 4],
      ['12', '{"plan": "pro"}', '', 1, 0, null, null],
      ['12', '{"plan": "pro"}', 'n', 1, 2, 2, 2],
    ];

    it('loads awkward text exactly: tabs, newlines, backslashes, quotes and what looks like COPY markers', async () => {
      const awkward = ['tab\there', 'line\nbreak\r', 'back\\slash', '\\N', '\\.', '"quoted"', 'é😀'];
      const points = awkward.map((v, i) => ({ ...point(`odd ${v}`, `e:${v}`, '2026-11-20T09:00:00Z', i, { plan: v, [v]: 'key' }), metric: `m ${v}` }));
      assert.equal(await store.write(points), awkward.length);
      assert.equal(await store.write(points), 0);
      const rows = await t.db.query<{ tenant: string; metric: string; record_id: string; dimensions: Record<string, string>; measures: Record<string, number> }>(
        "select tenant, metric, record_id, dimensions, measures from sluice.metric_points where tenant like 'odd %'",
      );
      const stored = new Map(rows.map((r) => [r.record_id, r]));
      for (const p of points) {
        const r = stored.get(p.record_id);
        assert.ok(r, `point ${JSON.stringify(p.record_id)} stored`);
        assert.deepEqual([r.tenant, r.metric, r.dimensions, r.measures], [p.tenant, p.metric, p.dimensions, p.measures]);
      }
    });

    it('two writers of the same points at once, in opposite orders, store each once and count it once', async () => {
      const points = Array.from({ length: 2500 }, (_, i) => point('massive', `e:${i}`, `2026-11-20T13:${String(i % 60).padStart(2, '0')}:00Z`, 1, { plan: i % 2 ? 'pro' : 'free' }));
      const [a, b] = await Promise.all([store.write(points), store.write([...points].reverse())]);
      assert.equal(a + b, points.length);
      const [r] = await t.db.query<{ n: number; c: number }>(
        "select (select count(*)::int from sluice.metric_points where tenant = 'massive') as n, (select sum(count)::int from sluice.metric_rollups where tenant = 'massive' and measure = '') as c",
      );
      assert.deepEqual(r, { n: points.length, c: points.length });
    });

    it('hourly rollups count exactly the points inserted, per value of the rollup dimensions only', async () => {
      await store.write([
        point('initech', 'a', '2026-11-20T11:05:00Z', 1, { plan: 'pro', user: 'u1' }),
        point('initech', 'b', '2026-11-20T11:55:00Z', 4, { plan: 'pro', user: 'u2' }),
        point('initech', 'c', '2026-11-20T11:30:00Z', 10, { plan: 'free', user: 'u3' }),
        point('initech', 'd', '2026-11-20T12:00:00Z', 2, { plan: 'pro', user: 'u4' }),
      ]);
      // A redelivered batch with one new point, and a point repeated within the batch.
      const e = point('initech', 'e', '2026-11-20T11:10:00Z', 3, { plan: 'pro', user: 'u5' });
      await store.write([point('initech', 'a', '2026-11-20T11:05:00Z', 1, { plan: 'pro', user: 'u1' }), e, e]);
      assert.deepEqual(await rollupsOf('initech'), PER_PLAN);
    });

    it('rebuilds the rollups from the points when the rollup dimensions change, and only then', async () => {
      const byNothing = new MetricsStore(t.db);
      assert.equal(await byNothing.prepare(), true);
      assert.deepEqual(await rollupsOf('initech'), [
        ['11', '{}', '', 4, 0, null, null],
        ['11', '{}', 'n', 4, 18, 1, 10],
        ['12', '{}', '', 1, 0, null, null],
        ['12', '{}', 'n', 1, 2, 2, 2],
      ]);
      assert.equal(await byNothing.prepare(), false, 'the same set again changes nothing');
      assert.equal(await store.prepare(), true);
      assert.deepEqual(await rollupsOf('initech'), PER_PLAN);
    });

    it("indexes subject dimensions with a btree on the pseudonym's hash, replacing the indexes of earlier versions", async () => {
      await t.db.query("create index metric_points_subject_user_id on sluice.metric_points ((dimensions->>'user_id'))");
      await t.db.query("create index metric_points_hash_user_id on sluice.metric_points using hash ((dimensions->>'user_id'))");
      await new MetricsStore(t.db, { rollupDimensions: ['plan'], subjectDimensions: ['user_id'] }).prepare();
      const defs = await t.db.query<{ def: string }>("select indexdef as def from pg_indexes where schemaname = 'sluice' and tablename = 'metric_points' and indexdef like '%user_id%'");
      assert.deepEqual(defs.map((r) => r.def), [`CREATE INDEX metric_points_key_user_id ON ONLY sluice.metric_points USING btree (hashtextextended((dimensions ->> 'user_id'::text), (0)::bigint))`]);
    });

    it('keeps points in day partitions and drops whole days past retention', async () => {
      const now = Date.parse('2026-11-21T12:00:00Z');
      await store.write([point('acme', 'old', new Date(now - 10 * DAY).toISOString(), 1), point('acme', 'new', new Date(now - DAY).toISOString(), 1)]);
      const parts = await t.db.query<{ name: string }>(
        "select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid join pg_class p on p.oid = i.inhparent where p.relname = 'metric_points' order by 1",
      );
      assert.ok(parts.some((p) => p.name === 'metric_points_20261111'), JSON.stringify(parts));
      const dropped = await store.applyRetention(5, now);
      assert.deepEqual(dropped, ['2026-11-11']);
      const ids = await t.db.query<{ record_id: string }>("select record_id from sluice.metric_points where tenant = 'acme' and record_id in ('old', 'new')");
      assert.deepEqual(ids.map((r) => r.record_id), ['new']);
      const oldRollups = await t.db.query<{ n: number }>("select count(*)::int as n from sluice.metric_rollups where bucket < '2026-11-16'");
      assert.equal(oldRollups[0].n, 0);
      // Writing to a dropped day recreates its partition.
      assert.equal(await store.write([point('acme', 'old2', new Date(now - 10 * DAY).toISOString(), 1)]), 1);
    });

    it('row-level security shows the tenant role only the current tenant, even without a WHERE', async () => {
      const seen = await t.db.transaction(async (tx) => {
        await tx.query(`set local role ${TENANT_ROLE}`);
        await tx.query("select set_config('sluice.tenant', 'globex', true)");
        const points = await tx.query<{ tenant: string }>('select distinct tenant from sluice.metric_points');
        const rollups = await tx.query<{ tenant: string }>('select distinct tenant from sluice.metric_rollups');
        return [...points, ...rollups].map((r) => r.tenant);
      });
      assert.ok(seen.length > 0);
      assert.deepEqual([...new Set(seen)], ['globex']);
      const none = await t.db.transaction(async (tx) => {
        await tx.query(`set local role ${TENANT_ROLE}`);
        return tx.query('select count(*)::int as n from sluice.metric_points');
      });
      assert.equal(none[0].n, 0, 'without a tenant setting the role sees nothing');
      await assert.rejects(
        t.db.transaction(async (tx) => {
          await tx.query(`set local role ${TENANT_ROLE}`);
          await tx.query('delete from sluice.metric_points');
        }),
        /permission denied/,
      );
    });
  });
}
