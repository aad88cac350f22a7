// The SAM template grants archive destinations in S3 what the functions do with them: the
// delivering functions write objects under the archive's prefix, the HTTP function's erasure
// also lists (that prefix only), reads, rewrites and deletes them; nothing for a folder archive.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { samTemplate } from '../../src/build/sam-template.ts';

type Statement = { Action: string[]; Resource: Array<{ 'Fn::Sub': string }>; Condition?: unknown };

test('archive destinations in S3 get object permissions under their prefix, per function', () => {
  const t = samTemplate({
    config: {
      streams: {
        raw: { destination: { type: 'archive', location: 's3://lake/sluice/raw' } },
        local: { destination: { type: 'archive', location: '/var/archive' } },
        metrics: { destination: { type: 'metrics' } },
      },
    },
    env: 'dev',
    buildId: 'x',
  }) as { Resources: Record<string, { Properties: { Policies?: Array<{ PolicyDocument: { Statement: Statement[] } }> } }> };
  const statements = (fn: string) => t.Resources[`${fn}Role`].Properties.Policies![0].PolicyDocument.Statement.filter((s) => Array.isArray(s.Action) && s.Action.some((a) => a.startsWith('s3:')));
  const objects = [{ 'Fn::Sub': 'arn:${AWS::Partition}:s3:::lake/sluice/raw/*' }];
  assert.deepEqual(statements('HttpFunction').map((s) => [s.Action, s.Resource, s.Condition ?? null]), [
    [['s3:PutObject', 's3:GetObject', 's3:DeleteObject'], objects, null],
    [['s3:ListBucket'], [{ 'Fn::Sub': 'arn:${AWS::Partition}:s3:::lake' }], { StringLike: { 's3:prefix': ['sluice/raw/*'] } }],
  ]);
  for (const fn of ['DynamoDBFunction', 'DrainFunction']) assert.deepEqual(statements(fn).map((s) => [s.Action, s.Resource]), [[['s3:PutObject'], objects]], fn);
  assert.deepEqual(statements('MigrateFunction'), []);
  assert.deepEqual(statements('FirehoseTransformFunction'), []);

  const none = samTemplate({ config: { streams: { local: { destination: { type: 'archive', location: '/var/archive' } } } }, env: 'dev', buildId: 'x' }) as typeof t;
  assert.ok(!JSON.stringify(none.Resources.HttpFunctionRole).includes('s3:'), 'a folder archive needs no S3 permission');
});
