// The AWS CLI pointed at a running Sluice (`--endpoint-url`), signing with an ingest key's access
// key pair: `aws events put-events`, `aws firehose put-record` and `put-record-batch`, as
// docs/api.md shows them. Debian's AWS CLI v2 (/usr/bin/aws, package awscli; .ci/run installs
// it); no profile, config file or credentials file of the machine is read.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CreatedKey } from '../../src/auth/api-keys.ts';
import { findings, findingsConfig, startTestSluice, type TestSluice } from '../support/test-sluice.ts';

const AWS = '/usr/bin/aws';

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

describe('the AWS CLI against Sluice', () => {
  let s: TestSluice;
  let key: CreatedKey;
  const home = mkdtempSync(join(tmpdir(), 'sluice-aws-cli-'));

  before(async () => {
    if (!existsSync(AWS)) throw new Error(`${AWS} is missing: install Debian's awscli package (.ci/run does)`);
    s = await startTestSluice('PGlite', findingsConfig());
    key = await s.keys.create('acme', 'ingest');
  });
  after(async () => {
    await s.close();
    rmSync(home, { recursive: true, force: true });
  });

  /** Runs the CLI with only the variables it needs: the key pair, a region, no files of this machine. */
  function aws(args: string[], secret = key.secretAccessKey!): Promise<CliResult> {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: home,
      AWS_ACCESS_KEY_ID: key.accessKeyId,
      AWS_SECRET_ACCESS_KEY: secret,
      AWS_DEFAULT_REGION: 'eu-west-1',
      AWS_CONFIG_FILE: join(home, 'none'),
      AWS_SHARED_CREDENTIALS_FILE: join(home, 'none'),
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_PAGER: '',
    };
    return new Promise((resolve) => {
      execFile(AWS, [...args, '--endpoint-url', s.url, '--output', 'json'], { env, timeout: 60_000 }, (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      });
    });
  }

  const file = (name: string, value: unknown): string => {
    const path = join(home, name);
    writeFileSync(path, JSON.stringify(value));
    return `file://${path}`;
  };

  it('aws events put-events: per-entry results, and the good entry is delivered into the tenant metric', async () => {
    const at = new Date().toISOString();
    const entries = [
      { Source: 'findings', DetailType: 'findings-uploaded', Detail: JSON.stringify(findings('acme', 'cli-1', at, 3).detail) },
      { Source: 'findings', DetailType: 'findings-uploaded', Detail: '{"tenant_id": ' },
    ];
    const r = await aws(['events', 'put-events', '--entries', file('entries.json', entries)]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.FailedEntryCount, 1);
    assert.match(out.Entries[0].EventId, /^[0-9a-f-]{36}$/);
    assert.deepEqual(out.Entries[1], { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' });
    await s.pipeline.whenIdle();
    const rows = await s.db.query<{ n: number }>("select (measures->>'new_findings_count')::int as n from sluice.metric_points where tenant = 'acme' and record_id = 'e:cli-1'");
    assert.deepEqual(rows, [{ n: 3 }]);
  });

  it('aws firehose put-record and put-record-batch into a named stream; a retried batch is stored once', async () => {
    const record = (id: string, n: number) => ({ Data: JSON.stringify({ metric_name: 'cli_direct', metadata: { tenant_id: 'acme', event_id: id, event_time: new Date().toISOString() }, data: { n } }) });
    // The CLI takes blobs as base64 unless told they are raw.
    const raw = ['--cli-binary-format', 'raw-in-base64-out'];
    const one = await aws(['firehose', 'put-record', '--delivery-stream-name', 'metrics', '--record', JSON.stringify(record('f-0', 1)), ...raw]);
    assert.equal(one.code, 0, one.stderr);
    assert.match(JSON.parse(one.stdout).RecordId, /^[0-9a-f-]{36}$/);
    const records = file('records.json', [record('f-1', 1), record('f-2', 2)]);
    for (let attempt = 0; attempt < 2; attempt++) {
      const batch = await aws(['firehose', 'put-record-batch', '--delivery-stream-name', 'metrics', '--records', records, ...raw]);
      assert.equal(batch.code, 0, batch.stderr);
      const out = JSON.parse(batch.stdout);
      assert.equal(out.FailedPutCount, 0);
      assert.equal(out.RequestResponses.length, 2);
    }
    const unknown = await aws(['firehose', 'put-record', '--delivery-stream-name', 'nope', '--record', JSON.stringify(record('x', 1)), ...raw]);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /ResourceNotFoundException/);
    await s.pipeline.whenIdle();
    const rows = await s.db.query<{ n: number }>("select count(*)::int as n from sluice.metric_points where metric = 'cli_direct'");
    assert.equal(rows[0].n, 3);
  });

  it('a wrong secret is refused with AWS error InvalidSignatureException', async () => {
    const r = await aws(['events', 'put-events', '--entries', file('one.json', [{ Source: 'a', DetailType: 'b', Detail: '{}' }])], 'not-the-secret-access-key-000000000000');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /InvalidSignatureException/);
  });
});
