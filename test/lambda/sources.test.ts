/**
 * The S3 source's parts (which objects a notification names, the lines of an object) and the
 * Parameter Store settings, against a local Parameter Store that checks the protocol.
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { loadSettings, SettingsError } from '../../src/lambda/settings.ts';
import { createdObjects, objectLines, S3EventError } from '../../src/sources/s3/object-source.ts';
import { s3Event } from '../../src/testing/events.ts';
import { TEST_CREDENTIALS } from '../support/fake-aws-json.ts';
import { startFakeSsm } from '../support/fake-ssm.ts';

const lines = async (chunks: Buffer[], max = 64) => {
  const out = [];
  for await (const l of objectLines(Readable.from(chunks), max)) out.push(l);
  return out;
};

describe('S3 objects', () => {
  it('decodes keys as S3 sends them and skips what is not a creation', () => {
    const event = s3Event({ bucket: 'inbox', objects: [{ key: 'Data/2026/a b+c%.json', eTag: 'e1' }] });
    assert.equal(event.Records[0].s3.object.key, 'Data/2026/a+b%2Bc%25.json');
    const [ref] = createdObjects(event);
    assert.equal(ref.key, 'Data/2026/a b+c%.json');
    assert.equal(ref.version, 'e1');
    const removed = { Records: [{ ...event.Records[0], eventName: 'ObjectRemoved:Delete' }] };
    assert.deepEqual(createdObjects(removed), []);
    assert.throws(() => createdObjects({} as never), S3EventError);
  });

  it('splits lines across chunks, CRLF or LF, gzip with several members, and reports a line over the limit without keeping it', async () => {
    const text = '{"a":1}\r\n\n{"b":\n2}\n' + 'x'.repeat(100) + '\n{"c":3}';
    const expected = [
      { n: 1, text: '{"a":1}' },
      { n: 3, text: '{"b":' },
      { n: 4, text: '2}' },
      { n: 5, tooLong: true },
      { n: 6, text: '{"c":3}' },
    ];
    const bytes = Buffer.from(text);
    assert.deepEqual(await lines([bytes.subarray(0, 5), bytes.subarray(5, 40), bytes.subarray(40)]), expected);
    // Firehose concatenates gzip members; a reader must read them all.
    const gz = Buffer.concat([gzipSync(bytes.subarray(0, 17)), gzipSync(bytes.subarray(17))]);
    assert.deepEqual(await lines([gz.subarray(0, 3), gz.subarray(3)]), expected);
    assert.deepEqual(await lines([]), []);
    await assert.rejects(lines([Buffer.from([0x1f, 0x8b, 1, 2, 3])]));
  });
});

describe('Parameter Store settings', () => {
  let ssm: Awaited<ReturnType<typeof startFakeSsm>>;
  const saved = { ...process.env };
  before(async () => {
    const params: Record<string, { value: string; secure?: boolean }> = { '/sluice/prod/database-url': { value: 'postgres://db.internal/sluice', secure: true }, '/sluice/prod/firehose-stream': { value: 'users' }, '/sluice/dev/database-url': { value: 'postgres://dev' } };
    // More than one page: the loader follows NextToken.
    for (let i = 0; i < 15; i++) params[`/sluice/prod/other/p${String(i).padStart(2, '0')}`] = { value: String(i) };
    ssm = await startFakeSsm(params);
    process.env.AWS_ACCESS_KEY_ID = TEST_CREDENTIALS.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = TEST_CREDENTIALS.secretAccessKey;
    process.env.AWS_REGION = 'eu-west-1';
  });
  after(async () => {
    await ssm.close();
    process.env = saved;
  });

  it('reads every page under the path, decrypted, keeping the settings it knows', async () => {
    const before = ssm.calls;
    assert.deepEqual(await loadSettings('/sluice/prod/', { endpoint: ssm.url }), { databaseUrl: 'postgres://db.internal/sluice', firehoseStream: 'users' });
    assert.equal(ssm.calls - before, 2);
    assert.deepEqual(ssm.violations, []);
  });

  it('names the path and AWS error, and refuses a path that is not one', async () => {
    process.env.AWS_SECRET_ACCESS_KEY = 'wrong-secret';
    await assert.rejects(loadSettings('/sluice/prod/', { endpoint: ssm.url }), (e: Error) => e instanceof SettingsError && /\/sluice\/prod\/: InvalidSignatureException/.test(e.message));
    process.env.AWS_SECRET_ACCESS_KEY = TEST_CREDENTIALS.secretAccessKey;
    await assert.rejects(loadSettings('sluice/prod', { endpoint: ssm.url }), /must be a Parameter Store path starting with "\/"/);
  });
});
