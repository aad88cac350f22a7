// sluice backfill on the PostgreSQL server: files, folders, globs, json arrays, an S3 prefix
// (s3rver), DynamoDB export files and a Sluice archive, through the rules and streams; a second
// run changes nothing, an interrupted run resumes at its checkpoint, erased subjects stay erased.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { runBackfill, type BackfillOptions } from '../../src/backfill/backfill.ts';
import { expandSources } from '../../src/backfill/sources.ts';
import type { SluiceConfig } from '../../src/config/config.ts';
import { parseKeyRing, Pseudonymizer } from '../../src/core/privacy/pseudonymizer.ts';
import { LambdaRuntime } from '../../src/lambda/runtime.ts';
import { MetricsStore } from '../../src/destinations/metrics/metrics-store.ts';
import { Eraser } from '../../src/privacy/erasure.ts';
import { createLogger } from '../../src/runtime/logger.ts';
import { createServerDatabase, storeEnv } from '../support/databases.ts';
import { TEST_CREDENTIALS } from '../support/fake-aws-json.ts';
import { startS3Server } from '../support/s3-server.ts';

const root = new URL('../..', import.meta.url).pathname;
const KEYS = 'k1:0123456789abcdef0123456789';

const CONFIG: SluiceConfig = {
  rules: [
    { name: 'shop', pattern: { source: ['shop'] }, targets: [{ stream: 'metrics', input_path: '$.detail' }] },
    { name: 'orders', pattern: { source: ['aws.dynamodb'], detail: { eventName: ['INSERT'], tableName: ['orders'] } }, targets: [{ stream: 'orders', input_path: '$.detail.NewImage' }] },
  ],
  streams: {
    metrics: {
      processors: [{ type: 'validate' }, { type: 'pseudonymize', key: { env: 'TEST_BACKFILL_KEYS' }, fields: { 'metadata.user_id': 'hash' } }],
      destination: { type: 'metrics' },
    },
    orders: { destination: { type: 'table', table: 'orders', columns: { order_id: 'text', amount: 'numeric(10,2)', status: 'text' }, primary_key: ['order_id'] } },
  },
};

const hourAgo = Date.now() - 3600_000;
const metric = (i: number, user = `user-${i % 50}@example.com`) =>
  JSON.stringify({ metric_name: 'checkout_completed', metadata: { tenant_id: i % 2 ? 'acme' : 'globex', event_time: new Date(hourAgo + i * 10).toISOString(), user_id: user }, data: { amount: i } });
const envelope = (i: number) => JSON.stringify({ source: 'shop', 'detail-type': 'checkout', time: new Date(hourAgo).toISOString(), detail: JSON.parse(metric(100_000 + i)) });

describe('sluice backfill', () => {
  let db: Awaited<ReturnType<typeof createServerDatabase>>;
  let dir: string;
  let rt: LambdaRuntime;
  const points = async () => (await rt.db.query<{ n: number }>('select count(*)::int as n from sluice.metric_points'))[0].n;
  const backfill = async (args: string[], opts: Partial<BackfillOptions> = {}) => runBackfill(rt, await expandSources(args, {}), { format: 'ndjson', stream: 'metrics', ...opts });

  before(async () => {
    process.env.TEST_BACKFILL_KEYS = KEYS;
    db = await createServerDatabase();
    dir = mkdtempSync(join(tmpdir(), 'sluice-backfill-'));
    rt = await LambdaRuntime.open({ config: CONFIG, databaseUrl: db.url, log: createLogger('text', () => {}), buffer: { max_records: 5000, max_bytes: 64 << 20, interval_seconds: 0 } });
  });
  after(async () => {
    await rt.close();
    await db.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads gzip NDJSON from a folder and a glob, records and envelopes; a second run changes nothing', async () => {
    mkdirSync(join(dir, 'hist/2026'), { recursive: true });
    writeFileSync(join(dir, 'hist/2026/a.ndjson.gz'), gzipSync(Array.from({ length: 12_000 }, (_, i) => metric(i)).join('\n') + '\n'));
    writeFileSync(join(dir, 'hist/2026/b.ndjson'), Array.from({ length: 300 }, (_, i) => envelope(i)).join('\n') + '\nnot json\n');
    writeFileSync(join(dir, 'hist/manifest-files.json'), 'not data');
    const first = await backfill([join(dir, 'hist')]);
    assert.equal(first.events, 12_300);
    assert.equal(first.failed, 1);
    assert.equal(await points(), 12_300);
    const [bad] = await rt.db.query<{ code: string; reason: string }>("select code, reason from sluice.stream_errors where stream = 'backfill'");
    assert.equal(bad.code, 'malformed_json');
    assert.match(bad.reason, /b\.ndjson line 301: the line is not JSON/);
    // The same files named by a glob are the same job, already done.
    const again = await backfill([join(dir, 'hist/*/*.ndjson*')]);
    assert.deepEqual([again.skipped, again.events], [2, 0]);
    // Without the checkpoint (--restart) every line is replayed, and nothing is counted twice.
    await rt.db.query('delete from sluice.backfills where job = $1', [again.job]);
    assert.equal((await backfill([join(dir, 'hist/*/*.ndjson*')])).events, 12_300);
    assert.equal(await points(), 12_300);
    const raw = await rt.db.query("select 1 from sluice.metric_points where dimensions::text like '%@example.com%'");
    assert.equal(raw.length, 0, 'user ids were pseudonymized on the way');
  });

  it('an interrupted backfill resumes at its checkpoint and counts each event once', async () => {
    writeFileSync(join(dir, 'big.ndjson'), Array.from({ length: 20_000 }, (_, i) => metric(200_000 + i)).join('\n') + '\n');
    const before = await points();
    const stop = new AbortController();
    const cut = await backfill([join(dir, 'big.ndjson')], { signal: stop.signal, progress: (p) => p.events >= 5_000 && stop.abort() });
    assert.equal(cut.stopped, true);
    const [mark] = await rt.db.query<{ lines: number; done: boolean }>('select lines::int as lines, done from sluice.backfills where job = $1', [cut.job]);
    assert.equal(mark.done, false);
    assert.ok(mark.lines >= 5_000 && mark.lines < 20_000, `checkpoint at ${mark.lines}`);
    assert.equal(await points(), before + mark.lines, 'everything before the checkpoint was delivered');
    const rest = await backfill([join(dir, 'big.ndjson')]);
    assert.deepEqual(rest.resumedAt, { source: join(dir, 'big.ndjson'), line: mark.lines });
    assert.equal(rest.events, 20_000 - mark.lines);
    assert.equal(await points(), before + 20_000);
    const done = await backfill([join(dir, 'big.ndjson')]);
    assert.equal(done.skipped, 1);
    assert.equal(done.events, 0);
  });

  it('erased subjects stay erased when history is replayed', async () => {
    const eraser = new Eraser(rt.db, { rings: [parseKeyRing(KEYS)], tables: [], hashedFields: ['user_id'], archives: [], vendors: [] }, new MetricsStore(rt.db, {}));
    const erased = await eraser.erase('user-7@example.com', 'user_id', { dryRun: false });
    assert.ok(erased.counts.metric_points > 0);
    const before = await points();
    await backfill([join(dir, 'hist')], { stream: 'metrics' }).then(async () => rt.db.query('delete from sluice.backfills'));
    await backfill([join(dir, 'hist')]);
    assert.equal(await points(), before, 'the erased subject\'s points did not come back');
    // Archived lines were pseudonymized already: they are checked by the pseudonyms they hold.
    const pseudonym = new Pseudonymizer(parseKeyRing(KEYS), {}).pseudonym('user-7@example.com');
    const line = (id: string, user: string) =>
      JSON.stringify({ id, at: new Date().toISOString(), record: { ...JSON.parse(metric(700_001)), metadata: { tenant_id: 'acme', event_time: new Date(hourAgo).toISOString(), user_id: user } } });
    writeFileSync(join(dir, 'erased-archive.ndjson'), [line('arch-e-1', pseudonym), line('arch-e-2', 'k1:someone-else')].join('\n') + '\n');
    await backfill([join(dir, 'erased-archive.ndjson')], { format: 'archive' });
    assert.equal(await points(), before + 1, 'only the other subject\'s archived line came back');
  });

  it('reads a json array file', async () => {
    writeFileSync(join(dir, 'list.json'), JSON.stringify([JSON.parse(metric(300_001)), JSON.parse(metric(300_002))]));
    const before = await points();
    const r = await backfill([join(dir, 'list.json')], { format: 'json' });
    assert.equal(r.events, 2);
    assert.equal(await points(), before + 2);
  });

  it('DynamoDB export files become INSERT events for the stream rules', async () => {
    const exp = join(dir, 'AWSDynamoDB/01700000000000-abcdef12');
    mkdirSync(join(exp, 'data'), { recursive: true });
    writeFileSync(join(exp, 'manifest-summary.json'), JSON.stringify({ tableArn: 'arn:aws:dynamodb:eu-west-1:123456789012:table/orders', exportTime: '2026-11-20T00:00:00Z' }));
    const item = (i: number) => JSON.stringify({ Item: { order_id: { S: `o-${i}` }, amount: { N: `${i}.50` }, status: { S: 'paid' } } });
    writeFileSync(join(exp, 'data/part-1.json.gz'), gzipSync(Array.from({ length: 40 }, (_, i) => item(i)).join('\n') + '\n'));
    const r = await backfill([join(dir, 'AWSDynamoDB')], { format: 'dynamodb-export', keys: ['order_id'] });
    assert.equal(r.events, 40);
    assert.equal(r.failed, 0);
    const rows = await rt.db.query<{ order_id: string; amount: string }>("select order_id, amount::text as amount from bi.orders where order_id in ('o-0', 'o-39') order by 1");
    assert.deepEqual(rows, [{ order_id: 'o-0', amount: '0.50' }, { order_id: 'o-39', amount: '39.50' }]);
    await backfill([join(dir, 'AWSDynamoDB')], { format: 'dynamodb-export' }); // no keys: another job, same ids
    assert.equal((await rt.db.query('select 1 from bi.orders')).length, 40);
  });

  it('reads an S3 prefix (s3rver) and a Sluice archive', async () => {
    const s3 = await startS3Server(['history']);
    try {
      process.env.AWS_ACCESS_KEY_ID = TEST_CREDENTIALS.accessKeyId;
      process.env.AWS_SECRET_ACCESS_KEY = TEST_CREDENTIALS.secretAccessKey;
      const client = new S3Client({ endpoint: s3.url, forcePathStyle: true, region: 'us-east-1', credentials: TEST_CREDENTIALS });
      for (const part of [0, 1]) {
        const body = gzipSync(Array.from({ length: 100 }, (_, i) => metric(400_000 + part * 100 + i, 'someone@example.com')).join('\n') + '\n');
        await client.send(new PutObjectCommand({ Bucket: 'history', Key: `2026/11/part-${part}.ndjson.gz`, Body: body }));
      }
      const before = await points();
      const r = await runBackfill(rt, await expandSources(['s3://history/2026/'], { endpoint: s3.url }), { format: 'ndjson', stream: 'metrics' });
      assert.equal(r.events, 200);
      assert.equal(await points(), before + 200);
    } finally {
      await s3.close();
    }
    // An archive line holds a processed record and its id: replayed as it was, counted once.
    const archived = [500_001, 500_002].map((i) => JSON.stringify({ id: `arch-${i}`, at: new Date().toISOString(), record: { ...JSON.parse(metric(i)), metadata: { tenant_id: 'acme', event_time: new Date(hourAgo).toISOString(), user_id: 'k1:already-pseudonymized' } } }));
    writeFileSync(join(dir, 'archive.ndjson.gz'), gzipSync(archived.join('\n') + '\n'));
    const before = await points();
    await backfill([join(dir, 'archive.ndjson.gz')], { format: 'archive' });
    await backfill([join(dir, 'archive.ndjson.gz')], { format: 'archive', stream: 'metrics' }).then(() => rt.db.query("delete from sluice.backfills where source like '%archive%'"));
    await backfill([join(dir, 'archive.ndjson.gz')], { format: 'archive' });
    assert.equal(await points(), before + 2);
    const [p] = await rt.db.query<{ u: string }>("select dimensions->>'user_id' as u from sluice.metric_points where record_id = 'r:arch-500001'");
    assert.equal(p.u, 'k1:already-pseudonymized', 'an archived record is not pseudonymized twice');
  });

  it('the command: progress lines off a terminal, usage errors exit 2', async () => {
    writeFileSync(join(dir, 'cli.ndjson'), Array.from({ length: 50 }, (_, i) => metric(600_000 + i)).join('\n') + '\n');
    writeFileSync(join(dir, 'sluice.config.json'), JSON.stringify({ ...CONFIG, rules: [], streams: { metrics: CONFIG.streams!.metrics } }));
    const run = (...args: string[]) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((done) => {
        const child = spawn(process.execPath, [join(root, 'bin/sluice.js'), 'backfill', ...args, '--config', join(dir, 'sluice.config.json')], { cwd: dir, env: storeEnv(db), timeout: 60_000 });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d));
        child.stderr.on('data', (d: Buffer) => (stderr += d));
        child.on('close', (status) => done({ status, stdout, stderr }));
      });
    const ok = await run(join(dir, 'cli.ndjson'), '--rate', '1000/s');
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /^backfill [0-9a-f]{16}: done: 50 events from 1 sources\n$/);
    assert.match(ok.stderr, /^backfill: 100% of \d+ bytes, 50 events, \d+\/s, ETA \S+, 1\/1 sources$/m);
    const bad = await run(join(dir, 'cli.ndjson'), '--format', 'csv');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--format must be one of ndjson, json, dynamodb-export, archive, got "csv"/);
    const missing = await run(join(dir, 'nope/*.ndjson'));
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /matches no files/);
    const archive = await run(join(dir, 'cli.ndjson'), '--format', 'archive');
    assert.match(archive.stderr, /--format archive needs --stream/);
  });
});
