// Erasure reaches the archives: every object under Data/ and Error/ loses the lines that hold one
// of the subject's pseudonyms (an object left empty is deleted), in a folder and in an
// S3-compatible bucket (s3rver, SigV4 checked); a dry run only counts. With the archive's subject
// index (both stores), only the objects that may hold the subject are read. Then end to end:
// events pseudonymized into an archive, erased through the API, audited with the archive's count.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { archiveKey, archiveStore, createArchiveDestination, removeLines, type ArchiveStore } from '../../src/destinations/archive/index.ts';
import type { DeliveryRecord } from '../../src/destinations/destination.ts';
import { batchInfo } from '../../src/pipeline/stream.ts';
import { TEST_CREDENTIALS } from '../support/fake-aws-json.ts';
import { startS3Server } from '../support/s3-server.ts';
import { VARIANTS } from '../support/databases.ts';
import { postJson, startTestSluice } from '../support/test-sluice.ts';

const AT = '2026-11-20T13:45:07.123Z';
const ALICE = 'k1:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa';
const BOB = 'k1:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
const recs = (users: Array<[string, string]>): DeliveryRecord[] => users.map(([id, user]) => ({ id, source_tenant: 'acme', at: AT, value: { metric_name: 'm', metadata: { user_id: user } } }));

/** Every object of a store with the ids of its lines. */
async function contents(store: ArchiveStore): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for await (const key of store.keys()) {
    out[key.slice(store.prefix.length)] = gunzipSync(await store.get(key)).toString('utf8').trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id);
  }
  return out;
}

/** Three objects: Alice and Bob together, Alice alone, and an Error/ object of Bob's. */
async function fill(location: string, endpoint?: string): Promise<Record<string, string>> {
  const d = createArchiveDestination({ type: 'archive', location, endpoint });
  const both = recs([['a1', ALICE], ['b1', BOB]]);
  const alone = recs([['a2', ALICE], ['a3', ALICE]]);
  const both2 = batchInfo('raw', both);
  const alone2 = batchInfo('raw', alone);
  await d.write(both, both2);
  await d.write(alone, alone2);
  await d.writeFailures!([{ record_id: 'b2', code: 'schema_invalid', reason: 'r', record: { user_id: BOB } } as never], both2);
  return { both: archiveKey('', 'Data', both2), alone: archiveKey('', 'Data', alone2), error: archiveKey('', { error: 'schema_invalid' }, both2) };
}

async function erasesLines(store: ArchiveStore, keys: Record<string, string>): Promise<void> {
  const before = await contents(store);
  assert.deepEqual(before, { [keys.both]: ['a1', 'b1'], [keys.alone]: ['a2', 'a3'], [keys.error]: ['b2'] });
  assert.deepEqual(await removeLines(store, [[ALICE, 'k2:not-in-any-line']], true), [3], 'a dry run counts');
  // One pass for several subjects counts each; a needle of another shape is found too.
  assert.deepEqual(await removeLines(store, [[BOB], ['k1:' + 'c'.repeat(32)], [ALICE], ['"b2"']], true), [2, 0, 3, 0]);
  assert.deepEqual(await removeLines(store, [['"b2"']], true), [1]);
  // Past a few needles, one scan of each object finds them all (a map lookup per pseudonym-shaped run).
  const many = [...Array.from({ length: 20 }, (_, i) => [`k1:${i.toString(16).padStart(32, 'e')}`]), [BOB], ['"b2"'], [ALICE]];
  assert.deepEqual(await removeLines(store, many, true), [...Array.from({ length: 20 }, () => 0), 2, 0, 3]);
  assert.deepEqual(await contents(store), before, 'a dry run changes nothing');
  assert.deepEqual(await removeLines(store, [[ALICE, 'k2:not-in-any-line']], false), [3]);
  assert.deepEqual(await contents(store), { [keys.both]: ['b1'], [keys.error]: ['b2'] }, 'the object of Alice alone is deleted');
  assert.deepEqual(await removeLines(store, [[ALICE]], false), [0], 'idempotent');
  assert.deepEqual(await removeLines(store, [[BOB]], false), [2]);
  assert.deepEqual(await contents(store), {});
}

describe('erasure in archives', () => {
  it('a folder archive', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-erase-archive-'));
    try {
      const keys = await fill(dir);
      await erasesLines(archiveStore({ location: dir }), keys);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('an S3 archive', () => {
    let s3: Awaited<ReturnType<typeof startS3Server>>;
    before(async () => {
      s3 = await startS3Server(['archive']);
      process.env.AWS_ACCESS_KEY_ID = TEST_CREDENTIALS.accessKeyId;
      process.env.AWS_SECRET_ACCESS_KEY = TEST_CREDENTIALS.secretAccessKey;
    });
    after(() => s3.close());

    it('lists, rewrites and deletes objects under the prefix only', async () => {
      const keys = await fill('s3://archive/firehose', s3.url);
      // An object of another prefix in the same bucket is not the archive's.
      const other = createArchiveDestination({ type: 'archive', location: 's3://archive/other', endpoint: s3.url });
      const elsewhere = recs([['x1', ALICE]]);
      await other.write(elsewhere, batchInfo('raw', elsewhere));
      await erasesLines(archiveStore({ location: 's3://archive/firehose', endpoint: s3.url }), keys);
      assert.deepEqual(Object.values(await contents(archiveStore({ location: 's3://archive/other', endpoint: s3.url }))), [['x1']]);
    });
  });

  for (const variant of VARIANTS) {
    it(`with the subject index on ${variant.name}, reads only the objects that may hold the subject, and learns the others`, async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sluice-erase-index-'));
      const t = await variant.open();
      try {
        const CAROL = 'k2:cccccccccccccccccccccccccccccccc';
        const indexed = createArchiveDestination({ type: 'archive', location: dir }, t.db);
        const write = async (d: typeof indexed, users: Array<[string, string]>) => {
          const r = recs(users);
          const b = batchInfo('raw', r);
          await d.write(r, b);
          return archiveKey('', 'Data', b);
        };
        const both = await write(indexed, [['a1', ALICE], ['b1', BOB]]);
        const alone = await write(indexed, [['a2', ALICE], ['a3', ALICE]]);
        const carol = await write(indexed, [['c1', CAROL]]);
        // Written without the index (`subject_index: false`, or before the index existed): unknown to it.
        const legacy = await write(createArchiveDestination({ type: 'archive', location: dir, subject_index: false }, t.db), [['a4', ALICE], ['d1', 'k1:' + 'd'.repeat(32)]]);
        const plain = archiveStore({ location: dir });
        const reads: string[] = [];
        const counted: ArchiveStore = { ...plain, keys: () => plain.keys(), get: (key) => (reads.push(key), plain.get(key)) };
        const index = { db: t.db, stream: 'raw' };
        const read = async (groups: string[][], dryRun: boolean) => {
          reads.length = 0;
          const removed = await removeLines(counted, groups, dryRun, index);
          return { removed, reads: [...reads].sort() };
        };
        assert.deepEqual(await read([[ALICE]], true), { removed: [4], reads: [both, alone, legacy].sort() }, "Alice's objects and the unknown one, not Carol's");
        assert.deepEqual(await read([[CAROL]], true), { removed: [1], reads: [carol] }, 'the unknown object was learnt as it was read');
        assert.deepEqual(await read([[BOB], ['k1:' + 'e'.repeat(32)]], true), { removed: [1, 0], reads: [both] });
        assert.deepEqual((await read([['"b1"']], true)).reads, [both, alone, carol, legacy].sort(), 'a needle that is not a pseudonym reads everything');
        assert.deepEqual(await read([[ALICE]], false), { removed: [4], reads: [both, alone, legacy].sort() });
        assert.deepEqual(await contents(plain), { [both]: ['b1'], [carol]: ['c1'], [legacy]: ['d1'] });
        const objects = await t.db.query<{ key: string }>("select key from sluice.archive_objects where stream = 'raw' order by key");
        assert.deepEqual(objects.map((o) => o.key), [both, carol, legacy].sort(), 'a deleted object leaves the index');
        assert.deepEqual(await read([[ALICE]], false), { removed: [0], reads: [] }, 'idempotent, and the rewritten objects no longer list Alice');
        assert.deepEqual(await read([[BOB]], true), { removed: [1], reads: [both] }, 'a rewritten object still lists the subjects it holds');
      } finally {
        await t.drop();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it('through a running Sluice: the erasure answer and audit count the archive lines removed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-erase-archive-'));
    process.env.SLUICE_TEST_ARCHIVE_KEYS = 'k1:archive-secret-0123456789';
    const s = await startTestSluice('PGlite', {
      rules: [{ name: 'all', pattern: { source: ['shop'] }, targets: [{ stream: 'raw', input_path: '$.detail' }] }],
      streams: {
        raw: {
          buffer: { max_records: 100, interval_seconds: 0 },
          processors: [{ type: 'pseudonymize', key: { env: 'SLUICE_TEST_ARCHIVE_KEYS' }, fields: { user_id: 'hash' } }],
          destination: { type: 'archive', location: dir },
        },
      },
    });
    try {
      const ingest = (await s.keys.create('acme', 'ingest')).key;
      const admin = (await s.keys.create('*', 'admin')).key;
      const sale = (id: string, user: string) => ({ source: 'shop', 'detail-type': 'sale', detail: { id, user_id: user, amount: 3 } });
      const sent = await postJson(`${s.url}/v1/events`, ingest, [sale('s1', 'alice@example.com'), sale('s2', 'bob@example.com'), sale('s3', 'alice@example.com')]);
      assert.equal(sent.status, 200);
      await s.pipeline.whenIdle();
      const files = () => {
        const out: string[] = [];
        const walk = (d: string) => readdirSync(d, { withFileTypes: true }).forEach((e) => (e.isDirectory() ? walk(join(d, e.name)) : out.push(relative(dir, join(d, e.name)))));
        walk(dir);
        return out;
      };
      const archived = () => files().flatMap((f) => gunzipSync(readFileSync(join(dir, f))).toString('utf8').trim().split('\n')).map((l) => (JSON.parse(l) as { record: { id: string } }).record.id).sort();
      assert.deepEqual(archived(), ['s1', 's2', 's3']);
      assert.ok(!files().some((f) => readFileSync(join(dir, f)).length === 0));

      const dry = await postJson(`${s.url}/v1/admin/erasures`, admin, { subject: 'alice@example.com', dry_run: true });
      assert.equal(dry.status, 200, JSON.stringify(dry.body));
      assert.equal(dry.body.counts['archive.raw'], 2);
      assert.deepEqual(archived(), ['s1', 's2', 's3']);
      const res = await postJson(`${s.url}/v1/admin/erasures`, admin, { subject: 'alice@example.com' });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.counts['archive.raw'], 2);
      assert.deepEqual(archived(), ['s2']);
      const audit = await s.db.query<{ dry_run: boolean; counts: Record<string, number> }>('select dry_run, counts from sluice.erasures order by id');
      assert.deepEqual(audit.map((a) => [a.dry_run, a.counts['archive.raw']]), [[true, 2], [false, 2]]);
    } finally {
      await s.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
