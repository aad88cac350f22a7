/**
 * `sluice build aws`: the bundles and the SAM template. The template's structure is checked (each
 * function's handler exists in its bundle, every reference is defined, no wildcard actions, each
 * role grants only what its function touches), and each bundle is copied out of the repository
 * (no node_modules anywhere above it) and run with `node` on fixture events against PostgreSQL,
 * with its settings from a local Parameter Store, its key ring from a local Secrets Manager and
 * its objects from s3rver, as it runs in AWS.
 */
/* eslint-disable @typescript-eslint/no-explicit-any -- the template and handler answers are parsed JSON, read structurally */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import postgres from 'postgres';
import { parse } from 'yaml';
import { LAMBDA_HANDLERS, MAX_BUNDLE_BYTES } from '../../src/build/bundle.ts';
import { apiGatewayEvent, dynamodbStreamEvent, firehoseTransformationEvent, s3Event } from '../../src/testing/events.ts';
import { createServerDatabase, storeEnv } from '../support/databases.ts';
import { TEST_CREDENTIALS } from '../support/fake-aws-json.ts';
import { startFakeSecretsManager, type FakeSecretsManager } from '../support/fake-secrets-manager.ts';
import { startFakeSsm } from '../support/fake-ssm.ts';
import { startS3Server } from '../support/s3-server.ts';
import { runSluice } from '../support/sluice-process.ts';

const EXAMPLE = join(import.meta.dirname, '../../examples/sluice.config.ts');
const KEY_SECRET = 'deployed-key-ring-secret-0123456789';

type Template = { Resources: Record<string, { Type: string; Condition?: string; DependsOn?: string[]; Properties: Record<string, any> }>; Parameters: Record<string, unknown>; Conditions: Record<string, unknown>; Mappings: Record<string, unknown> };

/** Every logical id a template value refers to (Ref, Fn::GetAtt, ${…} in Fn::Sub, conditions). */
function references(v: unknown, out: { refs: Set<string>; conditions: Set<string> }): void {
  if (Array.isArray(v)) return v.forEach((x) => references(x, out));
  if (v === null || typeof v !== 'object') return;
  for (const [k, x] of Object.entries(v)) {
    if (k === 'Ref') out.refs.add(x as string);
    else if (k === 'Fn::GetAtt') out.refs.add((x as string[])[0]);
    else if (k === 'Fn::Sub') for (const m of String(x).matchAll(/\$\{([^}!]+)\}/g)) out.refs.add(m[1].split('.')[0]);
    else if (k === 'Fn::If' || k === 'Condition') out.conditions.add(Array.isArray(x) ? x[0] : (x as string));
    references(x, out);
  }
}

const actionsOf = (role: { Properties: Record<string, any> }): string[] =>
  role.Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement.flatMap((s: any) => (s['Fn::If'] ? [s['Fn::If'][1]] : [s])).flatMap((s: any) => s.Action));

/** Runs a bundle in its own node process (a container): each event in turn, printing each result. */
function runBundle(dir: string, events: unknown[], env: NodeJS.ProcessEnv): Promise<{ code: number | null; results: any[]; err: string }> {
  const runner = join(dir, 'run.mjs');
  writeFileSync(
    runner,
    `const { handler } = await import(process.argv[2]);
     const events = JSON.parse(await (await import('node:fs/promises')).readFile(process.argv[3], 'utf8'));
     const out = [];
     for (const e of events) out.push(await handler(e, { getRemainingTimeInMillis: () => 20000 }));
     process.stdout.write(JSON.stringify(out));
     process.exit(0);`,
  );
  const eventsFile = join(dir, `events-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(eventsFile, JSON.stringify(events));
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [runner, join(dir, 'index.mjs'), eventsFile], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => resolve({ code, results: code === 0 ? JSON.parse(out) : [], err }));
  });
}

describe('sluice build aws', () => {
  const work = mkdtempSync(join(tmpdir(), 'sluice-build-'));
  const out = join(work, 'aws');
  let template: Template;
  let s3: Awaited<ReturnType<typeof startS3Server>>;

  before(async () => {
    s3 = await startS3Server(['inbox']);
    // The example, reading objects from s3rver (as a deployment would name MinIO or AWS).
    writeFileSync(join(work, 'sluice.config.ts'), `import base from ${JSON.stringify(EXAMPLE)};\nexport default { ...base, sources: { ...base.sources, s3: { endpoint: ${JSON.stringify(s3.url)} } } };\n`);
    const r = await runSluice(['build', 'aws', '--env', 'prod', '--config', join(work, 'sluice.config.ts'), '--out', out]);
    assert.equal(r.code, 0, r.err + r.out);
    template = parse(readFileSync(join(out, 'template.yaml'), 'utf8'));
  });
  after(async () => {
    await s3.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('writes one bundle per handler, each at most 1 MB with its chunks, exporting handler', () => {
    for (const name of Object.keys(LAMBDA_HANDLERS)) {
      const file = join(out, name, 'index.mjs');
      assert.ok(existsSync(file), file);
      // What the function deploys: its directory (index.mjs and the chunks it loads on demand).
      const files = readdirSync(join(out, name), { recursive: true, withFileTypes: true }).filter((f) => f.isFile());
      assert.ok(files.every((f) => f.name.endsWith('.mjs')), `${name}: only modules`);
      const bytes = files.reduce((sum, f) => sum + statSync(join(f.parentPath ?? f.path, f.name)).size, 0);
      assert.ok(bytes <= MAX_BUNDLE_BYTES, `${name}: ${bytes} bytes`);
      assert.ok(statSync(file).size < bytes, `${name}: what a handler loads only when needed is in chunks`);
      assert.match(readFileSync(file, 'utf8'), /export\s*\{[^}]*\bas handler\b/);
    }
  });

  it('template: every function handler exists, every reference is defined, no wildcard action, each role least-privilege', () => {
    const { Resources: res } = template;
    const functions = Object.entries(res).filter(([, r]) => r.Type === 'AWS::Serverless::Function');
    assert.deepEqual(functions.map(([id]) => id).sort(), ['DrainFunction', 'DynamoDBFunction', 'FirehoseTransformFunction', 'HttpFunction', 'MigrateFunction', 'S3Function']);
    for (const [id, f] of functions) {
      const [file, exported] = f.Properties.Handler.split('.');
      assert.ok(existsSync(join(out, f.Properties.CodeUri, `${file}.mjs`)), `${id}: ${f.Properties.CodeUri}${file}.mjs`);
      assert.equal(exported, 'handler');
      assert.equal(res[f.Properties.Role['Fn::GetAtt'][0]].Type, 'AWS::IAM::Role', `${id} has a role of its own`);
    }
    const seen = { refs: new Set<string>(), conditions: new Set<string>() };
    references(template, seen);
    const defined = new Set([...Object.keys(template.Parameters), ...Object.keys(res)]);
    for (const r of seen.refs) assert.ok(defined.has(r) || r.startsWith('AWS::'), `undefined reference ${r}`);
    for (const c of seen.conditions) assert.ok(c in template.Conditions, `undefined condition ${c}`);
    for (const [, r] of Object.entries(res)) for (const d of r.DependsOn ?? []) assert.ok(d in res, `DependsOn ${d}`);

    const roles = Object.fromEntries(functions.map(([id, f]) => [id, actionsOf(res[f.Properties.Role['Fn::GetAtt'][0]])]));
    for (const [id, actions] of Object.entries(roles)) {
      for (const a of actions) assert.doesNotMatch(a, /\*/, `${id}: wildcard action ${a}`);
      assert.ok(actions.includes('ssm:GetParametersByPath') && actions.includes('secretsmanager:GetSecretValue'), id);
    }
    // Only the function that reads a source may read it.
    const holders = (action: string) => Object.keys(roles).filter((id) => roles[id].includes(action)).sort();
    assert.deepEqual(holders('dynamodb:GetRecords'), ['DynamoDBFunction']);
    assert.deepEqual(holders('sqs:SendMessage'), ['DynamoDBFunction']);
    assert.deepEqual(holders('s3:GetObject'), ['S3Function']);

    const stream = res.DynamoDBFunction.Properties.Events.TableStream;
    assert.equal(stream.Type, 'DynamoDB');
    assert.equal(stream.Properties.BisectBatchOnFunctionError, true);
    assert.deepEqual(stream.Properties.FunctionResponseTypes, ['ReportBatchItemFailures']);
    assert.ok(stream.Properties.MaximumRetryAttempts >= 0 && stream.Properties.MaximumRetryAttempts <= 10);
    assert.deepEqual(stream.Properties.DestinationConfig.OnFailure.Destination, { 'Fn::GetAtt': ['DeadLetterQueue', 'Arn'] });
    assert.equal(res.DeadLetterQueue.Type, 'AWS::SQS::Queue');
    assert.equal(res.MigrateStore.Type, 'AWS::CloudFormation::CustomResource');
    for (const id of ['DynamoDBFunction', 'S3Function', 'HttpFunction']) assert.ok(res[id].DependsOn!.includes('MigrateStore'), `${id} starts after the migration`);
    assert.equal(res.KeyRingSLUICEPSEUDONYMKEYSSecret.Properties.Name['Fn::Sub'], 'sluice/${Env}/SLUICE_PSEUDONYM_KEYS');
    assert.equal(res.FirehoseStreamParameter.Type, 'AWS::SSM::Parameter');
    assert.deepEqual(Object.keys(res.HttpFunction.Properties.Events).sort(), ['Proxy', 'Root']);
  });

  it('each bundle runs with node alone: settings and key ring loaded once per container, events delivered', async () => {
    const bundles = mkdtempSync(join(tmpdir(), 'sluice-bundles-'));
    cpSync(out, bundles, { recursive: true });
    const db = await createServerDatabase();
    const ssm = await startFakeSsm({ '/sluice/prod/database-url': { value: db.url, secure: true }, '/sluice/prod/firehose-stream': { value: 'users' }, '/sluice/staging/database-url': { value: 'postgres://nowhere' } });
    let sm: FakeSecretsManager | null = null;
    const responses: Array<{ headers: Record<string, unknown>; body: any }> = [];
    const cfn = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        responses.push({ headers: req.headers, body: JSON.parse(body) });
        res.end();
      });
    });
    await new Promise<void>((r) => cfn.listen(0, '127.0.0.1', r));
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      sm = await startFakeSecretsManager({ 'sluice/prod/SLUICE_PSEUDONYM_KEYS': JSON.stringify({ k1: KEY_SECRET }) });
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        SLUICE_ENV: 'prod',
        SLUICE_SSM_PATH: '/sluice/prod/',
        AWS_ENDPOINT_URL_SSM: ssm.url,
        AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.url,
        AWS_REGION: 'eu-west-1',
        AWS_ACCESS_KEY_ID: TEST_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: TEST_CREDENTIALS.secretAccessKey,
      };
      const run = async (name: string, events: unknown[]) => {
        const before = { ssm: ssm.calls, sm: sm!.calls };
        const r = await runBundle(join(bundles, name), events, env);
        assert.equal(r.code, 0, `${name}: ${r.err}`);
        assert.doesNotMatch(r.err, new RegExp(KEY_SECRET));
        // A container reads its settings and its key ring once, however many invocations.
        assert.equal(ssm.calls - before.ssm, 1, `${name}: Parameter Store calls`);
        assert.equal(sm!.calls - before.sm, 1, `${name}: Secrets Manager calls`);
        return r.results;
      };

      // The migration, as CloudFormation runs it: the answer goes to the pre-signed URL.
      const request = { RequestType: 'Create', ResponseURL: `http://127.0.0.1:${(cfn.address() as AddressInfo).port}/cfn?X-Amz-Signature=x`, StackId: 'arn:aws:cloudformation:eu-west-1:123456789012:stack/sluice-prod/1', RequestId: 'r-1', LogicalResourceId: 'MigrateStore', ResourceProperties: {} };
      assert.deepEqual(await run('migrate', [request, { ...request, RequestType: 'Update', RequestId: 'r-2' }]), [{ status: 'SUCCESS' }, { status: 'SUCCESS' }]);
      assert.deepEqual(responses.map((r) => [r.body.Status, r.body.RequestId, r.body.LogicalResourceId, r.headers['content-type'] ?? '']), [
        ['SUCCESS', 'r-1', 'MigrateStore', ''],
        ['SUCCESS', 'r-2', 'MigrateStore', ''],
      ]);
      assert.equal((await sql`select count(*)::int as n from sluice.migrations`)[0].n > 0, true);

      // DynamoDB: the first seed's transaction, pseudonymized with the key from Secrets Manager; a retry counts once.
      const tx = { transaction_id: 't-7', user_id: 'bob@example.com', amount: 9.99, currency: 'EUR', merchant: 'Kiosk', merchant_category: 'news', country: 'FR', ip_address: '198.51.100.23', status: 'settled', created_at: '2026-11-20T11:00:00Z' };
      const insert = dynamodbStreamEvent({ table: 'transactions', eventName: 'INSERT', items: [tx], keys: ['transaction_id'] });
      assert.deepEqual(await run('dynamodb', [insert, insert]), [{ batchItemFailures: [] }, { batchItemFailures: [] }]);
      const pseudonym = 'k1:' + createHmac('sha256', KEY_SECRET).update('bob@example.com').digest('hex').slice(0, 32);
      assert.deepEqual([...(await sql`select transaction_id, user_id, ip_address from bi.transactions`)], [{ transaction_id: 't-7', user_id: pseudonym, ip_address: '198.51.100.0' }]);

      // Firehose transformation: the stream named by the firehose-stream setting (users: validated, then pseudonymized).
      const profile = { user_id: 'bob@example.com', email: 'bob@example.com', signed_up_at: '2026-01-02T03:04:05Z' };
      const [fh] = await run('firehose-transform', [firehoseTransformationEvent({ deliveryStream: 'anything', records: [profile, { email: 'no-id@example.com' }] })]);
      assert.deepEqual(fh.records.map((r: any) => r.result), ['Ok', 'ProcessingFailed']);
      const shaped = JSON.parse(Buffer.from(fh.records[0].data, 'base64').toString());
      assert.equal(shaped.user_id, pseudonym);
      assert.equal(shaped.email, undefined);
      assert.doesNotMatch(Buffer.from(fh.records[1].data, 'base64').toString(), /no-id@example/);

      // S3: an object Firehose wrote (gzip NDJSON), loaded once however often it is announced.
      const client = new S3Client({ endpoint: s3.url, forcePathStyle: true, region: 'eu-west-1', credentials: TEST_CREDENTIALS });
      const findings = (id: string, n: number) => JSON.stringify({ source: 'findings', 'detail-type': 'findings-uploaded', time: '2026-11-20T12:00:00Z', detail: { tenant_id: 'acme', event_id: id, new_findings_count: n, existing_findings_count: 0, created_at: '2026-11-20T12:00:00Z' } });
      const body = gzipSync([findings('s3-1', 4), findings('s3-2', 6), '{not json'].join('\n') + '\n');
      const put = await client.send(new PutObjectCommand({ Bucket: 'inbox', Key: 'Data/2026/11/20/12/part 1.gz', Body: body }));
      client.destroy();
      const announced = s3Event({ bucket: 'inbox', objects: [{ key: 'Data/2026/11/20/12/part 1.gz', size: body.length, eTag: put.ETag!.replace(/"/g, '') }] });
      const [first, again] = await run('s3', [announced, announced]);
      assert.deepEqual(
        first.objects.map((o: any) => [o.lines, o.loaded, o.failed, o.skipped]),
        [[3, 2, 1, false]],
      );
      assert.equal(again.objects[0].skipped, true);
      const total = await sql`select count(*)::int as n from sluice.metric_points where tenant = 'acme' and metric = 'findings_upload_completed'`;
      assert.equal(total[0].n, 2);
      const bad = await sql`select code, record::text as record from sluice.stream_errors where stream = 's3'`;
      assert.deepEqual(bad.map((b) => b.code), ['malformed_json']);
      assert.doesNotMatch(bad[0].record, /not json/);

      // HTTP: /v1/events behind API Gateway v1 and v2, with a key made by sluice keys.
      const key = await runSluice(['keys', 'create', '--tenant', 'globex', '--kind', 'ingest', '--json', '--config', EXAMPLE], storeEnv(db));
      assert.equal(key.code, 0, key.err);
      const bearer = JSON.parse(key.out).key as string;
      const post = (version: 'v1' | 'v2', id: string) =>
        apiGatewayEvent({ version, method: 'POST', path: '/v1/events', headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' }, body: findings(id, 5).replace('"acme"', '"globex"') });
      const answers = await run('http', [post('v1', 'h-1'), post('v2', 'h-2'), post('v2', 'h-2'), apiGatewayEvent({ method: 'POST', path: '/v1/events', body: '[]' })]);
      assert.deepEqual(answers.map((a: any) => a.statusCode), [200, 200, 200, 401]);
      assert.equal(JSON.parse(answers[0].body).accepted, 1);
      const globex = await sql`select count(*)::int as n from sluice.metric_points where tenant = 'globex'`;
      assert.equal(globex[0].n, 2, 'two events, the retried one counted once');
      assert.equal((await sql`select count(*)::int as n from sluice.intake_log`)[0].n, 0, 'delivered before the invocation returned');

      // Drain: nothing left behind.
      assert.deepEqual(await run('drain', [{}]), [{ delivered: 0, remaining: 0, vendor_requests: { sent: 0, pending: 0, failed: 0 } }]);
      assert.deepEqual(ssm.violations, []);
      assert.deepEqual(sm.violations, []);
    } finally {
      await sql.end();
      await new Promise((r) => cfn.close(r));
      await sm?.close();
      await ssm.close();
      await db.drop();
      rmSync(bundles, { recursive: true, force: true });
    }
  });

  it('builds again over an earlier build, replacing only what a build writes', async () => {
    // What `sam deploy --guided` leaves beside the template, and a file a handler no longer has.
    writeFileSync(join(out, 'samconfig.toml'), 'version = 0.1\n');
    writeFileSync(join(out, 'http', 'stale.mjs'), '// from an older build\n');
    const r = await runSluice(['build', 'aws', '--env', 'prod', '--config', join(work, 'sluice.config.ts'), '--out', out]);
    assert.equal(r.code, 0, r.err + r.out);
    assert.equal(readFileSync(join(out, 'samconfig.toml'), 'utf8'), 'version = 0.1\n');
    assert.ok(!existsSync(join(out, 'http', 'stale.mjs')));
    for (const name of Object.keys(LAMBDA_HANDLERS)) assert.ok(existsSync(join(out, name, 'index.mjs')), name);
    assert.deepEqual(parse(readFileSync(join(out, 'template.yaml'), 'utf8')), template);
  });

  it('refuses an --out that is not a directory it may write, deleting nothing (exit 2)', async () => {
    // A project's own directory: `--out .` there must not delete the project.
    const project = join(work, 'project');
    mkdirSync(join(project, 'http'), { recursive: true });
    writeFileSync(join(project, 'package.json'), '{}\n');
    writeFileSync(join(project, 'http', 'routes.ts'), 'export {};\n');
    const r = await runSluice(['build', 'aws', '--config', EXAMPLE, '--out', project]);
    assert.equal(r.code, 2, r.err);
    assert.match(r.err, /holds files that are not an earlier build .* give a new or empty directory/);
    assert.deepEqual(readdirSync(project).sort(), ['http', 'package.json']);
    assert.deepEqual(readdirSync(join(project, 'http')), ['routes.ts']);
    const file = join(project, 'package.json');
    const cases: Array<[string, RegExp]> = [
      [file, /--out .*package\.json is a file; give a directory/],
      [join(file, 'aws'), /--out: cannot create .*package\.json[/\\]aws \(ENOTDIR\)/],
      // Node's own recursive mkdir never returns here; created a level at a time, it fails.
      ['/proc/sluice-build', /--out: cannot create \/proc\/sluice-build \(ENOENT\)/],
    ];
    for (const [dir, message] of cases) {
      const c = await runSluice(['build', 'aws', '--config', EXAMPLE, '--out', dir]);
      assert.equal(c.code, 2, `${dir}: ${c.err}`);
      assert.match(c.err, message);
    }
    assert.equal(readFileSync(file, 'utf8'), '{}\n');
  });

  it('refuses an unknown environment or target with exit 2', async () => {
    const r = await runSluice(['build', 'aws', '--env', 'qa', '--config', EXAMPLE, '--out', join(work, 'x')]);
    assert.equal(r.code, 2);
    assert.match(r.err, /--env must be one of dev, staging, prod, got "qa"/);
    const t = await runSluice(['build', 'gcp', '--config', EXAMPLE]);
    assert.equal(t.code, 2);
    assert.match(t.err, /the target must be aws/);
  });
});
