// The erasure fence (src/privacy/fence.ts), on PGlite and on PostgreSQL: an erasure that
// commits between a batch's check against the suppression list and its write does not let the
// subject's records land (the write fails the fence, the stream checks the batch again and writes
// the others); an erasure waits for a fenced write in flight and deletes what it wrote; records
// processed before (a redriven dead letter, an archived line) are checked against the list too.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { parseKeyRing, Pseudonymizer } from '../../src/core/privacy/pseudonymizer.ts';
import type { Destination } from '../../src/destinations/destination.ts';
import { createMetricsDestination } from '../../src/destinations/metrics/index.ts';
import { MetricsStore } from '../../src/destinations/metrics/metrics-store.ts';
import { createTableDestination } from '../../src/destinations/table/index.ts';
import { DeadLetters } from '../../src/pipeline/dead-letters.ts';
import { ErrorOutput } from '../../src/pipeline/error-output.ts';
import { StreamCounters } from '../../src/pipeline/stream-counters.ts';
import { Stream } from '../../src/pipeline/stream.ts';
import { Eraser } from '../../src/privacy/erasure.ts';
import { SuppressionList } from '../../src/privacy/suppression.ts';
import { epochChecked, erasedSince, fenceStep } from '../../src/privacy/fence.ts';
import { archiveStore, createArchiveDestination, type ArchiveStore } from '../../src/destinations/archive/index.ts';
import { createPseudonymize } from '../../src/processors/pseudonymize.ts';
import { VARIANTS, type TestDatabase } from '../support/databases.ts';

const ring = parseKeyRing('k1:fence-secret-0123456789');
const HOUR = 3_600_000;
const at = new Date(Math.floor(Date.now() / HOUR) * HOUR - HOUR).toISOString();
const record = (id: string, user: string) => ({ metric_name: 'uploads', metadata: { tenant_id: 'acme', event_id: id, event_time: at, user_id: user }, data: { n: 1 } });

/** A promise and its resolve. */
function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

for (const variant of VARIANTS) {
  describe(`erasure fence on ${variant.name}`, () => {
    let t: TestDatabase;
    let eraser: Eraser;
    const destinations: Record<'table' | 'metrics', Destination> = {} as Record<'table' | 'metrics', Destination>;
    before(async () => {
      t = await variant.open();
      destinations.table = createTableDestination(
        { type: 'table', table: 'fenced', columns: { id: { type: 'text', from: '$.metadata.event_id' }, user_id: { type: 'text', from: '$.metadata.user_id', subject: 'user_id' } }, primary_key: ['id'] },
        { db: t.db },
      );
      destinations.metrics = createMetricsDestination({ type: 'metrics' }, { db: t.db, subjectDimensions: ['user_id'] });
      for (const d of Object.values(destinations)) await d.open!();
      const metrics = new MetricsStore(t.db, { subjectDimensions: ['user_id'] });
      eraser = new Eraser(t.db, { rings: [ring], tables: [{ table: 'fenced', subjects: new Map([['user_id', ['user_id']]]) }], hashedFields: ['user_id'], archives: [], vendors: [] }, metrics);
    });
    after(() => t.drop());

    /** Rows of `user` (raw id) in each place. */
    async function stored(user: string): Promise<{ table: number; metrics: number }> {
      const p = new Pseudonymizer(ring, {}).pseudonym(user);
      const [a] = await t.db.query<{ n: number }>('select count(*)::int as n from bi.fenced where user_id = $1', [p]);
      const [b] = await t.db.query<{ n: number }>("select count(*)::int as n from sluice.metric_points where dimensions->>'user_id' = $1", [p]);
      return { table: a.n, metrics: b.n };
    }

    /** A stream into `destination` whose writes wait at `gate` once `entered` says a write began. */
    function stream(destination: Destination, gate: Promise<void>, entered: () => void) {
      const counters = new StreamCounters();
      const suppression = new SuppressionList(t.db); // as the runtime checks it (held in memory)
      const gated: Destination = {
        ...destination,
        write: async (records, batch) => {
          entered();
          await gate;
          return destination.write(records, batch);
        },
      };
      const s = new Stream({
        name: `fenced-${destination.kind}`,
        buffer: { max_records: 100, max_bytes: 1e9, interval_seconds: 0 },
        processors: [createPseudonymize({ type: 'pseudonymize', key: { env: 'UNUSED' }, fields: { 'metadata.user_id': 'hash' } }, ring, (ps) => suppression.check(ps))],
        destination: gated,
        errors: new ErrorOutput(t.db),
        deadLetters: new DeadLetters(t.db),
        counters,
        warn: () => {},
      });
      return { s, counters };
    }

    for (const kind of ['table', 'metrics'] as const) {
      it(`an erasure between a batch's check and its ${kind} write keeps the subject out; the rest is written`, async () => {
        const user = `overtaken-${kind}@example.com`;
        const gate = deferred();
        const entered = deferred();
        const { s, counters } = stream(destinations[kind], gate.promise, entered.resolve);
        for (let i = 0; i < 6; i++) s.push({ id: `${kind}-o-${i}`, source_tenant: 'acme', value: record(`${kind}-o-${i}`, i % 2 === 0 ? user : `kept-${kind}@example.com`), bytes: 100, at, done: () => {} });
        await entered.promise; // checked against the list (nothing erased yet), not written
        const erased = await eraser.erase(user, 'user_id', { dryRun: false });
        assert.equal(erased.counts[kind === 'table' ? 'bi.fenced' : 'metric_points'], 0, 'nothing of the batch was written yet');
        gate.resolve();
        await s.drain();
        assert.deepEqual(await stored(user), { table: 0, metrics: 0 });
        assert.equal((await stored(`kept-${kind}@example.com`))[kind], 3);
        assert.equal(counters.get(s.name, 'dropped', 'pseudonymize'), 3);
        assert.equal(counters.get(s.name, 'ok'), 3);
      });
    }

    it("an erasure between a batch's check and its write to an archive keeps the subject out of the object", async () => {
      const folder = mkdtempSync(join(tmpdir(), 'sluice-fenced-archive-'));
      try {
        const archive = epochChecked(createArchiveDestination({ type: 'archive', location: folder }), t.db);
        const user = 'overtaken-archive@example.com';
        const gate = deferred();
        const entered = deferred();
        const { s, counters } = stream(archive, gate.promise, entered.resolve);
        for (let i = 0; i < 6; i++) s.push({ id: `archive-o-${i}`, source_tenant: 'acme', value: record(`archive-o-${i}`, i % 2 === 0 ? user : 'kept-archive@example.com'), bytes: 100, at, done: () => {} });
        await entered.promise;
        const [{ epoch }] = await t.db.query<{ epoch: number }>('select n::float8 as epoch from sluice.erasure_epoch');
        await eraser.erase(user, 'user_id', { dryRun: false }); // its archive pass (none here) found nothing of the batch
        gate.resolve();
        await s.drain();
        const store = archiveStore({ location: folder });
        const lines: string[] = [];
        for await (const key of store.keys()) lines.push(...gunzipSync(await store.get(key)).toString('utf8').trim().split('\n'));
        const p = new Pseudonymizer(ring, {});
        assert.equal(lines.length, 3);
        assert.ok(lines.every((l) => l.includes(p.pseudonym('kept-archive@example.com')) && !l.includes(p.pseudonym(user))), lines.join('\n'));
        assert.equal(counters.get(s.name, 'dropped', 'pseudonymize'), 3);
        // A batch checked before an erasure is refused as a table's fenced write is.
        await assert.rejects(archive.write([], { stream: 'x', id: 'y', at, erasureEpoch: epoch }), (e) => erasedSince(e));
      } finally {
        rmSync(folder, { recursive: true, force: true });
      }
    });

    it('an erasure that commits while an archive object is being written: the subject is removed from it after the write', async () => {
      const folder = mkdtempSync(join(tmpdir(), 'sluice-fenced-archive-'));
      try {
        const plain = archiveStore({ location: folder });
        const putting = deferred();
        const written = deferred();
        const gated: ArchiveStore = { ...plain, keys: () => plain.keys(), put: async (key, body) => (putting.resolve(), await written.promise, plain.put(key, body)) };
        const archive = epochChecked(createArchiveDestination({ type: 'archive', location: folder }, t.db, gated), t.db);
        const user = 'mid-write@example.com';
        const { s, counters } = stream(archive, Promise.resolve(), () => {});
        for (let i = 0; i < 6; i++) s.push({ id: `mid-${i}`, source_tenant: 'acme', value: record(`mid-${i}`, i % 2 === 0 ? user : 'kept-mid@example.com'), bytes: 100, at, done: () => {} });
        await putting.promise; // past the epoch check before the write: the object is being written
        await eraser.erase(user, 'user_id', { dryRun: false }); // (its pass over the archive would not find the object yet)
        written.resolve();
        await s.drain();
        const lines: string[] = [];
        for await (const key of plain.keys()) lines.push(...gunzipSync(await plain.get(key)).toString('utf8').trim().split('\n'));
        const p = new Pseudonymizer(ring, {});
        assert.equal(lines.length, 3, lines.join('\n'));
        assert.ok(lines.every((l) => l.includes(p.pseudonym('kept-mid@example.com'))), lines.join('\n'));
        // The first batch (written while the erasure committed) holds some of the subject's records:
        // delivered, then removed; later batches were checked after the erasure and drop them.
        const ok = counters.get(s.name, 'ok');
        assert.equal(ok + counters.get(s.name, 'dropped', 'pseudonymize'), 6);
        assert.ok(ok > 3, `some of the subject's records were in the object being written (${ok} delivered)`);
      } finally {
        rmSync(folder, { recursive: true, force: true });
      }
    });

    it('a fenced write fails once an erasure committed after its check, and an erasure waits for a fenced write in flight', async () => {
      const [{ epoch }] = await t.db.query<{ epoch: number }>('select n::float8 as epoch from sluice.erasure_epoch');
      await t.db.batch([fenceStep(epoch)]); // no erasure since: passes
      await eraser.erase('someone@example.com', 'user_id', { dryRun: true });
      await t.db.batch([fenceStep(epoch)]); // a dry run erases nothing: still passes
      const user = 'in-flight@example.com';
      const pseudonym = new Pseudonymizer(ring, {}).pseudonym(user);
      const release = deferred();
      const locked = deferred();
      const writing = t.db.transaction(async (tx) => {
        const fence = fenceStep(epoch);
        await tx.query(fence.sql, fence.params);
        await tx.query("insert into bi.fenced (id, user_id) values ('in-flight', $1)", [pseudonym]);
        locked.resolve();
        await release.promise;
      });
      await locked.promise;
      let done = false;
      const erasing = eraser.erase(user, 'user_id', { dryRun: false }).then((r) => ((done = true), r));
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(done, false, 'the erasure waits for the write in flight');
      release.resolve();
      await writing;
      const erased = await erasing;
      assert.equal(erased.counts['bi.fenced'], 1, 'and then deletes what it wrote');
      await assert.rejects(t.db.batch([fenceStep(epoch)]), (e) => erasedSince(e));
    });

    it('records processed before (redriven, archived) of an erased subject are dropped', async () => {
      const user = 'redriven@example.com';
      await eraser.erase(user, 'user_id', { dryRun: false });
      const p = new Pseudonymizer(ring, { 'metadata.user_id': 'hash' });
      const { s, counters } = stream(destinations.table, Promise.resolve(), () => {});
      s.push({ id: 'r-1', source_tenant: 'acme', value: p.apply(record('r-1', user)), bytes: 100, at, processed: true, done: () => {} });
      s.push({ id: 'r-2', source_tenant: 'acme', value: p.apply(record('r-2', 'other@example.com')), bytes: 100, at, processed: true, done: () => {} });
      await s.drain();
      assert.equal((await stored(user)).table, 0);
      assert.equal((await stored('other@example.com')).table, 1);
      assert.equal(counters.get(s.name, 'dropped', 'pseudonymize'), 1);
    });
  });
}
