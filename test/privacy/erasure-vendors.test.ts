// Erasure at the vendors, on PGlite and on PostgreSQL: a stream forwards pseudonymized events to
// Segment and Mixpanel (local servers checking every request against the published APIs); an
// erasure asks both to delete the subject's pseudonyms — Segment's Public API regulation,
// Mixpanel's GDPR API deletion task — exactly the ids they were sent, never the raw one. A
// vendor that is down leaves the request pending until it is retried; one that refuses marks it
// failed, listed for an admin.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DestinationConfig, SluiceConfig, StreamConfig } from '../../src/config/config.ts';
import { validateConfig } from '../../src/config/validate-config.ts';
import { parseKeyRing, Pseudonymizer } from '../../src/core/privacy/pseudonymizer.ts';
import { startFakeMixpanel, startFakeMixpanelDeletions, startFakeSegment, startFakeSegmentRegulations, startFakeWebhook, startFakeWebhookErasures, type FakeVendor, type StatusFake } from '../support/fake-vendors.ts';
import { VendorErasures, vendorTargets } from '../../src/privacy/vendor-erasure.ts';
import { STORES, findingsConfig, postJson, startTestSluice, type TestSluice } from '../support/test-sluice.ts';

const KEYS_ENV = 'SLUICE_TEST_VENDOR_ERASURE_KEYS';
const KEYS = 'k2:second-secret-0123456789,k1:first-secret-0123456789';
process.env[KEYS_ENV] = KEYS;
process.env.SLUICE_TEST_SEGMENT_WRITE_KEY = 'wk_erasure';
process.env.SLUICE_TEST_SEGMENT_API_TOKEN = 'sgp_public_api_token';
process.env.SLUICE_TEST_MIXPANEL_TOKEN = 'mp_project_token';
process.env.SLUICE_TEST_MIXPANEL_GDPR_TOKEN = 'mp_gdpr_oauth_token';
const pseudonymize = { type: 'pseudonymize' as const, key: { env: KEYS_ENV }, fields: { 'metadata.user_id': 'hash' as const } };
const ring = new Pseudonymizer(parseKeyRing(KEYS), {});

function config(urls: { segment: string; regulations: string; mixpanel: string; deletions: string }): SluiceConfig {
  const base = findingsConfig();
  const target = base.rules![0].targets[0];
  target.input_transformer!.input_paths_map!.u = '$.detail.user_id';
  target.input_transformer!.input_template = target.input_transformer!.input_template.replace('"event_time":<at>', '"event_time":<at>,"user_id":<u>');
  base.rules![0].targets.push({ ...target, stream: 'to-segment' }, { ...target, stream: 'to-mixpanel' });
  base.streams!.metrics.processors = [{ type: 'validate' }, pseudonymize];
  // Each vendor's stream forwards every record at once, its user id hashed.
  const forward = (destination: DestinationConfig): StreamConfig => ({ buffer: { interval_seconds: 0 }, processors: [pseudonymize], destination });
  base.streams!['to-segment'] = forward({
    type: 'segment',
    write_key: { env: 'SLUICE_TEST_SEGMENT_WRITE_KEY' },
    endpoint: urls.segment,
    erasure: { token: { env: 'SLUICE_TEST_SEGMENT_API_TOKEN' }, endpoint: urls.regulations },
  });
  base.streams!['to-mixpanel'] = forward({
    type: 'mixpanel',
    project_token: { env: 'SLUICE_TEST_MIXPANEL_TOKEN' },
    endpoint: urls.mixpanel,
    erasure: { token: { env: 'SLUICE_TEST_MIXPANEL_GDPR_TOKEN' }, endpoint: urls.deletions },
  });
  return base;
}

const at = new Date(Date.now() - 3_600_000).toISOString();
const finding = (id: string, user: string) => ({ source: 'findings', 'detail-type': 'findings-uploaded', time: at, detail: { tenant_id: 'acme', event_id: id, user_id: user, new_findings_count: 2, existing_findings_count: 1, created_at: at } });

describe('vendor erasure config', () => {
  const urls = { segment: 'http://127.0.0.1:1', regulations: 'http://127.0.0.1:1', mixpanel: 'http://127.0.0.1:1', deletions: 'http://127.0.0.1:1' };
  it('needs the vendor user id to be a field the stream hashes', () => {
    const c = config(urls);
    c.streams!['to-segment'].processors = [];
    const issues = validateConfig(c);
    assert.deepEqual(
      issues.map((i) => i.path),
      ['streams.to-segment.destination.erasure'],
    );
    assert.match(issues[0].message, /Segment's userId \(\$\.metadata\.user_id\) must be a field this stream hashes: add 'metadata\.user_id': 'hash'/);
  });
  it('needs a project token to name the project when the destination uses a service account', () => {
    const c = config(urls);
    const d = c.streams!['to-mixpanel'].destination;
    assert.equal(d.type, 'mixpanel');
    if (d.type !== 'mixpanel') return;
    delete d.project_token;
    d.service_account = { username: 'sa', secret: { env: 'X' }, project_id: '42' };
    assert.deepEqual(validateConfig(c).map((i) => i.path), ['streams.to-mixpanel.destination.erasure.project_token']);
    d.erasure!.project_token = { env: 'SLUICE_TEST_MIXPANEL_TOKEN' };
    assert.deepEqual(validateConfig(c), []);
  });
  it('refuses an unknown regulation type, naming those allowed', () => {
    const c = config(urls);
    const d = c.streams!['to-segment'].destination;
    if (d.type !== 'segment') throw new Error('segment');
    (d.erasure as unknown as Record<string, unknown>).regulation_type = 'DELETE_EVERYTHING';
    const issues = validateConfig(c);
    assert.equal(issues.length, 1);
    assert.equal(issues[0].path, 'streams.to-segment.destination.erasure.regulation_type');
    assert.match(issues[0].message, /SUPPRESS_WITH_DELETE/);
  });
});

for (const store of STORES) {
  describe(`erasure at the vendors on ${store}`, () => {
    let s: TestSluice;
    let ingest: string;
    let admin: string;
    let segment: FakeVendor;
    let regulations: StatusFake;
    let mixpanel: FakeVendor;
    let deletions: StatusFake;
    before(async () => {
      segment = await startFakeSegment('wk_erasure');
      regulations = await startFakeSegmentRegulations('sgp_public_api_token');
      mixpanel = await startFakeMixpanel({ token: 'mp_project_token' });
      deletions = await startFakeMixpanelDeletions({ oauthToken: 'mp_gdpr_oauth_token', projectToken: 'mp_project_token' });
      s = await startTestSluice(store, config({ segment: segment.url, regulations: regulations.url, mixpanel: mixpanel.url, deletions: deletions.url }), { vendorRetrySeconds: 3600 }); // retried by hand here; the timer has its own test
      ingest = (await s.keys.create('acme', 'ingest')).key;
      admin = (await s.keys.create('*', 'admin')).key;
    });
    after(async () => {
      await s.close();
      for (const f of [segment, regulations, mixpanel, deletions]) await f.close();
    });
    const erase = (body: unknown) => postJson(`${s.url}/v1/admin/erasures`, admin, body);
    const noViolations = () => {
      for (const f of [segment, regulations, mixpanel, deletions]) assert.deepEqual(f.violations, []);
    };

    it('the vendors got pseudonyms, not raw ids', async () => {
      const res = await postJson(`${s.url}/v1/events`, ingest, [finding('f1', 'alice@example.com'), finding('f2', 'bob@example.com')]);
      assert.equal(res.status, 200);
      await s.pipeline.whenIdle();
      const sent = [...segment.unique.values()].map((m) => (m as { userId: string }).userId).sort();
      assert.deepEqual(sent, [ring.pseudonym('alice@example.com'), ring.pseudonym('bob@example.com')].sort());
      assert.equal(mixpanel.unique.size, 2);
    });

    it('a dry run counts the ids it would request and sends nothing', async () => {
      const dry = await erase({ subject: 'alice@example.com', dry_run: true });
      assert.equal(dry.status, 200, JSON.stringify(dry.body));
      assert.equal(dry.body.counts['segment.to-segment'], 2);
      assert.equal(dry.body.counts['mixpanel.to-mixpanel'], 2);
      assert.equal(dry.body.vendor_requests, undefined);
      assert.equal(regulations.requests.length + deletions.requests.length, 0);
      const queued = await s.db.query('select 1 from sluice.vendor_erasures');
      assert.equal(queued.length, 0);
    });

    it("asks each vendor to delete the subject's pseudonyms under every key", async () => {
      const res = await erase({ subject: 'alice@example.com' });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const pseudonyms = ring.pseudonymsOf('alice@example.com').sort();
      assert.deepEqual([...regulations.unique.keys()].sort(), pseudonyms);
      assert.deepEqual([...deletions.unique.keys()].sort(), pseudonyms);
      assert.ok(pseudonyms.includes(ring.pseudonym('alice@example.com')), 'the id the vendor was sent is among them');
      assert.deepEqual(regulations.unique.get(pseudonyms[0]), { regulateId: 'reg-1', regulationType: 'SUPPRESS_WITH_DELETE', path: '/regulations' });
      const states = (res.body.vendor_requests as Array<{ place: string; state: string; reference: string; ids: number }>).map((r) => [r.place, r.state, r.reference, r.ids]).sort();
      assert.deepEqual(states, [['mixpanel.to-mixpanel', 'sent', '1001', 2], ['segment.to-segment', 'sent', 'reg-1', 2]]);
      assert.equal(res.body.counts['segment.to-segment'], 2);
      const stored = JSON.stringify(await s.db.query('select * from sluice.vendor_erasures'));
      assert.ok(!stored.includes('alice'), 'the queue holds pseudonyms only');
      noViolations();
    });

    it('a vendor that is down gets the request later, merged with the next one', async () => {
      regulations.failNext(1, { status: 503, body: '{"errors":[{"type":"unavailable","message":"try later"}]}' });
      const res = await erase({ subject: 'bob@example.com' });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const seg = res.body.vendor_requests.find((r: { place: string }) => r.place === 'segment.to-segment');
      assert.equal(seg.state, 'pending');
      assert.match(seg.last_error, /^HTTP 503/);
      assert.ok(Date.parse(seg.next_attempt_at) > Date.now() + 20_000, 'backs off');
      assert.equal(res.body.vendor_requests.find((r: { place: string }) => r.place === 'mixpanel.to-mixpanel').state, 'sent');
      const listed = await fetch(`${s.url}/v1/admin/erasures/vendor-requests?state=pending`, { headers: { authorization: `Bearer ${admin}` } });
      assert.deepEqual((await listed.json()).requests.map((r: { id: number }) => r.id), [seg.id]);
      // Time passes: the request is due, and the next erasure sends it with its own, in one request.
      await s.db.query('update sluice.vendor_erasures set next_attempt_at = now() where state = $1', ['pending']);
      const before = regulations.requests.length;
      const next = await erase({ subject: 'carol@example.com' });
      assert.equal(next.body.vendor_requests.find((r: { place: string }) => r.place === 'segment.to-segment').state, 'sent');
      assert.deepEqual(regulations.requests.slice(before).map((r) => r.messages), [4], 'bob and carol in one request');
      for (const p of [...ring.pseudonymsOf('bob@example.com'), ...ring.pseudonymsOf('carol@example.com')]) assert.ok(regulations.unique.has(p));
      const [row] = await s.db.query<{ state: string; attempts: number; reference: string }>('select state, attempts, reference from sluice.vendor_erasures where id = $1', [seg.id]);
      assert.deepEqual(row, { state: 'sent', attempts: 2, reference: 'reg-2' });
      noViolations();
    });

    it('a refused request is marked failed with the answer, listed for an admin only', async () => {
      deletions.failNext(1, { status: 401, body: '{"status":"error","error":"Invalid OAuth token"}' });
      const res = await erase({ subject: 'dave@example.com' });
      const mp = res.body.vendor_requests.find((r: { place: string }) => r.place === 'mixpanel.to-mixpanel');
      assert.equal(mp.state, 'failed');
      assert.match(mp.last_error, /^HTTP 401: .*Invalid OAuth token/);
      const list = (q: string, key = admin) => fetch(`${s.url}/v1/admin/erasures/vendor-requests${q}`, { headers: { authorization: `Bearer ${key}` } });
      const failed = await (await list('?state=failed')).json();
      assert.deepEqual(failed.requests.map((r: { id: number; place: string }) => [r.id, r.place]), [[mp.id, 'mixpanel.to-mixpanel']]);
      assert.equal((await list('?state=failed', ingest)).status, 403);
      const bad = await list('?state=lost');
      assert.equal(bad.status, 400);
      assert.match((await bad.json()).error.message, /state must be one of pending, sent, failed/);
      assert.equal((await list('?limit=0')).status, 400);
      // Failed is final: a later flush does not send it again.
      await s.db.query('update sluice.vendor_erasures set next_attempt_at = now()');
      const before = deletions.requests.length;
      await erase({ subject: 'erin@example.com' });
      assert.deepEqual(deletions.requests.slice(before).map((r) => r.messages), [2], 'only erin');
    });

    it('a batch that lands while its subject is erased is followed by a second request', async () => {
      segment.answerAfter(1500); // the tracking call is under way while the erasure commits
      try {
        const before = segment.received;
        const res = await postJson(`${s.url}/v1/events`, ingest, [finding('f-hank', 'hank@example.com')]);
        assert.equal(res.status, 200);
        const deadline = Date.now() + 10_000;
        while (segment.received === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        assert.ok(segment.received > before, 'the tracking call was sent');
        const first = await erase({ subject: 'hank@example.com' });
        assert.equal(first.body.vendor_requests.find((r: { place: string }) => r.place === 'segment.to-segment').state, 'sent');
        const hank = ring.pseudonym('hank@example.com');
        const firstRegulation = (regulations.unique.get(hank) as { regulateId: string }).regulateId;
        await s.pipeline.whenIdle(); // the call is answered: hank's event landed after the regulation
        assert.ok([...segment.unique.values()].some((m) => (m as { userId: string }).userId === hank));
        const followUp = await s.db.query<{ pseudonyms: string[] }>("select pseudonyms from sluice.vendor_erasures where erasure_id = 0 and vendor = 'segment' and state = 'pending'");
        assert.deepEqual(followUp.map((r) => r.pseudonyms), [[hank]], 'asked again, for the id the vendor got');
        await erase({ subject: 'nobody@example.com' }); // the next flush sends it
        assert.notEqual((regulations.unique.get(hank) as { regulateId: string }).regulateId, firstRegulation);
      } finally {
        segment.answerAfter(0);
      }
      noViolations();
    });

    it('requests due at once are packed up to the vendor limit and spaced for its rate limit', async () => {
      // Two queued requests of 1,500 ids each (as left by an outage): more than Mixpanel's 2,000 together.
      const ids = (p: string) => JSON.stringify(Array.from({ length: 1500 }, (_, i) => `k1:${p}${String(i).padStart(28, '0')}`));
      for (const p of ['aaaa', 'bbbb']) {
        await s.db.query("insert into sluice.vendor_erasures (erasure_id, stream, vendor, pseudonyms) values (0, 'to-mixpanel', 'mixpanel', $1::text::jsonb)", [ids(p)]);
      }
      const before = deletions.requests.length;
      const res = await erase({ subject: 'frank@example.com' });
      assert.equal(res.body.vendor_requests.find((r: { place: string }) => r.place === 'mixpanel.to-mixpanel').state, 'sent');
      assert.deepEqual(deletions.requests.slice(before).map((r) => r.messages), [1500, 1502]);
      const pending = await s.db.query("select 1 from sluice.vendor_erasures where state = 'pending'");
      assert.equal(pending.length, 0);
      noViolations();
    });

    it('asks each vendor what became of the deletions it took, until it says they are done', async () => {
      const vendors = new VendorErasures(s.db, vendorTargets(config({ segment: segment.url, regulations: regulations.url, mixpanel: mixpanel.url, deletions: deletions.url })));
      // Only Alice's two requests are still open (the others as if their vendors had finished).
      await s.db.query("update sluice.vendor_erasures set outcome = 'deleted', completed_at = now() where reference not in ('reg-1', '1001')");
      const ids = (await s.db.query<{ id: number }>("select id::float8 as id from sluice.vendor_erasures where reference in ('reg-1', '1001')")).map((r) => r.id);
      const states = async () => new Map((await vendors.list({ ids })).map((r) => [r.place, [r.vendor_status, r.outcome, r.completed_at !== null]]));
      await new Promise((r) => setTimeout(r, 1000)); // the last erasure's call to Mixpanel was made by the running Sluice's queue
      assert.deepEqual(await vendors.track(0), { asked: 2, final: 0, errors: 0 });
      assert.deepEqual(await states(), new Map([['mixpanel.to-mixpanel', ['PENDING', null, false]], ['segment.to-segment', ['INITIALIZED', null, false]]]));
      regulations.setStatus('reg-1', 'FINISHED');
      deletions.setStatus('1001', 'FAILURE');
      assert.deepEqual(await vendors.track(0), { asked: 2, final: 2, errors: 0 });
      assert.deepEqual(await states(), new Map([['mixpanel.to-mixpanel', ['FAILURE', 'not_deleted', true]], ['segment.to-segment', ['FINISHED', 'deleted', true]]]));
      assert.deepEqual(await vendors.track(0), { asked: 0, final: 0, errors: 0 }, 'a final status is not asked again');
      assert.equal((await vendors.backlog()).not_deleted, 1);
      noViolations(); // Mixpanel's one request a second holds for the status calls too
    });

    it('a status run takes its turns with a flush, one call at a time, so it does not hold the flush up', async () => {
      const vendors = new VendorErasures(s.db, vendorTargets(config({ segment: segment.url, regulations: regulations.url, mixpanel: mixpanel.url, deletions: deletions.url })));
      await s.db.query("update sluice.vendor_erasures set outcome = null, completed_at = null, status_checked_at = null where vendor = 'mixpanel' and state = 'sent'");
      const open = (await s.db.query("select distinct reference from sluice.vendor_erasures where vendor = 'mixpanel' and state = 'sent'")).length;
      assert.ok(open >= 4, `${open} Mixpanel tasks to ask about, a second apart`);
      await new Promise((r) => setTimeout(r, 1000));
      const order: string[] = [];
      const run = vendors.track(0).then((r) => (order.push('status run'), r));
      const [{ id }] = await s.db.query<{ id: number }>("insert into sluice.vendor_erasures (erasure_id, stream, vendor, pseudonyms) values (0, 'to-mixpanel', 'mixpanel', $1::text::jsonb) returning id::float8 as id", [JSON.stringify(ring.pseudonymsOf('kim@example.com'))]);
      const flushed = await vendors.flush();
      order.push('flush');
      assert.equal(flushed.settled.get(id), 'sent');
      assert.equal((await run).asked, open);
      assert.deepEqual(order, ['flush', 'status run']);
      noViolations();
    });
  });

  describe(`vendor erasure retries on ${store}`, () => {
    let s: TestSluice;
    let admin: string;
    let regulations: StatusFake;
    before(async () => {
      regulations = await startFakeSegmentRegulations('sgp_public_api_token');
      const c = config({ segment: 'http://127.0.0.1:1', regulations: regulations.url, mixpanel: 'http://127.0.0.1:1', deletions: 'http://127.0.0.1:1' });
      delete c.streams!['to-mixpanel'];
      c.rules![0].targets = c.rules![0].targets.filter((t) => t.stream !== 'to-mixpanel');
      s = await startTestSluice(store, c, { vendorRetrySeconds: 1, vendorStatusSeconds: 1 });
      admin = (await s.keys.create('*', 'admin')).key;
    });
    after(async () => {
      await s.close();
      await regulations.close();
    });
    const until = async (what: string, check: () => Promise<boolean>) => {
      const deadline = Date.now() + 10_000;
      while (!(await check())) {
        if (Date.now() > deadline) assert.fail(`waited 10 s for ${what}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    };
    const gauge = async () => /sluice_vendor_erasure_requests\{state="pending"\} (\d+)/.exec(await (await fetch(`${s.url}/metrics`)).text())?.[1];

    it('the running Sluice sends a pending request when it is due, without another erasure', async () => {
      regulations.failNext(1, { status: 429, retryAfter: '1' });
      const res = await postJson(`${s.url}/v1/admin/erasures`, admin, { subject: 'gina@example.com' });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      const [seg] = res.body.vendor_requests;
      assert.equal(seg.state, 'pending');
      assert.match(seg.last_error, /^HTTP 429/);
      await until('the gauge to count it pending', async () => (await gauge()) === '1');
      assert.equal(regulations.unique.size, 0, 'not before it is due (the backoff floor is 30 s)');
      // Time passes.
      await s.db.query('update sluice.vendor_erasures set next_attempt_at = now() where id = $1', [seg.id]);
      await until('the request to be sent', async () => (await s.db.query<{ state: string }>('select state from sluice.vendor_erasures where id = $1', [seg.id]))[0].state === 'sent');
      assert.deepEqual([...regulations.unique.keys()].sort(), ring.pseudonymsOf('gina@example.com').sort());
      await until('the gauge to drop to 0', async () => (await gauge()) === '0');
      assert.deepEqual(regulations.violations, []);
    });

    it("the running Sluice asks Segment what became of a regulation, and counts one it says it did not finish", async () => {
      const res = await postJson(`${s.url}/v1/admin/erasures`, admin, { subject: 'judy@example.com' });
      const [seg] = res.body.vendor_requests;
      assert.equal(seg.state, 'sent');
      const row = async () => (await s.db.query<{ vendor_status: string | null; outcome: string | null }>('select vendor_status, outcome from sluice.vendor_erasures where id = $1', [seg.id]))[0];
      await until('Segment to be asked', async () => (await row()).vendor_status === 'INITIALIZED');
      regulations.setStatus(seg.reference, 'FAILED');
      await until('the final status', async () => (await row()).outcome === 'not_deleted');
      assert.equal((await row()).vendor_status, 'FAILED');
      const notDeleted = async () => /sluice_vendor_erasure_requests\{state="not_deleted"\} (\d+)/.exec(await (await fetch(`${s.url}/metrics`)).text())?.[1];
      await until('the gauge to count it', async () => (await notDeleted()) === '1');
      assert.ok(s.warnings.some((w) => w.includes('the vendor says it did not delete: 1')), s.warnings.join('\n'));
      assert.deepEqual(regulations.violations, []);
    });

    it('a request for a destination the config no longer has stays pending, saying why, and goes out once it is back', async () => {
      // Queued while the config had a Mixpanel stream this Sluice's config does not have.
      const ids = ring.pseudonymsOf('hal@example.com');
      const [{ id }] = await s.db.query<{ id: number }>(
        "insert into sluice.vendor_erasures (erasure_id, stream, vendor, pseudonyms) values (0, 'to-mixpanel', 'mixpanel', $1::text::jsonb) returning id::float8 as id",
        [JSON.stringify(ids)],
      );
      const row = async () => (await s.db.query<{ state: string; attempts: number; last_error: string | null; wait: number }>('select state, attempts, last_error, extract(epoch from next_attempt_at - now())::float8 as wait from sluice.vendor_erasures where id = $1', [id]))[0];
      await until('the timer to look at it', async () => (await row()).attempts > 0);
      const r = await row();
      assert.equal(r.state, 'pending');
      assert.equal(r.last_error, "no mixpanel destination with erasure for stream 'to-mixpanel' in the config: kept until there is one");
      assert.ok(r.wait > 20, `retried on the backoff, not at every tick (${r.wait} s)`);
      assert.ok(s.warnings.some((w) => w.includes('vendor erasure requests wait for destinations the config does not have: mixpanel.to-mixpanel')), s.warnings.join('\n'));
      await until('the gauge to count it pending', async () => (await gauge()) === '1');
      const listed = await (await fetch(`${s.url}/v1/admin/erasures/vendor-requests?state=pending`, { headers: { authorization: `Bearer ${admin}` } })).json();
      assert.deepEqual(
        listed.requests.map((q: { place: string; ids: number }) => [q.place, q.ids]),
        [['mixpanel.to-mixpanel', 2]],
      );

      // The destination is configured again (a process running the full config).
      const deletions = await startFakeMixpanelDeletions({ oauthToken: 'mp_gdpr_oauth_token', projectToken: 'mp_project_token' });
      try {
        const restored = new VendorErasures(s.db, vendorTargets(config({ segment: 'http://127.0.0.1:1', regulations: regulations.url, mixpanel: 'http://127.0.0.1:1', deletions: deletions.url })));
        await s.db.query('update sluice.vendor_erasures set next_attempt_at = now() where id = $1', [id]);
        const flushed = await restored.flush();
        assert.equal(flushed.settled.get(id), 'sent');
        assert.deepEqual(flushed.unconfigured, []);
        assert.deepEqual([...deletions.unique.keys()].sort(), [...ids].sort());
        assert.deepEqual(deletions.violations, []);
      } finally {
        await deletions.close();
      }
    });
  });
}

process.env.SLUICE_TEST_WEBHOOK_SECRET = 'whsec_erasure';

/** Sales to a webhook, their buyer's user id and email hashed, with erasure requests to the receiver. */
function webhookConfig(urls: { hook: string; erasures: string }): SluiceConfig {
  return {
    rules: [{ name: 'sales', pattern: { source: ['shop'] }, targets: [{ stream: 'to-webhook', input_path: '$.detail' }] }],
    streams: {
      'to-webhook': {
        buffer: { interval_seconds: 0 },
        processors: [{ type: 'pseudonymize', key: { env: KEYS_ENV }, fields: { user_id: 'hash', 'buyer.email': 'hash' } }],
        destination: { type: 'webhook', url: urls.hook, secret: { env: 'SLUICE_TEST_WEBHOOK_SECRET' }, erasure: { url: urls.erasures } },
      },
    },
  };
}
const sale = (id: string, user: string, email: string) => ({ source: 'shop', 'detail-type': 'sale', detail: { id, user_id: user, buyer: { email }, amount: 3 } });

describe('webhook erasure config', () => {
  it('needs the stream to hash a field', () => {
    const c = webhookConfig({ hook: 'http://127.0.0.1:1', erasures: 'http://127.0.0.1:1' });
    c.streams!['to-webhook'].processors = [];
    const issues = validateConfig(c);
    assert.deepEqual(issues.map((i) => i.path), ['streams.to-webhook.destination.erasure']);
    assert.match(issues[0].message, /this stream hashes no field/);
  });
  it('needs a URL for the requests', () => {
    const c = webhookConfig({ hook: 'http://127.0.0.1:1', erasures: 'http://127.0.0.1:1' });
    c.streams!['to-webhook'].destination = { type: 'webhook', url: 'http://127.0.0.1:1', secret: { env: 'X' }, erasure: {} as { url: string } };
    assert.deepEqual(validateConfig(c).map((i) => i.path), ['streams.to-webhook.destination.erasure.url']);
  });
});

for (const store of STORES) {
  describe(`erasure at a webhook's receiver on ${store}`, () => {
    let s: TestSluice;
    let ingest: string;
    let admin: string;
    let hook: FakeVendor;
    let erasures: FakeVendor;
    before(async () => {
      hook = await startFakeWebhook('whsec_erasure');
      erasures = await startFakeWebhookErasures('whsec_erasure');
      s = await startTestSluice(store, webhookConfig({ hook: hook.url, erasures: erasures.url }), { vendorRetrySeconds: 3600 });
      ingest = (await s.keys.create('acme', 'ingest')).key;
      admin = (await s.keys.create('*', 'admin')).key;
    });
    after(async () => {
      await s.close();
      await hook.close();
      await erasures.close();
    });
    const erase = (body: unknown) => postJson(`${s.url}/v1/admin/erasures`, admin, body);

    it("asks the receiver, signed, to delete the pseudonyms of the field erased, whichever field it is", async () => {
      const res = await postJson(`${s.url}/v1/events`, ingest, [sale('s1', 'u-alice', 'alice@example.com'), sale('s2', 'u-bob', 'bob@example.com')]);
      assert.equal(res.status, 200);
      await s.pipeline.whenIdle();
      const got = [...hook.unique.values()] as Array<{ user_id: string; buyer: { email: string } }>;
      assert.deepEqual(got.map((v) => v.user_id).sort(), [ring.pseudonym('u-alice'), ring.pseudonym('u-bob')].sort());

      const byId = await erase({ subject: 'u-alice', field: 'user_id' });
      assert.equal(byId.status, 200, JSON.stringify(byId.body));
      assert.equal(byId.body.counts['webhook.to-webhook'], 2);
      assert.deepEqual(byId.body.vendor_requests.map((r: { place: string; state: string; reference: string; ids: number }) => [r.place, r.state, r.reference, r.ids]), [['webhook.to-webhook', 'sent', 'er-1', 2]]);
      assert.deepEqual([...erasures.unique.keys()].sort(), ring.pseudonymsOf('u-alice').sort());

      const byEmail = await erase({ subject: 'bob@example.com', field: 'email' });
      assert.equal(byEmail.status, 200, JSON.stringify(byEmail.body));
      assert.deepEqual(byEmail.body.vendor_requests.map((r: { place: string; state: string }) => [r.place, r.state]), [['webhook.to-webhook', 'sent']]);
      for (const p of ring.pseudonymsOf('bob@example.com')) assert.deepEqual(erasures.unique.get(p), { id: 'er-2', stream: 'to-webhook' });
      assert.ok(got.some((v) => v.buyer.email === ring.pseudonym('bob@example.com')), 'the receiver had been sent that pseudonym');
      assert.deepEqual(hook.violations, []);
      assert.deepEqual(erasures.violations, []);
    });

    it('a refused signature marks the request failed; a receiver that is down gets it later', async () => {
      erasures.failNext(1, { status: 401, body: '{"error":"bad signature"}' });
      const refused = await erase({ subject: 'u-carol', field: 'user_id' });
      assert.equal(refused.body.vendor_requests[0].state, 'failed');
      assert.match(refused.body.vendor_requests[0].last_error, /^HTTP 401/);
      erasures.failNext(1, { status: 503 });
      const down = await erase({ subject: 'u-dave', field: 'user_id' });
      const [req] = down.body.vendor_requests;
      assert.equal(req.state, 'pending');
      await s.db.query('update sluice.vendor_erasures set next_attempt_at = now() where id = $1', [req.id]);
      await erase({ subject: 'u-erin', field: 'user_id' }); // the next erasure's flush sends it, with erin's
      const [row] = await s.db.query<{ state: string; attempts: number }>('select state, attempts from sluice.vendor_erasures where id = $1', [req.id]);
      assert.deepEqual(row, { state: 'sent', attempts: 2 });
      for (const p of ring.pseudonymsOf('u-dave')) assert.ok(erasures.unique.has(p));
      assert.ok(!ring.pseudonymsOf('u-carol').some((p) => erasures.unique.has(p)), 'failed is final');
      assert.deepEqual(erasures.violations, []);
    });

    it('a secret that cannot be read leaves the request pending, and is read again at the next attempt', async () => {
      delete process.env.SLUICE_TEST_LATE_SECRET;
      const c = webhookConfig({ hook: hook.url, erasures: erasures.url });
      const d = c.streams!['to-webhook'].destination;
      c.streams!['late-hook'] = { ...c.streams!['to-webhook'], destination: { ...d, secret: { env: 'SLUICE_TEST_LATE_SECRET' } } as typeof d };
      const vendors = new VendorErasures(s.db, vendorTargets(c).filter((t) => t.stream === 'late-hook'));
      const ids = ring.pseudonymsOf('u-ivy');
      const [{ id }] = await s.db.query<{ id: number }>("insert into sluice.vendor_erasures (erasure_id, stream, vendor, pseudonyms) values (0, 'late-hook', 'webhook', $1::text::jsonb) returning id::float8 as id", [JSON.stringify(ids)]);
      assert.equal((await vendors.flush()).settled.get(id), 'pending');
      const [row] = await vendors.list({ ids: [id] });
      assert.match(row.last_error ?? '', /the webhook signing secret \(.*SLUICE_TEST_LATE_SECRET.*\) is not set/);
      process.env.SLUICE_TEST_LATE_SECRET = 'whsec_erasure'; // set since (a file or Secrets Manager would be re-read the same way)
      await s.db.query('update sluice.vendor_erasures set next_attempt_at = now() where id = $1', [id]);
      assert.equal((await vendors.flush()).settled.get(id), 'sent');
      for (const p of ids) assert.ok(erasures.unique.has(p));
      assert.deepEqual(erasures.violations, []);
    });

    it('a batch delivered while its subject is erased is followed by a second request, for each hashed field it holds', async () => {
      hook.answerAfter(1500);
      try {
        const before = hook.received;
        const res = await postJson(`${s.url}/v1/events`, ingest, [sale('s9', 'u-hank', 'hank@example.com')]);
        assert.equal(res.status, 200);
        const deadline = Date.now() + 10_000;
        while (hook.received === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        assert.ok(hook.received > before, 'the batch was sent');
        await erase({ subject: 'hank@example.com', field: 'email' });
        await s.pipeline.whenIdle();
        const followUp = await s.db.query<{ pseudonyms: string[] }>("select pseudonyms from sluice.vendor_erasures where erasure_id = 0 and vendor = 'webhook' and stream = 'to-webhook'");
        assert.deepEqual(followUp.map((r) => r.pseudonyms), [[ring.pseudonym('hank@example.com')]], 'asked again for the email it carried, not the user id (not erased)');
      } finally {
        hook.answerAfter(0);
      }
    });
  });
}

describe('sluice erase asks the vendors and says what became of each request', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-erase-vendors-'));
  let regulations: FakeVendor;
  before(async () => {
    regulations = await startFakeSegmentRegulations('sgp_public_api_token');
    const c = {
      rules: [{ name: 'all', pattern: { source: ['shop'] }, targets: [{ stream: 'to-segment' }] }],
      streams: {
        'to-segment': {
          processors: [{ type: 'pseudonymize', key: { env: KEYS_ENV }, fields: { 'metadata.user_id': 'hash' } }],
          destination: { type: 'segment', write_key: { env: 'SLUICE_TEST_SEGMENT_WRITE_KEY' }, erasure: { token: { env: 'SLUICE_TEST_SEGMENT_API_TOKEN' }, endpoint: regulations.url, source_id: 'src_42' } },
        },
      },
    };
    writeFileSync(join(dir, 'sluice.config.mjs'), `export default ${JSON.stringify(c)};\n`);
  });
  after(async () => {
    await regulations.close();
    rmSync(dir, { recursive: true, force: true });
  });
  // Not spawnSync: the fake vendor answers from this process's event loop.
  const erase = (subject: string) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [join(import.meta.dirname, '../../bin/sluice.js'), 'erase', '--subject', subject, '--config', join(dir, 'sluice.config.mjs'), '--data-dir', join(dir, 'data')], { timeout: 60_000 });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.stderr.on('data', (d) => (stderr += d));
      child.on('close', (status) => resolve({ status, stdout, stderr }));
    });

  it('prints the vendor reference, or why a request waits and until when', async () => {
    const sent = await erase('alice@example.com');
    assert.equal(sent.status, 0, sent.stderr);
    assert.match(sent.stdout, /^ {2}segment\.to-segment +2$/m);
    assert.match(sent.stdout, /^ {2}request to segment\.to-segment: sent \(vendor's reference reg-1\)$/m);
    assert.deepEqual(new Set([...regulations.unique.values()].map((v) => (v as { path: string }).path)), new Set(['/regulations/sources/src_42']));
    regulations.failNext(1, { status: 503 });
    const waiting = await erase('bob@example.com');
    assert.equal(waiting.status, 0, waiting.stderr);
    assert.match(waiting.stdout, /^ {2}request to segment\.to-segment: pending \(HTTP 503[^)]*\); retried from \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ by a running Sluice or the next erasure$/m);
    assert.ok(!`${sent.stdout}${waiting.stdout}`.includes('example.com'), 'the raw subjects are not echoed');
    assert.deepEqual(regulations.violations, []);
  });
});
