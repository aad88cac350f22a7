// The segment, mixpanel and webhook destinations against local servers that check every request
// against the vendor's published API and fail on demand.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { BatchInfo, DeliveryRecord, Destination } from '../../src/destinations/destination.ts';
import { backoffMs, retryAfterMs } from '../../src/destinations/http/forwarder.ts';
import { createMixpanelDestination, insertId } from '../../src/destinations/mixpanel/index.ts';
import { createSegmentDestination } from '../../src/destinations/segment/index.ts';
import { createWebhookDestination } from '../../src/destinations/webhook/index.ts';
import { startFakeMixpanel, startFakeSegment, startFakeWebhook, type FakeVendor } from '../support/fake-vendors.ts';

const BATCH: BatchInfo = { stream: 'out', id: 'b1', at: new Date().toISOString() };

function records(n: number, opts: { prefix?: string; pad?: number; poison?: (i: number) => boolean } = {}): DeliveryRecord[] {
  const at = new Date().toISOString();
  return Array.from({ length: n }, (_, i) => ({
    id: `${opts.prefix ?? 'evt'}-${i}:rule:1`,
    source_tenant: 'acme',
    at,
    value: {
      metric_name: 'checkout_completed',
      metadata: { tenant_id: 'acme', event_time: at, user_id: `k1:${String(i).padStart(32, '0')}` },
      data: { amount: i, note: 'x'.repeat(opts.pad ?? 0), ...(opts.poison?.(i) ? { poison: true } : {}) },
    },
  }));
}

async function opened(d: Destination): Promise<Destination> {
  await d.open!();
  return d;
}

describe('retry timing', () => {
  it('reads Retry-After as seconds or an HTTP date', () => {
    assert.equal(retryAfterMs('3'), 3000);
    assert.equal(retryAfterMs(new Date(Date.now() + 5000).toUTCString(), Date.now()) ! > 3000, true);
    assert.equal(retryAfterMs('soon'), undefined);
    assert.equal(retryAfterMs(null), undefined);
  });
  it('backs off with full jitter under an exponential ceiling, never below what the server asked', () => {
    assert.equal(backoffMs(1, undefined, () => 0.999), 499);
    assert.equal(backoffMs(4, undefined, () => 0.999), 3996);
    assert.equal(backoffMs(20, undefined, () => 0.999), 29_970);
    assert.equal(backoffMs(1, undefined, () => 0), 0);
    assert.equal(backoffMs(1, 2000, () => 0.5), 2000);
  });
});

describe('segment destination', () => {
  let fake: FakeVendor;
  before(async () => {
    fake = await startFakeSegment('wk_test');
    process.env.TEST_SEGMENT_KEY = 'wk_test';
  });
  after(() => fake.close());
  const segment = (extra: Record<string, unknown> = {}) =>
    opened(createSegmentDestination({ type: 'segment', write_key: { env: 'TEST_SEGMENT_KEY' }, endpoint: fake.url, retry_seconds: 20, timeout_seconds: 1, ...extra }));

  it('sends track calls with messageId from the record id, in batches within 500 KB', async () => {
    const d = await segment();
    const recs = records(300, { prefix: 'seg', pad: 3000 });
    assert.deepEqual(await d.write(recs, BATCH), []);
    assert.deepEqual(fake.violations, []);
    assert.equal(fake.unique.size, 300);
    assert.ok(fake.requests.length >= 2, 'about 1 MB of calls takes more than one batch');
    const m = fake.unique.get('seg-7:rule:1') as Record<string, unknown>;
    assert.equal(m.event, 'checkout_completed');
    assert.equal(m.userId, `k1:${'7'.padStart(32, '0')}`);
    assert.deepEqual((m.properties as Record<string, unknown>).amount, 7);
  });

  it('retries 500s, 429 with Retry-After, timeouts and dropped connections; sends each call once more at most', async () => {
    const d = await segment();
    const before = fake.requests.length;
    fake.failNext(1, { status: 500 });
    fake.failNext(1, { status: 429, retryAfter: '1' });
    fake.failNext(1, 'hang');
    fake.failNext(1, 'reset');
    const started = Date.now();
    assert.deepEqual(await d.write(records(50, { prefix: 'retry' }), BATCH), []);
    assert.ok(Date.now() - started >= 1000, 'Retry-After was honoured');
    assert.deepEqual(fake.requests.slice(before).map((r) => r.status), [500, 429, 'hang', 'reset', 200]);
    assert.equal([...fake.unique.keys()].filter((k) => k.startsWith('retry-')).length, 50);
  });

  it('does not retry a 401: the batch is refused with the reason', async () => {
    const d = await segment();
    const before = fake.requests.length;
    fake.failNext(1, { status: 401, body: '{"error":"invalid write key"}' });
    const failures = await d.write(records(3, { prefix: 'auth' }), BATCH);
    assert.deepEqual(failures.map((f) => [f.index, f.code, f.attempts]), [[0, 'http_401', 1], [1, 'http_401', 1], [2, 'http_401', 1]]);
    assert.match(failures[0].reason, /HTTP 401: \{"error":"invalid write key"\}/);
    assert.equal(fake.requests.length - before, 1);
  });

  it('refuses a call over 32 KB or without an identity before sending, and sends the rest', async () => {
    const d = await segment();
    const recs = records(3, { prefix: 'size' });
    (recs[0].value as { data: Record<string, unknown> }).data.blob = 'y'.repeat(40_000);
    delete (recs[2].value as { metadata: Record<string, unknown> }).metadata.user_id;
    const failures = await d.write(recs, BATCH);
    assert.deepEqual(failures.map((f) => [f.index, f.code]), [[0, 'message_too_large'], [2, 'missing_identity']]);
    assert.ok(fake.unique.has('size-1:rule:1'));
    assert.deepEqual(fake.violations, []);
  });

  it('gives up when the retry window closes, with the attempts made', async () => {
    const d = await segment({ retry_seconds: 2 });
    fake.outage(4000);
    const failures = await d.write(records(2, { prefix: 'down' }), BATCH);
    assert.deepEqual(failures.map((f) => f.code), ['retries_exhausted', 'retries_exhausted']);
    assert.ok(failures[0].attempts! >= 2);
    assert.match(failures[0].reason, /HTTP 503.*gave up after \d+ attempts/);
    fake.outage(0);
  });

  it('will not start without its write key', async () => {
    const d = createSegmentDestination({ type: 'segment', write_key: { env: 'NO_SUCH_SEGMENT_KEY' }, endpoint: fake.url });
    await assert.rejects(d.open!(), /the Segment write key \(environment variable NO_SUCH_SEGMENT_KEY\) is not set/);
  });
});

describe('mixpanel destination', () => {
  let fake: FakeVendor;
  before(async () => {
    fake = await startFakeMixpanel({ token: 'tok_test' });
    process.env.TEST_MIXPANEL_TOKEN = 'tok_test';
  });
  after(() => fake.close());

  it('imports gzip batches of at most 2,000 events, with $insert_id from the record id', async () => {
    const d = await opened(createMixpanelDestination({ type: 'mixpanel', project_token: { env: 'TEST_MIXPANEL_TOKEN' }, endpoint: fake.url }));
    assert.deepEqual(await d.write(records(4500, { prefix: 'mp' }), BATCH), []);
    assert.deepEqual(fake.violations, []);
    assert.deepEqual(fake.requests.map((r) => r.messages).sort((a, b) => b - a), [2000, 2000, 500]);
    assert.equal(fake.unique.size, 4500);
    const id = insertId('mp-9:rule:1');
    assert.match(id, /^[0-9a-f]{32}$/, 'an id with ":" is hashed into what Mixpanel accepts');
    const e = fake.unique.get(id) as { event: string; properties: Record<string, unknown> };
    assert.equal(e.event, 'checkout_completed');
    assert.equal(e.properties.distinct_id, `k1:${'9'.padStart(32, '0')}`);
    assert.equal(typeof e.properties.time, 'number');
    // Sent again (a retry after a lost answer): Mixpanel's dedup absorbs it.
    assert.deepEqual(await d.write(records(10, { prefix: 'mp' }), BATCH), []);
    assert.equal(fake.unique.size, 4500);
  });

  it('strict mode: refused events come back by index with Mixpanel\'s reason; the others are imported', async () => {
    const d = await opened(createMixpanelDestination({ type: 'mixpanel', project_token: { env: 'TEST_MIXPANEL_TOKEN' }, endpoint: fake.url }));
    const recs = records(2500, { prefix: 'strict', poison: (i) => i === 3 || i === 2100 });
    const failures = await d.write(recs, BATCH);
    assert.deepEqual(failures.map((f) => [f.index, f.code]), [[3, 'mixpanel_invalid'], [2100, 'mixpanel_invalid']]);
    assert.match(failures[0].reason, /^properties\.poison: /);
    assert.ok(fake.unique.has(insertId('strict-2101:rule:1')));
    assert.ok(!fake.unique.has(insertId('strict-2100:rule:1')));
  });

  it('authenticates a service account with the project id', async () => {
    const sa = await startFakeMixpanel({ serviceAccount: { username: 'sluice.sa', secret: 'sa-secret', projectId: '12345' } });
    try {
      process.env.TEST_MIXPANEL_SA = 'sa-secret';
      const d = await opened(createMixpanelDestination({ type: 'mixpanel', service_account: { username: 'sluice.sa', secret: { env: 'TEST_MIXPANEL_SA' }, project_id: '12345' }, endpoint: sa.url }));
      assert.deepEqual(await d.write(records(5), BATCH), []);
      assert.equal(sa.unique.size, 5);
      const wrong = await opened(createMixpanelDestination({ type: 'mixpanel', service_account: { username: 'sluice.sa', secret: { env: 'TEST_MIXPANEL_SA' }, project_id: '999' }, endpoint: sa.url }));
      assert.deepEqual((await wrong.write(records(1), BATCH)).map((f) => f.code), ['http_401']);
    } finally {
      await sa.close();
    }
  });
});

describe('webhook destination', () => {
  let fake: FakeVendor;
  before(async () => {
    fake = await startFakeWebhook('whsec_test');
    process.env.TEST_WEBHOOK_SECRET = 'whsec_test';
  });
  after(() => fake.close());

  it('signs each request so the receiver can verify it, and halves a refused request to find the record at fault', async () => {
    const d = await opened(createWebhookDestination({ type: 'webhook', url: `${fake.url}/hook`, secret: { env: 'TEST_WEBHOOK_SECRET' }, max_request_records: 100 }));
    const failures = await d.write(records(250, { prefix: 'wh', poison: (i) => i === 130 }), BATCH);
    assert.deepEqual(failures.map((f) => [f.index, f.code]), [[130, 'http_422']]);
    assert.equal(fake.unique.size, 249);
    assert.deepEqual(fake.violations, []);
  });

  it('a receiver with another secret refuses it: 401, not retried', async () => {
    process.env.TEST_WEBHOOK_OTHER = 'not-the-secret';
    const d = await opened(createWebhookDestination({ type: 'webhook', url: fake.url, secret: { env: 'TEST_WEBHOOK_OTHER' } }));
    const before = fake.requests.length;
    assert.deepEqual((await d.write(records(2, { prefix: 'forged' }), BATCH)).map((f) => f.code), ['http_401', 'http_401']);
    assert.equal(fake.requests.length - before, 1);
  });
});
