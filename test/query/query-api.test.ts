// POST /v1/query on PGlite and PostgreSQL: aggregates checked against a computation in the test,
// rollups and points agreeing, combined queries, the cache, and tenants trying to cross through
// every door (query body, filters, group by, batch queries, the cache).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MetricsStore } from '../../src/destinations/metrics/metrics-store.ts';
import type { MetricPoint } from '../../src/destinations/metrics/metric-point.ts';
import { STORES, findings, findingsConfig, postJson, startTestSluice, type TestSluice } from '../support/test-sluice.ts';

const HOUR = 3_600_000;
const TENANTS = ['acme', 'globex', 'initech'];

/** A deterministic pseudo-random sequence (the same data every run). */
function rng(seed: number): () => number {
  return () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31);
}

function percentile(values: number[], q: number): number {
  const s = [...values].sort((a, b) => a - b);
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (pos - lo);
}

for (const store of STORES) {
  describe(`query API on ${store}`, () => {
    let s: TestSluice;
    const keys: Record<string, { read: string; ingest: string }> = {};
    let admin: string;
    const points: MetricPoint[] = [];
    const start = Math.floor(Date.now() / HOUR) * HOUR - 48 * HOUR;

    before(async () => {
      const config = findingsConfig();
      config.streams!.metrics.destination = { type: 'metrics', rollup_dimensions: ['plan'] };
      s = await startTestSluice(store, config);
      for (const t of TENANTS) keys[t] = { read: (await s.keys.create(t, 'read')).key, ingest: (await s.keys.create(t, 'ingest')).key };
      admin = (await s.keys.create('*', 'admin')).key;
      const r = rng(7);
      for (const [ti, t] of TENANTS.entries()) {
        for (let i = 0; i < 600 * (ti + 1); i++) {
          const time = new Date(start + Math.floor(r() * 48 * HOUR)).toISOString();
          points.push({ tenant: t, metric: 'findings_upload_completed', time, record_id: `e:${t}-${i}`, dimensions: { plan: r() < 0.3 ? 'pro' : 'free', tenant_name: t.toUpperCase() }, measures: { new_findings_count: Math.floor(r() * 20) } });
        }
      }
      await new MetricsStore(s.db, { rollupDimensions: ['plan'] }).write(points);
    });
    after(() => s.close());

    const query = (key: string, body: unknown) => postJson(`${s.url}/v1/query`, key, body);

    function expected(tenant: string, from: number, to: number, step: number, filter?: (p: MetricPoint) => boolean) {
      const n = Math.ceil((to - from) / step);
      const buckets: number[][] = Array.from({ length: n }, () => []);
      for (const p of points) {
        const t = Date.parse(p.time);
        if (p.tenant !== tenant || t < from || t >= to || (filter && !filter(p))) continue;
        buckets[Math.floor((t - from) / step)].push(p.measures.new_findings_count);
      }
      return buckets;
    }

    it('answers count, sum, avg, min, max per hour from the rollups, as computed from the points', async () => {
      const from = start + 6 * HOUR;
      const to = start + 30 * HOUR;
      const res = await query(keys.acme.read, { metric: 'findings_upload_completed', from: new Date(from).toISOString(), to: new Date(to).toISOString(), step: '1h', aggregations: ['count', 'sum:new_findings_count', 'avg:new_findings_count', 'min:new_findings_count', 'max:new_findings_count'] });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const [result] = res.body.results;
      assert.equal(result.source, 'rollups');
      assert.equal(result.series.length, 1);
      const v = result.series[0].values;
      const exp = expected('acme', from, to, HOUR);
      assert.equal(result.series[0].time.length, 24);
      assert.deepEqual(v.count, exp.map((b) => b.length));
      assert.deepEqual(v['sum:new_findings_count'], exp.map((b) => (b.length ? b.reduce((a, x) => a + x, 0) : null)));
      assert.deepEqual(v['min:new_findings_count'], exp.map((b) => (b.length ? Math.min(...b) : null)));
      assert.deepEqual(v['max:new_findings_count'], exp.map((b) => (b.length ? Math.max(...b) : null)));
      v['avg:new_findings_count'].forEach((a: number | null, i: number) => {
        const b = exp[i];
        if (!b.length) assert.equal(a, null);
        else assert.ok(Math.abs(a! - b.reduce((x, y) => x + y, 0) / b.length) < 1e-9);
      });
    });

    it('answers percentiles and unaligned ranges from the points, agreeing with the rollups on counts', async () => {
      const from = start + 6 * HOUR + 17 * 60_000;
      const to = from + 12 * HOUR;
      const res = await query(keys.globex.read, { metric: 'findings_upload_completed', from: new Date(from).toISOString(), to: new Date(to).toISOString(), step: '3h', aggregations: ['count', 'p50:new_findings_count', 'p90:new_findings_count', 'p99:new_findings_count'] });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const [result] = res.body.results;
      assert.equal(result.source, 'points');
      const exp = expected('globex', from, to, 3 * HOUR);
      assert.deepEqual(result.series[0].values.count, exp.map((b) => b.length));
      for (const [name, q] of [['p50', 0.5], ['p90', 0.9], ['p99', 0.99]] as const) {
        result.series[0].values[`${name}:new_findings_count`].forEach((x: number, i: number) => assert.ok(Math.abs(x - percentile(exp[i], q)) < 1e-9, `${name} bucket ${i}`));
      }
    });

    it('snaps a relative range to whole steps, so the rollups answer it, and takes instants as given', async () => {
      const asked = Date.now();
      const res = await query(keys.acme.read, { metric: 'findings_upload_completed', from: 'now-30h', step: '1h', aggregations: ['count', 'sum:new_findings_count'] });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const [result] = res.body.results;
      const from = Date.parse(result.from);
      const to = Date.parse(result.to);
      assert.equal(from % HOUR, 0, `from ${result.from} is on the hour`);
      assert.equal(to % HOUR, 0, `to ${result.to} is on the hour`);
      // The hour holding now-30h is the first bucket; the hour holding now is the last.
      assert.ok(from <= asked - 30 * HOUR && from > asked - 31 * HOUR - 60_000, result.from);
      assert.ok(to > asked && to <= Date.now() + HOUR, result.to);
      assert.equal(result.source, 'rollups');
      assert.ok(result.series[0].time.every((t: string) => Date.parse(t) % HOUR === 0));
      const exp = expected('acme', from, to, HOUR);
      assert.deepEqual(result.series[0].values.count, exp.map((b) => b.length));
      assert.deepEqual(result.series[0].values['sum:new_findings_count'], exp.map((b) => (b.length ? b.reduce((a, x) => a + x, 0) : null)));
      // A day step starts at midnight UTC; an instant stays where it was put.
      const days = await query(keys.acme.read, { metric: 'findings_upload_completed', from: 'now-2d', step: '1d' });
      assert.equal(Date.parse(days.body.results[0].from) % (24 * HOUR), 0);
      const exact = new Date(asked - 30 * HOUR).toISOString();
      const given = await query(keys.acme.read, { metric: 'findings_upload_completed', from: exact, step: '1h' });
      assert.equal(given.body.results[0].from, exact);
      assert.equal(given.body.results[0].source, 'points');
    });

    it('groups by and filters on dimensions', async () => {
      const from = start;
      const to = start + 48 * HOUR;
      const res = await query(keys.initech.read, { metric: 'findings_upload_completed', from: new Date(from).toISOString(), to: new Date(to).toISOString(), step: '1d', aggregations: ['count'], group_by: ['plan'], filters: { plan: ['pro', 'free'] } });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.results[0].source, 'rollups', 'plan is a rollup dimension');
      const series = res.body.results[0].series;
      assert.deepEqual(series.map((x: { group: { plan: string } }) => x.group.plan).sort(), ['free', 'pro']);
      for (const x of series) {
        assert.deepEqual(x.values.count, expected('initech', from, to, 24 * HOUR, (p) => p.dimensions.plan === x.group.plan).map((b) => b.length));
      }
      const pro = await query(keys.initech.read, { metric: 'findings_upload_completed', from: new Date(from).toISOString(), to: new Date(to).toISOString(), step: '1d', filters: { plan: 'pro' } });
      assert.deepEqual(pro.body.results[0].series[0].values.count, expected('initech', from, to, 24 * HOUR, (p) => p.dimensions.plan === 'pro').map((b) => b.length));
    });

    it('groups by a dimension the rollups do not keep from the points, with the same answer', async () => {
      const from = start;
      const to = start + 48 * HOUR;
      const res = await query(admin, { tenant: 'initech', metric: 'findings_upload_completed', from: new Date(from).toISOString(), to: new Date(to).toISOString(), step: '1d', aggregations: ['count'], group_by: ['tenant_name', 'plan'] });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.results[0].source, 'points');
      const series = res.body.results[0].series;
      assert.deepEqual(series.map((x: { group: { tenant_name: string } }) => x.group.tenant_name), ['INITECH', 'INITECH']);
      for (const x of series) {
        assert.deepEqual(x.values.count, expected('initech', from, to, 24 * HOUR, (p) => p.dimensions.plan === x.group.plan).map((b) => b.length));
      }
    });

    it('answers several queries in one request, in order', async () => {
      const body = { queries: [
        { metric: 'findings_upload_completed', from: new Date(start).toISOString(), to: new Date(start + 48 * HOUR).toISOString(), step: '1d', aggregations: ['count'] },
        { metric: 'no_such_metric', from: new Date(start).toISOString(), to: new Date(start + 48 * HOUR).toISOString(), step: '1d', aggregations: ['count'] },
      ] };
      const res = await query(keys.acme.read, body);
      assert.equal(res.status, 200);
      assert.equal(res.body.results.length, 2);
      assert.equal(res.body.results[0].series[0].values.count.reduce((a: number, b: number) => a + b, 0), 600);
      assert.deepEqual(res.body.results[1].series, []);
    });

    describe('a read key never sees another tenant', () => {
      const range = () => ({ from: new Date(start).toISOString(), to: new Date(start + 48 * HOUR).toISOString(), step: '1d' });
      const total = (r: { series: Array<{ values: { count: number[] } }> }) => r.series.reduce((a, x) => a + x.values.count.reduce((p, q) => p + q, 0), 0);

      it('naming another tenant in the query body is refused', async () => {
        const res = await query(keys.acme.read, { metric: 'findings_upload_completed', tenant: 'globex', ...range() });
        assert.equal(res.status, 403);
        assert.equal(res.body.error.code, 'forbidden_tenant');
      });

      it('a batch that mixes in another tenant is refused whole', async () => {
        const res = await query(keys.acme.read, { queries: [{ metric: 'findings_upload_completed', ...range() }, { metric: 'findings_upload_completed', tenant: 'initech', ...range() }] });
        assert.equal(res.status, 403);
        assert.equal(res.body.results, undefined);
      });

      it('filters and group by on tenant-like dimensions only ever see the own tenant', async () => {
        const byName = await query(keys.acme.read, { metric: 'findings_upload_completed', ...range(), group_by: ['tenant_name', 'tenant'] });
        assert.deepEqual(byName.body.results[0].series.map((x: { group: Record<string, string | null> }) => x.group), [{ tenant_name: 'ACME', tenant: null }]);
        // The record's tenant_id is the point's tenant, not a dimension: naming it is refused.
        const byTenantId = await query(keys.acme.read, { metric: 'findings_upload_completed', ...range(), group_by: ['tenant_name', 'tenant_id'] });
        assert.equal(byTenantId.status, 400);
        assert.equal(byTenantId.body.error.code, 'invalid_query');
        assert.match(byTenantId.body.error.message, /^query\.group_by\[1\]: "tenant_id" is not a dimension/);
        const filteredById = await query(keys.acme.read, { metric: 'findings_upload_completed', ...range(), filters: { tenant_id: 'globex' } });
        assert.equal(filteredById.status, 400);
        assert.match(filteredById.body.error.message, /^query\.filters\.tenant_id: "tenant_id" is not a dimension/);
        const filtered = await query(keys.acme.read, { metric: 'findings_upload_completed', ...range(), filters: { tenant_name: 'GLOBEX' } });
        assert.deepEqual(filtered.body.results[0].series, []);
        const injected = await query(keys.acme.read, { metric: 'findings_upload_completed', ...range(), filters: { "plan' or '1'='1": 'x' } });
        assert.equal(injected.status, 400);
      });

      it('the cache answers each tenant with its own data', async () => {
        const body = { metric: 'findings_upload_completed', ...range(), aggregations: ['count'] };
        const counts: Record<string, number> = {};
        for (let round = 0; round < 2; round++) {
          for (const t of TENANTS) {
            const res = await query(keys[t].read, body);
            counts[`${t}${round}`] = total(res.body.results[0]);
          }
        }
        assert.deepEqual(counts, { acme0: 600, globex0: 1200, initech0: 1800, acme1: 600, globex1: 1200, initech1: 1800 });
      });

      it('an admin key queries any tenant it names, and must name one', async () => {
        const res = await query(admin, { queries: [{ metric: 'findings_upload_completed', tenant: 'globex', ...range() }, { metric: 'findings_upload_completed', tenant: 'acme', ...range() }] });
        assert.equal(res.status, 200);
        assert.deepEqual(res.body.results.map(total), [1200, 600]);
        const unnamed = await query(admin, { metric: 'findings_upload_completed', ...range() });
        assert.equal(unnamed.status, 400);
        assert.match(unnamed.body.error.message, /^query\.tenant: /);
        const inBatch = await query(admin, { queries: [{ metric: 'findings_upload_completed', tenant: 'acme', ...range() }, { metric: 'findings_upload_completed', ...range() }] });
        assert.equal(inBatch.status, 400);
        assert.match(inBatch.body.error.message, /^queries\[1\]\.tenant: /);
      });

      it('ingest keys and unknown keys cannot query', async () => {
        assert.equal((await query(keys.acme.ingest, { metric: 'findings_upload_completed', ...range() })).status, 403);
        assert.equal((await query('sl_read_AAAAAAAAAAAAAAAA_xxxxxxxxxxxxxxxxxxxxxxxxxx', { metric: 'findings_upload_completed', ...range() })).status, 401);
      });
    });

    it('serves a repeated query from the cache until new points arrive for that tenant and metric', async () => {
      const from = Math.floor(Date.now() / HOUR) * HOUR - HOUR;
      const body = { metric: 'findings_upload_completed', from: new Date(from).toISOString(), to: new Date(from + 3 * HOUR).toISOString(), step: '1h', aggregations: ['count'] };
      const sum = async () => (await query(keys.acme.read, body)).body.results[0].series.reduce((a: number, x: { values: { count: number[] } }) => a + x.values.count.reduce((p, q) => p + q, 0), 0);
      const before = await sum();
      assert.equal(await sum(), before);
      const sent = await postJson(`${s.url}/v1/events`, keys.acme.ingest, [findings('acme', 'cache-1', new Date(), 3), findings('acme', 'cache-2', new Date(), 4)]);
      assert.equal(sent.status, 200, JSON.stringify(sent.body));
      await s.pipeline.whenIdle();
      assert.equal(await sum(), before + 2);
    });

    it('explains a bad query with its path and what is allowed', async () => {
      const cases: Array<[unknown, RegExp]> = [
        [{ metric: 'm', from: 'yesterday' }, /query\.from: expected an ISO 8601 time/],
        [{ metric: 'm', from: 'now-1d', step: '1w' }, /query\.step: expected a duration/],
        [{ metric: 'm', from: 'now-365d', step: '1m' }, /more than 10000 steps/],
        [{ metric: 'm', from: 'now-1d', aggregations: ['median:x'] }, /query\.aggregations\[0\]: expected "count" or/],
        [{ metric: 'm', from: 'now-1d', colour: 1 }, /query\.colour: unknown field/],
        [{ queries: [] }, /queries: expected 1 to 20 queries/],
      ];
      for (const [body, message] of cases) {
        const res = await query(keys.acme.read, body);
        assert.equal(res.status, 400, JSON.stringify(body));
        assert.equal(res.body.error.code, 'invalid_query');
        assert.match(res.body.error.message, message);
      }
      const bad = await query(keys.acme.read, '{"metric": ');
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.code, 'malformed_json');
    });
  });
}
