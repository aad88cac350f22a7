// The archive destination: gzip NDJSON batches under Firehose's Data/ and Error/<code>/ prefixes,
// in a folder and in an S3-compatible bucket (s3rver, with SigV4 checked); a retried upload
// overwrites its own object.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { archiveKey, createArchiveDestination } from '../../src/destinations/archive/index.ts';
import type { DeliveryRecord } from '../../src/destinations/destination.ts';
import { batchInfo } from '../../src/pipeline/stream.ts';
import { TEST_CREDENTIALS } from '../support/fake-aws-json.ts';
import { startS3Server } from '../support/s3-server.ts';
import { postJson, startTestSluice } from '../support/test-sluice.ts';

const AT = '2026-11-20T13:45:07.123Z';
const recs = (ids: string[]): DeliveryRecord[] => ids.map((id, i) => ({ id, source_tenant: 'acme', at: AT, value: { metric_name: 'm', n: i } }));

function files(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else out.push(relative(dir, join(d, e.name)));
    }
  };
  walk(dir);
  return out.sort();
}

const lines = (gz: Buffer) => gunzipSync(gz).toString('utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);

describe('archive destination', () => {
  it('names objects by hour and batch, the same for the same records', () => {
    const a = batchInfo('raw', recs(['a', 'b']));
    assert.equal(a.at, AT);
    assert.match(archiveKey('p/', 'Data', a), /^p\/Data\/2026\/11\/20\/13\/raw-1-2026-11-20-13-45-07-[0-9a-f]{32}\.ndjson\.gz$/);
    assert.equal(archiveKey('', 'Data', batchInfo('raw', recs(['a', 'b']))), archiveKey('', 'Data', a));
    assert.notEqual(archiveKey('', 'Data', batchInfo('raw', recs(['a', 'c']))), archiveKey('', 'Data', a));
    assert.match(archiveKey('', { error: 'schema/invalid' }, a), /^Error\/schema_invalid\/2026\/11\/20\/13\//);
  });

  it('writes a folder; a retried batch overwrites its object', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-archive-'));
    try {
      const d = createArchiveDestination({ type: 'archive', location: dir });
      const batch = recs(['e1:r:1', 'e2:r:1', 'e3:r:1']);
      const info = batchInfo('raw', batch);
      assert.deepEqual(await d.write(batch, info), []);
      assert.deepEqual(await d.write(batch, info), []);
      await d.writeFailures!([{ code: 'schema_invalid', reason: 'data must be object', record_id: 'e4:r:1', record: { metric_name: 'm' } }], info);
      const found = files(dir);
      assert.equal(found.length, 2, found.join(', '));
      assert.match(found[0], /^Data\/2026\/11\/20\/13\/raw-1-/);
      assert.match(found[1], /^Error\/schema_invalid\/2026\/11\/20\/13\/raw-1-/);
      assert.deepEqual(lines(readFileSync(join(dir, found[0]))), batch.map((r) => ({ id: r.id, at: AT, record: r.value })));
      assert.deepEqual(lines(readFileSync(join(dir, found[1]))), [{ id: 'e4:r:1', code: 'schema_invalid', reason: 'data must be object', record: { metric_name: 'm' } }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  describe('in an S3-compatible bucket', () => {
    let s3: Awaited<ReturnType<typeof startS3Server>>;
    let client: S3Client;
    before(async () => {
      s3 = await startS3Server(['archive']);
      process.env.AWS_ACCESS_KEY_ID = TEST_CREDENTIALS.accessKeyId;
      process.env.AWS_SECRET_ACCESS_KEY = TEST_CREDENTIALS.secretAccessKey;
      client = new S3Client({ endpoint: s3.url, forcePathStyle: true, region: 'us-east-1', credentials: TEST_CREDENTIALS });
    });
    after(() => s3.close());
    const keys = async (prefix: string) => ((await client.send(new ListObjectsV2Command({ Bucket: 'archive', Prefix: prefix }))).Contents ?? []).map((o) => o.Key!).sort();
    const object = async (key: string) => Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: 'archive', Key: key }))).Body!.transformToByteArray());

    it('uploads each batch once under its prefix, however often it is retried', async () => {
      const d = createArchiveDestination({ type: 'archive', location: 's3://archive/firehose', endpoint: s3.url });
      const batch = recs(['s1', 's2']);
      const info = batchInfo('raw', batch);
      await d.write(batch, info);
      await d.write(batch, info);
      const found = await keys('firehose/');
      assert.equal(found.length, 1);
      assert.match(found[0], /^firehose\/Data\/2026\/11\/20\/13\/raw-1-2026-11-20-13-45-07-[0-9a-f]{32}\.ndjson\.gz$/);
      assert.deepEqual((await lines(await object(found[0]))).map((l) => l.id), ['s1', 's2']);
    });

    it('through a running Sluice: valid records under Data/, the invalid one under Error/<code>/', async () => {
      const s = await startTestSluice('PGlite', {
        rules: [{ name: 'all', pattern: { source: ['shop'] }, targets: [{ stream: 'raw', input_path: '$.detail' }] }],
        streams: { raw: { buffer: { max_records: 100, interval_seconds: 1 }, processors: [{ type: 'validate' }], destination: { type: 'archive', location: 's3://archive/sluice/', endpoint: s3.url } } },
      });
      try {
        const key = await s.keys.create('acme', 'ingest');
        const now = new Date().toISOString();
        const good = (i: number) => ({ source: 'shop', 'detail-type': 'x', detail: { metric_name: 'order', metadata: { tenant_id: 'acme', event_time: now }, data: { n: i } } });
        const res = await postJson(`${s.url}/v1/events`, key.key, [good(1), good(2), { source: 'shop', 'detail-type': 'x', detail: { metric_name: 'order' } }, good(3)]);
        assert.equal(res.status, 200);
        await s.pipeline.whenIdle();
        const data = await keys('sluice/Data/');
        const errors = await keys('sluice/Error/');
        assert.equal(data.length, 1);
        assert.deepEqual((await lines(await object(data[0]))).map((l) => (l.record as { data: { n: number } }).data.n), [1, 2, 3]);
        assert.equal(errors.length, 1);
        assert.match(errors[0], /^sluice\/Error\/schema_invalid\//);
        assert.equal((await lines(await object(errors[0])))[0].code, 'schema_invalid');
      } finally {
        await s.close();
      }
    });
  });
});
