// Delivery to a SaaS through a running Sluice: a 30-second vendor outage loses nothing and sends
// nothing twice; refused records become dead letters, which the admin API lists, shows,
// redrives (once) and purges; `sluice dlq` does the same from the command line.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitUntil } from '../support/sluice-process.ts';
import { after, before, describe, it } from 'node:test';
import type { CreatedKey } from '../../src/auth/api-keys.ts';
import type { SluiceConfig } from '../../src/config/config.ts';
import { DeadLetters } from '../../src/pipeline/dead-letters.ts';
import { PostgresDriver } from '../../src/store/postgres-driver.ts';
import { migrate } from '../../src/store/migrations.ts';
import { createServerDatabase, storeEnv } from '../support/databases.ts';
import { startFakeSegment, startFakeWebhook, type FakeVendor } from '../support/fake-vendors.ts';
import { postJson, startTestSluice, type TestSluice } from '../support/test-sluice.ts';

const root = new URL('../..', import.meta.url).pathname;

function vendorConfig(segmentUrl: string): SluiceConfig {
  return {
    rules: [{ name: 'shop', pattern: { source: ['shop'] }, targets: [{ stream: 'to-segment', input_path: '$.detail' }] }],
    streams: {
      'to-segment': {
        buffer: { max_records: 100, interval_seconds: 1 },
        processors: [{ type: 'validate' }, { type: 'pseudonymize', key: { env: 'TEST_DELIVERY_KEYS' }, fields: { 'metadata.user_id': 'hash' } }],
        destination: { type: 'segment', write_key: { env: 'TEST_DELIVERY_SEGMENT_KEY' }, endpoint: segmentUrl, timeout_seconds: 2 },
      },
    },
  };
}

const event = (id: string, user: string) => ({
  source: 'shop',
  'detail-type': 'checkout',
  detail: { metric_name: 'checkout_completed', metadata: { tenant_id: 'acme', event_id: id, event_time: new Date().toISOString(), user_id: user }, data: { amount: 12 } },
});

describe('delivery to Segment through a running Sluice', () => {
  let s: TestSluice;
  let fake: FakeVendor;
  let admin: CreatedKey;
  let ingest: CreatedKey;
  let reader: CreatedKey;
  before(async () => {
    process.env.TEST_DELIVERY_KEYS = 'k1:0123456789abcdef0123456789abcdef';
    process.env.TEST_DELIVERY_SEGMENT_KEY = 'wk_delivery';
    fake = await startFakeSegment('wk_delivery');
    s = await startTestSluice('PGlite', vendorConfig(fake.url));
    admin = await s.keys.create('*', 'admin');
    ingest = await s.keys.create('acme', 'ingest');
    reader = await s.keys.create('acme', 'read');
  });
  after(async () => {
    await s.close();
    await fake.close();
  });

  it('a 30-second outage loses nothing and sends nothing twice', async () => {
    fake.outage(30_000);
    for (let b = 0; b < 4; b++) {
      const batch = Array.from({ length: 50 }, (_, i) => event(`out-${b}-${i}`, `user-${i}@example.com`));
      assert.equal((await postJson(`${s.url}/v1/events`, ingest.key, batch)).status, 200);
    }
    await waitUntil('every event at Segment after the outage', () => fake.unique.size === 200);
    await s.pipeline.whenIdle();
    assert.ok(fake.requests.filter((r) => r.status === 503).length >= 2, 'the outage was met and retried');
    assert.equal(fake.accepted, 200, 'no call was accepted twice');
    assert.deepEqual(fake.violations, []);
    assert.deepEqual(await s.db.query('select 1 from sluice.dead_letters'), []);
    // Delivered entries leave the log in the background, in batches.
    await waitUntil('the intake log emptied', async () => (await s.db.query('select 1 from sluice.intake_log')).length === 0);
    const sent = [...fake.unique.values()] as Array<{ userId: string }>;
    assert.ok(sent.every((m) => /^k1:[0-9a-f]{32}$/.test(m.userId)), 'Segment receives pseudonyms, never the raw user id');
  });

  it('refused records become dead letters; the admin API lists, shows, redrives once and purges them', async () => {
    fake.failNext(1, { status: 403, body: '{"error":"source disabled"}' });
    const batch = Array.from({ length: 5 }, (_, i) => event(`dl-${i}`, `dl-user-${i}@example.com`));
    assert.equal((await postJson(`${s.url}/v1/events`, ingest.key, batch)).status, 200);
    await s.pipeline.whenIdle();

    const get = async (path: string, key = admin.key) => {
      const res = await fetch(`${s.url}${path}`, { headers: { authorization: `Bearer ${key}` } });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    };
    assert.equal((await get('/v1/admin/dead-letters', reader.key)).status, 403, 'a tenant read key cannot see dead letters');
    assert.equal((await get('/v1/admin/dead-letters', ingest.key)).status, 403);
    const listed = await get('/v1/admin/dead-letters?stream=to-segment&code=http_403');
    assert.equal(listed.status, 200);
    const rows = listed.body.dead_letters as Array<Record<string, unknown>>;
    assert.equal(rows.length, 5);
    assert.deepEqual(
      { ...rows[0], id: 0, record_id: '', first_failed_at: '', last_failed_at: '' },
      { id: 0, stream: 'to-segment', destination: 'segment', tenant: 'acme', code: 'http_403', reason: 'HTTP 403: {"error":"source disabled"}', record_id: '', attempts: 1, first_failed_at: '', last_failed_at: '', redriven_at: null, redrives: 0 },
    );
    const one = await get(`/v1/admin/dead-letters/${rows[0].id}`);
    assert.match(JSON.stringify(one.body.record), /"user_id":"k1:[0-9a-f]{32}"/);
    assert.doesNotMatch(JSON.stringify(await s.db.query('select record from sluice.dead_letters')), /@example\.com/, 'no raw personal data in dead letters');
    assert.equal((await get('/v1/admin/dead-letters?since=yesterday')).status, 400);
    assert.equal((await get('/v1/admin/dead-letters/999999')).status, 404);

    const post = (path: string, body: unknown) => postJson(`${s.url}${path}`, admin.key, body);
    const redriven = await post('/v1/admin/dead-letters/redrive', { stream: 'to-segment' });
    assert.deepEqual(redriven.body, { redriven: 5, entries: 1, streams: { 'to-segment': 5 } });
    assert.deepEqual((await post('/v1/admin/dead-letters/redrive', { stream: 'to-segment' })).body, { redriven: 0, entries: 0, streams: {} }, 'a second redrive finds nothing');
    await waitUntil('the redriven calls at Segment', () => fake.unique.size === 205);
    await waitUntil('the redrive entry delivered', async () => (await s.db.query('select 1 from sluice.intake_log')).length === 0);
    assert.equal(fake.accepted, 205, 'each redriven call was sent once');
    const after = (await get('/v1/admin/dead-letters?all=true')).body.dead_letters as Array<Record<string, unknown>>;
    assert.ok(after.every((r) => r.redriven_at !== null && r.redrives === 1));
    assert.deepEqual((await get('/v1/admin/dead-letters')).body.dead_letters, [], 'nothing pending');

    assert.equal((await post('/v1/admin/dead-letters/purge', {})).status, 400, 'purge needs a filter');
    assert.equal((await post('/v1/admin/dead-letters/purge', { colour: 'red' })).body.error.code, 'invalid_filter');
    assert.deepEqual((await post('/v1/admin/dead-letters/purge', { stream: 'to-segment', all: true })).body, { purged: 5 });
  });
});

describe('GET /metrics', () => {
  it('counts intake, rule matches, stream outcomes, destination batches, batch sizes and delivery latency', async () => {
    const fake = await startFakeSegment('wk_delivery');
    const s = await startTestSluice('PGlite', vendorConfig(fake.url));
    try {
      const ingest = await s.keys.create('acme', 'ingest');
      const batch = [...Array.from({ length: 3 }, (_, i) => event(`m-${i}`, 'u@example.com')), { source: 'shop', 'detail-type': 'x', detail: { metric_name: 'checkout_completed' } }];
      assert.equal((await postJson(`${s.url}/v1/events`, ingest.key, [...batch, { source: '' }])).status, 200);
      await s.pipeline.whenIdle();
      const text = await (await fetch(`${s.url}/metrics`)).text();
      const value = (series: string) => Number(new RegExp(`^${series.replace(/[{}"+.]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text)?.[1]);
      assert.equal(value('sluice_intake_events_total{outcome="accepted",code=""}'), 4);
      assert.equal(value('sluice_intake_events_total{outcome="rejected",code="invalid_event"}'), 1);
      assert.equal(value('sluice_rule_matches_total{rule="shop"}'), 4);
      assert.equal(value('sluice_stream_records_total{stream="to-segment",outcome="ok",code=""}'), 3);
      assert.equal(value('sluice_stream_records_total{stream="to-segment",outcome="failed",code="schema_invalid"}'), 1);
      assert.equal(value('sluice_destination_batches_total{stream="to-segment",destination="segment",outcome="delivered"}'), 1);
      assert.equal(value('sluice_batch_records_count{stream="to-segment"}'), 1);
      assert.equal(value('sluice_batch_records_sum{stream="to-segment"}'), 3);
      assert.equal(value('sluice_delivery_latency_seconds_count{stream="to-segment"}'), 3);
      assert.equal(value('sluice_delivery_latency_seconds_bucket{stream="to-segment",le="+Inf"}'), 3);
      assert.equal(value('sluice_intake_pending_bytes'), 0);
      assert.match(text, /# TYPE sluice_delivery_latency_seconds histogram/);
      assert.doesNotMatch(text, /example\.com/, 'no event content in metrics');
    } finally {
      await s.close();
      await fake.close();
    }
  });
});

describe('sluice dlq', () => {
  let db: Awaited<ReturnType<typeof createServerDatabase>>;
  let hook: FakeVendor;
  let dir: string;
  before(async () => {
    db = await createServerDatabase();
    hook = await startFakeWebhook('whsec_cli');
    dir = mkdtempSync(join(tmpdir(), 'sluice-dlq-'));
    const config = { streams: { hooks: { destination: { type: 'webhook', url: hook.url, secret: { env: 'TEST_DLQ_HOOK_SECRET' } } } } };
    writeFileSync(join(dir, 'sluice.config.json'), JSON.stringify(config));
    const conn = new PostgresDriver({ url: db.url, max: 1 });
    await migrate(conn);
    const at = new Date().toISOString();
    await new DeadLetters(conn).write(
      Array.from({ length: 3 }, (_, i) => ({ stream: 'hooks', destination: 'webhook', source_tenant: 'acme', tenant: 'acme', code: i === 2 ? 'http_500' : 'http_410', reason: 'HTTP 410', record_id: `cli-${i}`, record: { n: i, at }, attempts: 2 })),
    );
    await conn.close();
  });
  after(async () => {
    await hook.close();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });
  // Asynchronous: the webhook receiver runs in this process and must answer while the command waits.
  const sluice = (...args: string[]) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((done) => {
      const child = spawn(process.execPath, [join(root, 'bin/sluice.js'), 'dlq', ...args, '--config', join(dir, 'sluice.config.json')], {
        cwd: dir,
        timeout: 60_000,
        env: storeEnv(db, { TEST_DLQ_HOOK_SECRET: 'whsec_cli' }),
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d));
      child.stderr.on('data', (d: Buffer) => (stderr += d));
      child.on('close', (status) => done({ status, stdout, stderr }));
    });

  it('lists and shows with filters, redrives and delivers when no process runs, and purges', async () => {
    const list = await sluice('list', '--code', 'http_410', '--json');
    assert.equal(list.status, 0, list.stderr);
    const rows = JSON.parse(list.stdout) as Array<{ id: number; record_id: string; attempts: number }>;
    assert.deepEqual(rows.map((r) => r.record_id).sort(), ['cli-0', 'cli-1']);
    const show = await sluice('show', String(rows[0].id));
    assert.equal(show.status, 0, show.stderr);
    assert.match(show.stdout, /record cli-\d: \{"n":\d/);

    const redrive = await sluice('redrive', '--code', 'http_410');
    assert.equal(redrive.status, 0, redrive.stderr);
    assert.match(redrive.stdout, /sent 2 dead letters back to their streams \(hooks: 2\)/);
    assert.match(redrive.stdout, /0 dead letters pending for this filter/);
    assert.deepEqual([...hook.unique.keys()].sort(), ['cli-0', 'cli-1']);
    assert.match((await sluice('redrive', '--code', 'http_410')).stdout, /sent 0 dead letters/);

    const bad = await sluice('list', '--since', 'last week');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /since must be an ISO 8601 date-time/);
    const unfiltered = await sluice('purge');
    assert.equal(unfiltered.status, 2);
    assert.match(unfiltered.stderr, /purge needs a filter, or --everything/);
    const purge = await sluice('purge', '--everything', '--all');
    assert.equal(purge.status, 0, purge.stderr);
    assert.match(purge.stdout, /purged 3 dead letters/);
  });
});
