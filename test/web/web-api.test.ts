/**
 * The API behind the web UI and embedded charts: dashboards per tenant, the overview, the catalog,
 * and embed tokens — minted, signed by a customer (HS256 and EdDSA), expired, tampered, used from
 * an allowed and a refused origin, and used where they grant nothing. Every read path is tried
 * across tenants.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { SignJWT, importPKCS8 } from 'jose';
import { WebAssets } from '../../src/web/assets.ts';
import { findings, findingsConfig, postJson, startTestSluice, STORES, type TestSluice } from '../support/test-sluice.ts';

const SECRET = 'a-shared-embed-secret-of-at-least-32-bytes!';
const ed = generateKeyPairSync('ed25519');
process.env.SLUICE_TEST_EMBED_SECRET = SECRET;
process.env.SLUICE_TEST_EMBED_PUBLIC = ed.publicKey.export({ type: 'spki', format: 'pem' }).toString();

// Test answers are read field by field; their shapes are asserted, not typed.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function call(method: string, url: string, key: string | null, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(url, {
    method,
    headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null, headers: res.headers };
}

async function until<T>(f: () => Promise<T | null>, what: string): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const v = await f();
    if (v !== null) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const chart = (over: Record<string, unknown> = {}) => ({ title: 'New findings', metric: 'findings_upload_completed', aggregation: 'sum:new_findings_count', type: 'area', unit: 'findings', ...over });

describe('the embed bundle', () => {
  it('stays within 60 KB gzip, uPlot included', async () => {
    const js = await new WebAssets().get('embed.js');
    assert.ok(js.gzip.length <= 60_000, `embed.js is ${js.gzip.length} bytes gzip`);
    assert.ok(js.body.length > 20_000, 'the bundle has uPlot in it');
  });
});

for (const store of STORES) {
  describe(`web API (${store})`, () => {
    let s: TestSluice;
    const k: Record<string, string> = {};
    const at = new Date(Date.now() - 10 * 60_000);

    before(async () => {
      s = await startTestSluice(store, findingsConfig({ embed: { secret: { env: 'SLUICE_TEST_EMBED_SECRET' }, public_keys: [{ env: 'SLUICE_TEST_EMBED_PUBLIC' }] } }));
      k.admin = (await s.keys.create('*', 'admin')).key;
      for (const t of ['acme', 'globex']) {
        k[`${t}Ingest`] = (await s.keys.create(t, 'ingest')).key;
        k[`${t}Read`] = (await s.keys.create(t, 'read')).key;
      }
      // acme: 3 uploads with 5 new findings each; globex: 2 with 100 each.
      const a = await postJson(`${s.url}/v1/events`, k.acmeIngest, [1, 2, 3].map((i) => findings('acme', `a${i}`, at, 5)));
      const g = await postJson(`${s.url}/v1/events`, k.globexIngest, [1, 2].map((i) => findings('globex', `g${i}`, at, 100)));
      assert.equal(a.status, 200);
      assert.equal(g.status, 200);
      await until(async () => {
        const r = await call('POST', `${s.url}/v1/query`, k.globexRead, { metric: 'findings_upload_completed', from: 'now-1h', step: '1h' });
        return r.body.results?.[0]?.series?.[0]?.values.count.reduce((x: number, y: number) => x + y, 0) === 2 ? true : null;
      }, 'delivery');
    });
    after(() => s.close());

    describe('dashboards', () => {
      it('an admin creates, lists, edits, reorders and deletes a tenant’s dashboards; a read key sees only its own', async () => {
        const created = await call('POST', `${s.url}/v1/dashboards`, k.admin, { tenant: 'acme', name: 'Findings', charts: [chart(), chart({ title: 'Uploads', aggregation: 'count', type: 'line', unit: 'uploads' })] });
        assert.equal(created.status, 201);
        const d = created.body;
        assert.equal(d.tenant, 'acme');
        assert.equal(d.version, 1);
        assert.deepEqual(d.charts.map((c: { title: string }) => c.title), ['New findings', 'Uploads']);
        assert.ok(d.charts.every((c: { id: string }) => typeof c.id === 'string' && c.id.length > 0));

        // Reorder: the same charts in the other order, one write.
        const reordered = await call('PUT', `${s.url}/v1/dashboards/${d.id}`, k.admin, { tenant: 'acme', name: 'Findings', charts: [d.charts[1], d.charts[0]], version: 1 });
        assert.equal(reordered.status, 200);
        assert.deepEqual(reordered.body.charts.map((c: { id: string }) => c.id), [d.charts[1].id, d.charts[0].id]);
        assert.equal(reordered.body.version, 2);
        // An editor still on version 1 is told, not overwritten.
        const stale = await call('PUT', `${s.url}/v1/dashboards/${d.id}`, k.admin, { tenant: 'acme', name: 'Stale', charts: [], version: 1 });
        assert.equal(stale.status, 409);
        assert.equal(stale.body.error.code, 'version_conflict');

        const own = await call('GET', `${s.url}/v1/dashboards`, k.acmeRead);
        assert.equal(own.status, 200);
        assert.deepEqual(own.body.dashboards.map((x: { id: string }) => x.id), [d.id]);
        assert.equal((await call('GET', `${s.url}/v1/dashboards/${d.id}`, k.acmeRead)).body.name, 'Findings');

        // Crossing: globex's read key neither lists nor reads acme's dashboard, nor writes.
        assert.deepEqual((await call('GET', `${s.url}/v1/dashboards`, k.globexRead)).body.dashboards, []);
        const byId = await call('GET', `${s.url}/v1/dashboards/${d.id}`, k.globexRead);
        assert.equal(byId.status, 404);
        const named = await call('GET', `${s.url}/v1/dashboards?tenant=acme`, k.globexRead);
        assert.equal(named.status, 403);
        assert.equal(named.body.error.code, 'forbidden_tenant');
        const write = await call('PUT', `${s.url}/v1/dashboards/${d.id}`, k.acmeRead, { name: 'x', charts: [] });
        assert.equal(write.status, 403);
        assert.equal(write.body.error.code, 'wrong_key_kind');
        // An admin naming the wrong tenant does not find it either.
        assert.equal((await call('DELETE', `${s.url}/v1/dashboards/${d.id}?tenant=globex`, k.admin)).status, 404);

        assert.equal((await call('DELETE', `${s.url}/v1/dashboards/${d.id}?tenant=acme`, k.admin)).status, 204);
        assert.equal((await call('GET', `${s.url}/v1/dashboards/${d.id}`, k.acmeRead)).status, 404);
      });

      it('a bad chart is refused with the path of what is wrong and what is allowed', async () => {
        const cases: Array<[Record<string, unknown>, RegExp]> = [
          [chart({ aggregation: 'median:x' }), /charts\[0\]\.aggregation: expected "count" or/],
          [chart({ type: 'pie' }), /charts\[0\]\.type: expected one of line, area, bar/],
          [chart({ metric: 'bad metric' }), /charts\[0\]\.metric: expected a metric name/],
          [chart({ group_by: ['a', 'b', 'c'] }), /charts\[0\]\.group_by: a chart groups by at most 2/],
          [chart({ group_by: ['event_time'] }), /charts\[0\]\.group_by\[0\]: "event_time" is not a dimension/],
          [chart({ filters: { tenant_id: 'globex' } }), /charts\[0\]\.filters\.tenant_id: "tenant_id" is not a dimension/],
          [chart({ colour: 'red' }), /charts\[0\]\.colour: unknown field/],
        ];
        for (const [c, message] of cases) {
          const r = await call('POST', `${s.url}/v1/dashboards`, k.admin, { tenant: 'acme', name: 'Bad', charts: [c] });
          assert.equal(r.status, 400, JSON.stringify(c));
          assert.equal(r.body.error.code, 'invalid_dashboard');
          assert.match(r.body.error.message, message);
        }
        const many = await call('POST', `${s.url}/v1/dashboards`, k.admin, { tenant: 'acme', name: 'Many', charts: Array.from({ length: 25 }, () => chart()) });
        assert.match(many.body.error.message, /at most 24 charts/);
      });
    });

    describe('overview and catalog', () => {
      it('the overview counts each tenant’s delivered records per minute, for admins only', async () => {
        const r = await call('GET', `${s.url}/v1/admin/overview?minutes=30`, k.admin);
        assert.equal(r.status, 200);
        const ok = (t: string) => r.body.activity.filter((x: { tenant: string; outcome: string; stream: string }) => x.tenant === t && x.outcome === 'ok' && x.stream === 'metrics').reduce((a: number, x: { n: number }) => a + x.n, 0);
        assert.equal(ok('acme'), 3);
        assert.equal(ok('globex'), 2);
        assert.deepEqual(r.body.destinations.map((d: { stream: string; status: string }) => [d.stream, d.status]), [['metrics', 'ok']]);
        assert.equal(typeof r.body.intake.log_entries, 'number');
        const read = await call('GET', `${s.url}/v1/admin/overview`, k.acmeRead);
        assert.equal(read.status, 403);
        assert.equal((await call('GET', `${s.url}/v1/admin/overview?minutes=100000`, k.admin)).body.error.code, 'invalid_request');
        assert.equal((await call('GET', `${s.url}/v1/admin/tenants`, k.acmeRead)).status, 403);
        assert.deepEqual((await call('GET', `${s.url}/v1/admin/tenants`, k.admin)).body.tenants, ['acme', 'globex']);
      });

      it('the catalog lists a tenant’s metrics, measures and dimensions, and no other tenant’s', async () => {
        const own = await call('GET', `${s.url}/v1/catalog`, k.acmeRead);
        assert.deepEqual(own.body.metrics.map((m: { name: string }) => m.name), ['findings_upload_completed']);
        assert.deepEqual(own.body.metrics[0].measures, ['existing_findings_count', 'new_findings_count']);
        assert.equal((await call('GET', `${s.url}/v1/catalog?tenant=globex`, k.acmeRead)).status, 403);
        assert.equal((await call('GET', `${s.url}/v1/catalog?tenant=nobody`, k.admin)).body.metrics.length, 0);
      });
    });

    describe('embed tokens', () => {
      const q = (metric = 'findings_upload_completed') => ({ metric, from: 'now-1h', step: '1h', aggregations: ['sum:new_findings_count'] });
      const total = (body: { results: Array<{ series: Array<{ values: Record<string, number[]> }> }> }) =>
        body.results[0].series.reduce((a, s) => a + s.values['sum:new_findings_count'].reduce((x, y) => x + (y ?? 0), 0), 0);
      const mint = (key: string, body: Record<string, unknown>) => call('POST', `${s.url}/v1/embed-tokens`, key, body);

      it('a tenant’s token reads that tenant’s numbers, with either its read key or an admin key', async () => {
        const a = await mint(k.acmeRead, { metrics: ['findings_upload_completed'], expires_in: 600 });
        assert.equal(a.status, 201);
        assert.equal(a.body.tenant, 'acme');
        assert.ok(Date.parse(a.body.expires_at) - Date.now() <= 600_000);
        const b = await mint(k.admin, { tenant: 'globex', metrics: ['findings_upload_completed'] });
        assert.equal(b.status, 201);
        const ra = await call('POST', `${s.url}/v1/embed/query`, null, { token: a.body.token, queries: [q()] });
        const rb = await call('POST', `${s.url}/v1/embed/query`, null, { token: b.body.token, queries: [q()] });
        assert.equal(ra.status, 200);
        assert.equal(total(ra.body), 15);
        assert.equal(total(rb.body), 200);
        // Naming the other tenant in the query is refused, not answered with the token's tenant.
        const cross = await call('POST', `${s.url}/v1/embed/query`, null, { token: a.body.token, queries: [{ ...q(), tenant: 'globex' }] });
        assert.equal(cross.status, 403);
        assert.equal(cross.body.error.code, 'forbidden_tenant');
        const info = await call('POST', `${s.url}/v1/embed/info`, null, { token: a.body.token });
        assert.deepEqual([info.body.tenant, info.body.metrics, info.body.dashboard], ['acme', ['findings_upload_completed'], null]);
      });

      it('minting is bounded: own tenant only for a read key, at most 24 h, metrics or a dashboard', async () => {
        const other = await mint(k.acmeRead, { tenant: 'globex', metrics: ['m'] });
        assert.equal(other.status, 403);
        assert.equal(other.body.error.code, 'forbidden_tenant');
        assert.match((await mint(k.acmeRead, { metrics: ['m'], expires_in: 90_000 })).body.error.message, /expires_in: expected whole seconds from 60 to 86400/);
        assert.match((await mint(k.acmeRead, {})).body.error.message, /either metrics .* or dashboard/);
        assert.match((await mint(k.acmeRead, { metrics: ['m'], origins: ['https://x.example/path'] })).body.error.message, /origins: expected/);
        assert.equal((await mint(k.acmeRead, { dashboard: 'nope' })).status, 404);
        assert.equal((await mint(k.acmeIngest, { metrics: ['m'] })).status, 403);
      });

      it('a token reads only its metrics, and is no key anywhere else', async () => {
        const { token } = (await mint(k.acmeRead, { metrics: ['other_metric'] })).body;
        const r = await call('POST', `${s.url}/v1/embed/query`, null, { token, queries: [q()] });
        assert.equal(r.status, 403);
        assert.equal(r.body.error.code, 'forbidden_metric');
        // Not a read, ingest or admin key.
        assert.equal((await call('POST', `${s.url}/v1/query`, token, q())).body.error.code, 'invalid_key');
        assert.equal((await postJson(`${s.url}/v1/events`, token, [findings('acme', 'x', at, 1)])).status, 401);
        assert.equal((await call('GET', `${s.url}/v1/dashboards`, token)).status, 401);
        assert.equal((await call('POST', `${s.url}/v1/embed-tokens`, token, { metrics: ['findings_upload_completed'] })).status, 401);
      });

      it('a dashboard token reads the metrics of that dashboard', async () => {
        const d = (await call('POST', `${s.url}/v1/dashboards`, k.admin, { tenant: 'globex', name: 'Embed', charts: [chart()] })).body;
        const { token } = (await mint(k.globexRead, { dashboard: d.id })).body;
        const info = await call('POST', `${s.url}/v1/embed/info`, null, { token });
        assert.equal(info.body.dashboard.name, 'Embed');
        assert.equal(total((await call('POST', `${s.url}/v1/embed/query`, null, { token, queries: [q()] })).body), 200);
        assert.equal((await call('POST', `${s.url}/v1/embed/query`, null, { token, queries: [q('other')] })).status, 403);
      });

      it('expired, tampered, forged and over-long tokens read nothing and say why', async () => {
        const key = new TextEncoder().encode(SECRET);
        const now = Math.floor(Date.now() / 1000);
        const sign = (claims: Record<string, unknown>, iat = now, exp = now + 600) =>
          new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setAudience('sluice:embed').setSubject('acme').setIssuedAt(iat).setExpirationTime(exp).sign(key);
        const ask = (token: string) => call('POST', `${s.url}/v1/embed/query`, null, { token, queries: [q()] });

        // A customer's backend signs with the shared secret: it works.
        assert.equal(total((await ask(await sign({ metrics: ['findings_upload_completed'] }))).body), 15);
        const expired = await ask(await sign({ metrics: ['findings_upload_completed'] }, now - 7200, now - 3600));
        assert.equal(expired.status, 401);
        assert.equal(expired.body.error.code, 'embed_token_expired');
        // Tampered: acme's token with its subject changed to globex, the signature kept.
        const good = await sign({ metrics: ['findings_upload_completed'] });
        const [h, p, sig] = good.split('.');
        const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
        const tampered = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: 'globex' })).toString('base64url')}.${sig}`;
        const t = await ask(tampered);
        assert.equal(t.status, 401);
        assert.equal(t.body.error.code, 'embed_token_forged');
        const forged = await new SignJWT({ metrics: ['findings_upload_completed'] }).setProtectedHeader({ alg: 'HS256' }).setAudience('sluice:embed').setSubject('acme').setExpirationTime(now + 60).sign(new TextEncoder().encode('another-secret-another-secret-another-secret'));
        assert.equal((await ask(forged)).body.error.code, 'embed_token_forged');
        const long = await ask(await sign({ metrics: ['findings_upload_completed'] }, now, now + 3 * 86400));
        assert.equal(long.body.error.code, 'embed_token_invalid');
        assert.match(long.body.error.message, /at most 24 hours/);
        const none = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${p}.`;
        assert.equal((await ask(none)).body.error.code, 'embed_token_invalid');
        // Algorithm confusion: HS256 "signed" with the configured Ed25519 public key as the secret.
        const confused = await new SignJWT({ metrics: ['findings_upload_completed'] }).setProtectedHeader({ alg: 'HS256' }).setAudience('sluice:embed').setSubject('acme').setExpirationTime(now + 60).sign(new TextEncoder().encode(process.env.SLUICE_TEST_EMBED_PUBLIC));
        assert.equal((await ask(confused)).body.error.code, 'embed_token_forged');
        const noSubject = await new SignJWT({ metrics: ['findings_upload_completed'], tenant: 'acme' }).setProtectedHeader({ alg: 'HS256' }).setAudience('sluice:embed').setExpirationTime(now + 60).sign(key);
        assert.match((await ask(noSubject)).body.error.message, /sub \(the tenant\) is required/);
        const otherAudience = await new SignJWT({ metrics: ['findings_upload_completed'] }).setProtectedHeader({ alg: 'HS256' }).setAudience('someone-else').setSubject('acme').setExpirationTime(now + 60).sign(key);
        assert.match((await ask(otherAudience)).body.error.message, /aud must be "sluice:embed"/);
        const missing = await call('POST', `${s.url}/v1/embed/query`, null, { queries: [q()] });
        assert.equal(missing.body.error.code, 'embed_token_missing');
      });

      it('EdDSA tokens verify with a configured public key; other keys are refused', async () => {
        const now = Math.floor(Date.now() / 1000);
        const sign = async (pem: string) =>
          new SignJWT({ metrics: ['findings_upload_completed'] }).setProtectedHeader({ alg: 'EdDSA' }).setAudience('sluice:embed').setSubject('globex').setIssuedAt(now).setExpirationTime(now + 300).sign(await importPKCS8(pem, 'EdDSA'));
        const ok = await call('POST', `${s.url}/v1/embed/query`, null, { token: await sign(ed.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()), queries: [q()] });
        assert.equal(total(ok.body), 200);
        const stranger = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
        const r = await call('POST', `${s.url}/v1/embed/query`, null, { token: await sign(stranger), queries: [q()] });
        assert.equal(r.body.error.code, 'embed_token_forged');
      });

      it('CORS: a page on an allowed origin reads; another origin gets only the refusal', async () => {
        const { token } = (await mint(k.acmeRead, { metrics: ['findings_upload_completed'], origins: ['http://app.example.test:8080'] })).body;
        const allowed = await call('POST', `${s.url}/v1/embed/query`, null, { token, queries: [q()] }, { origin: 'http://app.example.test:8080' });
        assert.equal(allowed.status, 200);
        assert.equal(allowed.headers.get('access-control-allow-origin'), 'http://app.example.test:8080');
        const other = await call('POST', `${s.url}/v1/embed/query`, null, { token, queries: [q()] }, { origin: 'http://evil.example.test' });
        assert.equal(other.status, 403);
        assert.equal(other.body.error.code, 'forbidden_origin');
        assert.equal(other.body.results, undefined);
        // Admin and tenant endpoints never answer other origins.
        const query = await call('POST', `${s.url}/v1/query`, k.acmeRead, q(), { origin: 'http://app.example.test:8080' });
        assert.equal(query.headers.get('access-control-allow-origin'), null);
        // The embed script itself loads from any page.
        const embedJs = await fetch(`${s.url}/embed.js`);
        assert.equal(embedJs.status, 200);
        assert.equal(embedJs.headers.get('access-control-allow-origin'), '*');
        assert.match(await embedJs.text(), /sluice-chart/);
      });
    });
  });
}
