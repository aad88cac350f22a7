// A stream's Firehose semantics: flush on count, bytes or interval (whichever first) and on
// drain; processors in order; failures to the durable error output (after the privacy policy);
// a destination that is down is retried, never dropped; records are acknowledged only at the end.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DeliveryRecord, Destination } from '../../src/destinations/destination.ts';
import { parseKeyRing } from '../../src/core/privacy/pseudonymizer.ts';
import { DeadLetters } from '../../src/pipeline/dead-letters.ts';
import { ErrorOutput } from '../../src/pipeline/error-output.ts';
import { StreamCounters } from '../../src/pipeline/stream-counters.ts';
import { Stream, type BufferLimits, type StreamRecord } from '../../src/pipeline/stream.ts';
import { fetchSize } from '../../src/runtime/worker.ts';
import { createPseudonymize } from '../../src/processors/pseudonymize.ts';
import { createValidate } from '../../src/processors/validate.ts';
import { migrate } from '../../src/store/migrations.ts';
import { PgliteDriver } from '../../src/store/pglite-driver.ts';

describe('stream', () => {
  let db: PgliteDriver;
  before(async () => {
    db = await PgliteDriver.open(undefined);
    await migrate(db);
  });
  after(() => db.close());

  function setup(buffer: BufferLimits, opts: { failTimes?: number; name?: string; concurrency?: number; writeMs?: number } = {}) {
    const batches: DeliveryRecord[][] = [];
    let failures = opts.failTimes ?? 0;
    const writing = { now: 0, most: 0 };
    const destination: Destination = {
      kind: 'test',
      concurrency: opts.concurrency,
      async write(records) {
        if (failures-- > 0) throw Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' });
        writing.most = Math.max(writing.most, ++writing.now);
        if (opts.writeMs) await sleep(opts.writeMs);
        writing.now--;
        batches.push(records);
        return [];
      },
    };
    const counters = new StreamCounters();
    const warnings: string[] = [];
    const stream = new Stream({
      name: opts.name ?? 's',
      buffer,
      processors: [createValidate({ type: 'validate' }), createPseudonymize({ type: 'pseudonymize', key: { env: 'X' }, fields: { 'metadata.user_id': 'hash' } }, parseKeyRing('k1:0123456789abcdef0123'))],
      destination,
      errors: new ErrorOutput(db),
      deadLetters: new DeadLetters(db),
      counters,
      warn: (m) => warnings.push(m),
    });
    const acked: string[] = [];
    const push = (id: string, value: unknown = metric(id), bytes = 100) => stream.push({ id, source_tenant: 'acme', value, bytes, at: '2026-11-20T10:00:00.000Z', done: () => acked.push(id) } satisfies StreamRecord);
    return { stream, batches, counters, warnings, acked, push, writing };
  }
  const metric = (id: string, user = 'alice@example.com') => ({ metric_name: 'm', metadata: { tenant_id: 'acme', event_id: id, event_time: '2026-11-20T10:00:00Z', user_id: user }, data: { n: 1 } });
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('flushes when the record count is reached, in batches of at most max_records', async () => {
    const t = setup({ max_records: 3, max_bytes: 1e9, interval_seconds: 60 });
    for (let i = 0; i < 7; i++) t.push(`c${i}`);
    await sleep(50);
    assert.deepEqual(t.batches.map((b) => b.length), [3, 3]);
    assert.equal(t.stream.buffered, 1);
    await t.stream.drain();
    assert.deepEqual(t.batches.map((b) => b.length), [3, 3, 1]);
    assert.equal(t.acked.length, 7);
  });

  it('writes one batch at a time unless the destination takes more at once', async () => {
    for (const concurrency of [undefined, 2]) {
      const t = setup({ max_records: 2, max_bytes: 1e9, interval_seconds: 60 }, { concurrency, writeMs: 100 });
      for (let i = 0; i < 9; i++) t.push(`w${i}`);
      await t.stream.drain();
      assert.equal(t.writing.most, concurrency ?? 1, `concurrency ${concurrency}`);
      assert.deepEqual(t.batches.map((b) => b.length).sort(), [1, 2, 2, 2, 2]);
      assert.deepEqual([...t.acked].sort(), Array.from({ length: 9 }, (_, i) => `w${i}`));
    }
  });

  it('a flush due on the interval while every slot is busy starts when one frees', async () => {
    const t = setup({ max_records: 2, max_bytes: 1e9, interval_seconds: 1 }, { writeMs: 1500 });
    t.push('o0');
    t.push('o1'); // full: written at once, for 1.5 s
    await sleep(50);
    t.push('o2'); // its interval passes while o0/o1 are still being written
    await sleep(1700);
    assert.deepEqual(t.batches.map((b) => b.map((r) => r.id)), [['o0', 'o1']]);
    await sleep(1600);
    assert.deepEqual(t.batches.map((b) => b.map((r) => r.id)), [['o0', 'o1'], ['o2']]);
  });

  it('flushes when the byte limit is reached', async () => {
    const t = setup({ max_records: 1000, max_bytes: 250, interval_seconds: 60 });
    for (let i = 0; i < 3; i++) t.push(`b${i}`);
    await sleep(50);
    assert.deepEqual(t.batches.map((b) => b.length), [2]);
    await t.stream.drain();
  });

  it('flushes on the interval when neither limit is reached', async () => {
    const t = setup({ max_records: 1000, max_bytes: 1e9, interval_seconds: 1 });
    t.push('i0');
    await sleep(300);
    assert.equal(t.batches.length, 0);
    await sleep(1000);
    assert.equal(t.batches.length, 1);
    assert.deepEqual(t.acked, ['i0']);
  });

  it('pseudonymizes before delivery, and stores failed records after the privacy policy', async () => {
    const t = setup({ max_records: 10, max_bytes: 1e9, interval_seconds: 0 }, { name: 'privacy' });
    t.push('p1');
    t.push('p2', { ...metric('p2', 'bob@example.com'), metadata: { tenant_id: 'acme', event_time: 'not a time', user_id: 'bob@example.com' } });
    await t.stream.drain();
    const delivered = t.batches.flat().map((r) => r.value as { metadata: { user_id: string } });
    assert.equal(delivered.length, 1);
    assert.match(delivered[0].metadata.user_id, /^k1:/);
    const rows = await db.query<{ code: string; step: string; record: unknown }>("select code, step, record from sluice.stream_errors where stream = 'privacy'");
    assert.equal(rows.length, 1);
    assert.equal(rows[0].code, 'schema_invalid');
    assert.equal(rows[0].step, 'validate');
    assert.doesNotMatch(JSON.stringify(rows[0].record), /bob@example\.com/);
    assert.equal(t.counters.get('privacy', 'failed', 'schema_invalid'), 1);
    assert.equal(t.counters.get('privacy', 'ok'), 1);
    assert.deepEqual(t.acked.sort(), ['p1', 'p2']);
  });

  it('retries a batch the destination cannot take, acknowledging only after it is delivered', async () => {
    const t = setup({ max_records: 10, max_bytes: 1e9, interval_seconds: 0 }, { failTimes: 2 });
    t.push('r1');
    await sleep(100);
    assert.deepEqual(t.acked, [], 'not acknowledged while the destination is down');
    await t.stream.drain();
    assert.deepEqual(t.batches.map((b) => b.map((r) => r.id)), [['r1']]);
    assert.deepEqual(t.acked, ['r1']);
    assert.equal(t.warnings.length, 2);
    assert.doesNotMatch(t.warnings.join(''), /alice/);
  });

  it('a JetStream worker asks for what fits in its room and its freest stream, never more than a busy stream can hold', async () => {
    const busy = setup({ max_records: 100, max_bytes: 1e9, interval_seconds: 60, max_pending_bytes: 1000 });
    const free = setup({ max_records: 100, max_bytes: 1e9, interval_seconds: 60, max_pending_bytes: 1000 });
    for (const id of ['a', 'b', 'c']) busy.push(id, metric(id), 300);
    assert.equal(busy.stream.freeBytes, 100, 'a stream holding 900 of its 1,000 bytes');
    assert.equal(free.stream.freeBytes, 1000);
    const MB = 1 << 20;
    // Sized by the average entry: the busy stream alone takes one 100-byte entry, not a batch.
    assert.equal(fetchSize({ pendingBytes: 900, streams: [busy.stream] }, 16 * MB, 100), 1);
    assert.equal(fetchSize({ pendingBytes: 900, streams: [busy.stream] }, 16 * MB, 50), 2);
    // The freest stream decides: the busy one's records are parked meanwhile.
    assert.equal(fetchSize({ pendingBytes: 900, streams: [busy.stream, free.stream] }, 16 * MB, 100), 10);
    for (const id of ['d', 'e']) busy.push(id, metric(id), 300);
    assert.equal(fetchSize({ pendingBytes: 1500, streams: [busy.stream] }, 16 * MB, 100), 0, 'a full stream alone: nothing');
    // The process's own limit, and the cap per fetch.
    assert.equal(fetchSize({ pendingBytes: 16 * MB, streams: [free.stream] }, 16 * MB, 100), 0);
    assert.equal(fetchSize({ pendingBytes: 0, streams: [] }, 16 * MB, 100), 200, 'without streams, only the room of the process counts');
    await busy.stream.drain();
    assert.equal(busy.stream.freeBytes, 1000, 'delivered, the room is back');
  });
});
