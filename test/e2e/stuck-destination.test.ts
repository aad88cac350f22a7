// A slow or failing destination does not stall the others beyond its own buffer limit: while a
// webhook receiver is down, its stream holds at most `buffer.max_pending_bytes` in memory and
// parks the rest in the intake log; intake keeps accepting and the other stream keeps
// delivering. When the receiver comes back, the parked records reach it, each once.
import assert from 'node:assert/strict';
import { waitUntil } from '../support/sluice-process.ts';
import { after, before, describe, it } from 'node:test';
import type { SluiceConfig } from '../../src/config/config.ts';
import { startFakeWebhook, type FakeVendor } from '../support/fake-vendors.ts';
import { postJson, startTestSluice, STORES, type TestSluice } from '../support/test-sluice.ts';
import type { CreatedKey } from '../../src/auth/api-keys.ts';

const HOOK_LIMIT = 64 * 1024;
const REQUESTS = 40;
const PER_REQUEST = 100;
const TOTAL = REQUESTS * PER_REQUEST;

function config(hookUrl: string): SluiceConfig {
  return {
    rules: [{ name: 'orders', pattern: { source: ['shop'] }, targets: [{ stream: 'fast', input_path: '$.detail' }, { stream: 'hook', input_path: '$.detail' }] }],
    streams: {
      fast: { buffer: { max_records: 500, interval_seconds: 0 }, destination: { type: 'stdout' } },
      hook: {
        buffer: { max_records: 100, max_bytes: 32 * 1024, interval_seconds: 0, max_pending_bytes: HOOK_LIMIT },
        destination: { type: 'webhook', url: hookUrl, secret: { env: 'TEST_STUCK_HOOK_SECRET' }, timeout_seconds: 2, retry_seconds: 900 },
      },
    },
    // Less than the whole load: without parking, the stuck stream would hold it and intake would refuse.
    ingest: { max_pending_bytes: 1024 * 1024 },
  };
}

const order = (r: number, i: number) => ({ source: 'shop', 'detail-type': 'order', detail: { order: `o-${r}-${i}`, note: 'x'.repeat(200), amount: i } });

const expected = new Set(Array.from({ length: TOTAL }, (_, k) => `o-${Math.floor(k / PER_REQUEST)}-${k % PER_REQUEST}`));
/** The orders the stdout destination wrote, one per line (it writes a batch at a time). */
const printed = (s: TestSluice): string[] =>
  s.stdout
    .join('')
    .split('\n')
    .filter(Boolean)
    .map((l) => (JSON.parse(l) as { order: string }).order);

for (const store of STORES) {
  describe(`a stuck destination on ${store}`, () => {
    let s: TestSluice;
    let hook: FakeVendor;
    let ingest: CreatedKey;
    before(async () => {
      process.env.TEST_STUCK_HOOK_SECRET = 'whsec_stuck_destination_test';
      hook = await startFakeWebhook('whsec_stuck_destination_test');
      s = await startTestSluice(store, config(hook.url));
      ingest = await s.keys.create('acme', 'ingest');
    });
    after(async () => {
      hook.outage(0);
      await s.close();
      await hook.close();
    });

    it('holds only its own limit, parks the rest, and the other stream delivers everything', async () => {
      hook.outage(3_600_000);
      let maxHeld = 0;
      const hookStream = s.pipeline.streams.get('hook')!;
      const sample = setInterval(() => (maxHeld = Math.max(maxHeld, hookStream.heldBytes)), 5);
      try {
        for (let r = 0; r < REQUESTS; r++) {
          const res = await postJson(`${s.url}/v1/events`, ingest.key, Array.from({ length: PER_REQUEST }, (_, i) => order(r, i)));
          assert.equal(res.status, 200, `request ${r} was refused: ${JSON.stringify(res.body)}`);
        }
        await waitUntil('every record at the other stream', () => printed(s).length >= TOTAL, 120_000);
        assert.deepEqual(new Set(printed(s)), expected);
        assert.ok(hook.requests.some((q) => q.status === 503), 'the receiver was down and tried');
        assert.equal(hook.accepted, 0);
        const parked = await s.db.query<{ n: number }>("select coalesce(sum(count), 0)::int as n from sluice.intake_log where stream = 'hook' and owner is null");
        assert.ok(parked[0].n > 0, 'records of the stuck stream wait in the intake log');
        // Held: at most the limit plus the record that crossed it.
        assert.ok(maxHeld <= HOOK_LIMIT + 1024, `the stuck stream held ${maxHeld} bytes, over its ${HOOK_LIMIT}`);
        assert.ok(hookStream.heldBytes > 0);
        // Everything else left memory: only the stuck stream's share is pending.
        assert.ok(s.pipeline.pendingBytes <= 2 * HOOK_LIMIT, `pending ${s.pipeline.pendingBytes}`);
        const metrics = await (await fetch(`${s.url}/metrics`)).text();
        assert.match(metrics, /sluice_stream_parked_records_total\{stream="hook"\} [1-9]/);
        assert.match(metrics, /sluice_stream_held_bytes\{stream="hook"\} [1-9]/);
      } finally {
        clearInterval(sample);
      }
    });

    it('when the receiver is back, every parked record reaches it once', async () => {
      hook.outage(0);
      await waitUntil('every record at the webhook', () => hook.unique.size === TOTAL, 120_000);
      assert.equal(hook.accepted, TOTAL, 'no record was delivered twice');
      assert.deepEqual(hook.violations, []);
      assert.deepEqual(new Set([...hook.unique.values()].map((v) => (v as { order: string }).order)), expected);
      await waitUntil('the intake log empty', async () => (await s.db.query('select 1 from sluice.intake_log limit 1')).length === 0, 30_000);
      assert.deepEqual(await s.db.query('select 1 from sluice.dead_letters'), []);
      assert.equal(printed(s).length, TOTAL, 'the other stream got nothing twice');
    });
  });
}
