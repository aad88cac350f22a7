// The Lambda side: DynamoDB Streams records become routable events without losing precision;
// the first seed end to end through `sluice events` and `sluice invoke` (no Docker, no AWS): a
// DynamoDB INSERT of a transaction becomes a pseudonymized row, a MODIFY does what the config
// says (nothing: transactions are immutable), a TTL removal is ignored; a malformed record is
// reported in batchItemFailures; Firehose data transformation answers every recordId once.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { LambdaRuntime } from '../../src/lambda/runtime.ts';
import { createLogger } from '../../src/runtime/logger.ts';
import { imageToJson, streamRecordToEvent } from '../../src/sources/dynamodb/stream-record.ts';
import { PgliteDriver } from '../../src/store/pglite-driver.ts';
import { startFakeWebhookErasures } from '../support/fake-vendors.ts';
import { runSluice } from '../support/sluice-process.ts';
import { dynamodbStreamEvent, firehoseTransformationEvent, NumberValue } from '../../src/testing/events.ts';

const EXAMPLE = join(import.meta.dirname, '../../examples/sluice.config.ts');
const KEYS = 'k1:lambda-test-secret-0123456789';

const sluice = (args: string[]) => runSluice(args, { ...process.env, SLUICE_PSEUDONYM_KEYS: KEYS, DATABASE_URL: '', SLUICE_DATA_DIR: '' });

describe('DynamoDB Streams records', () => {
  it('unmarshal every type without rounding: big numbers and long decimals keep their digits, sets are arrays, binary base64', () => {
    const image = imageToJson({
      big: { N: '12345678901234567890' },
      long: { N: '3.14159265358979323846' },
      small: { N: '-0.50' },
      int: { N: '42' },
      ns: { NS: ['1', '2.5'] },
      ss: { SS: ['a', 'b'] },
      b: { B: 'AAEC' },
      bs: { BS: ['AAEC', 'AQ=='] },
      m: { M: { l: { L: [{ S: 'x' }, { BOOL: false }, { NULL: true }] } } },
    } as never); // binary as Lambda's JSON carries it: base64 text
    assert.deepEqual(image, { big: '12345678901234567890', long: '3.14159265358979323846', small: -0.5, int: 42, ns: [1, 2.5], ss: ['a', 'b'], b: 'AAEC', bs: ['AAEC', 'AQ=='], m: { l: ['x', false, null] } });
  });

  it('become aws.dynamodb events with the table in resources, for every view type, TTL removals told apart', () => {
    for (const viewType of ['KEYS_ONLY', 'NEW_IMAGE', 'OLD_IMAGE', 'NEW_AND_OLD_IMAGES'] as const) {
      const ev = dynamodbStreamEvent({ table: 'transactions', eventName: 'MODIFY', items: [{ old: { id: 't1', n: 1 }, new: { id: 't1', n: 2 } }], viewType, region: 'eu-west-1', account: '111122223333' });
      const e = streamRecordToEvent(ev.Records[0]);
      assert.equal(e.source, 'aws.dynamodb');
      assert.deepEqual(e.resources, ['arn:aws:dynamodb:eu-west-1:111122223333:table/transactions']);
      assert.equal(e.account, '111122223333');
      assert.deepEqual(e.detail.Keys, { id: 't1' });
      assert.equal('NewImage' in e.detail, viewType === 'NEW_IMAGE' || viewType === 'NEW_AND_OLD_IMAGES');
      assert.equal('OldImage' in e.detail, viewType === 'OLD_IMAGE' || viewType === 'NEW_AND_OLD_IMAGES');
      assert.equal(e.detail.ttlRemoval, false);
    }
    const ttl = dynamodbStreamEvent({ table: 'sessions', eventName: 'REMOVE', items: [{ id: 's1' }], ttl: true });
    assert.equal(streamRecordToEvent(ttl.Records[0]).detail.ttlRemoval, true);
    const user = dynamodbStreamEvent({ table: 'sessions', eventName: 'REMOVE', items: [{ id: 's1' }] });
    assert.equal(streamRecordToEvent(user.Records[0]).detail.ttlRemoval, false);
    // the id is the stream record's: a redelivered batch gives the same ids
    assert.equal(streamRecordToEvent(ttl.Records[0]).id, streamRecordToEvent(structuredClone(ttl.Records[0])).id);
  });

  it('the builder keeps big numbers given as NumberValue, and explains the others', () => {
    const ev = dynamodbStreamEvent({ table: 'ledger', eventName: 'INSERT', items: [{ id: 'a', cents: NumberValue.from('98765432109876543210') }] });
    assert.deepEqual(ev.Records[0].dynamodb.NewImage!.cents, { N: '98765432109876543210' });
    assert.throws(() => dynamodbStreamEvent({ table: 'ledger', eventName: 'INSERT', items: [{ id: 'a', cents: 2 ** 60 }] }), /items\[0\]: .*NumberValue\.from/);
    assert.throws(() => dynamodbStreamEvent({ table: 'ledger', eventName: 'MODIFY', items: [{ id: 'a' }] }), /MODIFY item must be \{ "old"/);
  });
});

describe('the first seed through sluice events and sluice invoke', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-lambda-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('INSERT → a pseudonymized row; MODIFY and a TTL REMOVE change nothing; a retry counts once', async () => {
    const dataDir = join(dir, 'data');
    const tx = { transaction_id: 't-100', user_id: 'alice@example.com', amount: 12.5, currency: 'EUR', merchant: 'Corner Books', merchant_category: 'books', country: 'DE', ip_address: '203.0.113.77', status: 'settled', created_at: '2026-11-20T10:00:00Z', ledger_ref: 'BIG' };
    // as a producer's JSON has it: a ledger reference beyond 2^53, every digit significant
    writeFileSync(join(dir, 'insert.json'), JSON.stringify([tx]).replace('"BIG"', '12345678901234567890'));
    writeFileSync(join(dir, 'modify.json'), JSON.stringify([{ old: tx, new: { ...tx, status: 'refunded', amount: 0 } }]));
    writeFileSync(join(dir, 'remove.json'), JSON.stringify([tx]));
    const build = async (name: string, extra: string[]) => {
      const r = await sluice(['events', 'dynamodb', '--table', 'transactions', '--items', join(dir, `${name}.json`), '--keys', 'transaction_id', ...extra]);
      assert.equal(r.code, 0, r.err);
      writeFileSync(join(dir, `${name}-event.json`), r.out);
      return JSON.parse(r.out);
    };
    const insert = await build('insert', ['--event-name', 'INSERT']);
    assert.deepEqual(insert.Records[0].dynamodb.NewImage.ledger_ref, { N: '12345678901234567890' });
    await build('modify', ['--event-name', 'MODIFY']);
    await build('remove', ['--event-name', 'REMOVE', '--ttl']);

    const invoke = async (name: string) => {
      const r = await sluice(['invoke', 'dynamodb', '--event', join(dir, `${name}-event.json`), '--config', EXAMPLE, '--data-dir', dataDir]);
      assert.equal(r.code, 0, r.err);
      assert.deepEqual(JSON.parse(r.out), { batchItemFailures: [] });
    };
    await invoke('insert');
    await invoke('insert'); // Lambda retries a batch: the row is written once
    await invoke('modify');
    await invoke('remove');

    const db = await PgliteDriver.open(join(dataDir, 'pgdata'));
    try {
      const rows = await db.query<Record<string, unknown>>('select transaction_id, user_id, amount::text as amount, ip_address, status from bi.transactions');
      const pseudonym = 'k1:' + createHmac('sha256', KEYS.slice(3)).update('alice@example.com').digest('hex').slice(0, 32);
      assert.deepEqual(rows, [{ transaction_id: 't-100', user_id: pseudonym, amount: '12.50', ip_address: '203.0.113.0', status: 'settled' }]);
    } finally {
      await db.close();
    }
  });

  it('usage errors exit 2 naming what is wrong', async () => {
    const r = await sluice(['events', 'dynamodb', '--table', 'transactions', '--event-name', 'UPSERT', '--items', join(dir, 'insert.json')]);
    assert.equal(r.code, 2);
    assert.match(r.err, /--event-name must be INSERT, MODIFY or REMOVE, got UPSERT/);
    const i = await sluice(['invoke', 'kinesis', '--event', 'x.json']);
    assert.equal(i.code, 2);
    assert.match(i.err, /the handler must be one of dynamodb, firehose-transform, s3, http, drain, migrate, got "kinesis"/);
  });
});

describe('Lambda handlers in-process', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-lambda-rt-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('dynamodb: a malformed record is reported by sequence number, the good ones are delivered', async () => {
    const stdout: string[] = [];
    const rt = await LambdaRuntime.open({
      config: { rules: [{ name: 'all', pattern: { source: ['aws.dynamodb'] }, targets: [{ stream: 'out', input_path: '$.detail.NewImage' }] }], streams: { out: { destination: { type: 'stdout' } } } },
      dataDir: join(dir, 'a'),
      log: createLogger('text', () => {}),
      stdout: (l) => stdout.push(l),
    });
    try {
      const ev = dynamodbStreamEvent({ table: 'orders', eventName: 'INSERT', items: [{ id: 'o1' }, { id: 'o2' }, { id: 'o3' }] });
      (ev.Records[1] as unknown as { eventName: string }).eventName = 'UPSERT';
      const res = await rt.dynamodb(ev, { getRemainingTimeInMillis: () => 30_000 });
      assert.deepEqual(res, { batchItemFailures: [{ itemIdentifier: ev.Records[1].dynamodb.SequenceNumber }] });
      assert.deepEqual(stdout.join('').trim().split('\n').map((l) => JSON.parse(l).id).sort(), ['o1', 'o3']);
    } finally {
      await rt.close();
    }
  });

  it('drain (scheduled) sends the erasure requests to vendors that are due, and says what waits', async () => {
    process.env.SLUICE_LAMBDA_TEST_KEYS = KEYS;
    process.env.SLUICE_LAMBDA_TEST_WEBHOOK_SECRET = 'whsec_lambda';
    const receiver = await startFakeWebhookErasures('whsec_lambda');
    const warnings: string[] = [];
    const rt = await LambdaRuntime.open({
      config: {
        rules: [{ name: 'all', pattern: { source: ['shop'] }, targets: [{ stream: 'to-crm', input_path: '$.detail' }] }],
        streams: {
          'to-crm': {
            processors: [{ type: 'pseudonymize', key: { env: 'SLUICE_LAMBDA_TEST_KEYS' }, fields: { user_id: 'hash' } }],
            destination: { type: 'webhook', url: 'http://127.0.0.1:1', secret: { env: 'SLUICE_LAMBDA_TEST_WEBHOOK_SECRET' }, erasure: { url: receiver.url } },
          },
        },
      },
      dataDir: join(dir, 'vendors'),
      log: createLogger('text', (l) => warnings.push(l)),
    });
    try {
      // Left pending by an erasure over HTTP while the receiver was down, and one for a stream this config no longer has.
      const ids = ['k1:' + 'a'.repeat(32), 'k1:' + 'b'.repeat(32)];
      await rt.db.query("insert into sluice.vendor_erasures (erasure_id, stream, vendor, pseudonyms, attempts) values (1, 'to-crm', 'webhook', $1::text::jsonb, 1), (2, 'old', 'segment', '[\"k1:cc\"]', 1)", [JSON.stringify(ids)]);
      const res = await rt.drain({ getRemainingTimeInMillis: () => 30_000 });
      assert.deepEqual(res, { delivered: 0, remaining: 0, vendor_requests: { sent: 1, pending: 1, failed: 0 } });
      assert.deepEqual([...receiver.unique.keys()].sort(), ids);
      assert.deepEqual(receiver.violations, []);
      assert.ok(warnings.some((w) => w.includes('segment.old')), warnings.join('\n'));
      const again = await rt.drain({ getRemainingTimeInMillis: () => 30_000 });
      assert.deepEqual(again.vendor_requests, { sent: 0, pending: 0, failed: 0 }, 'the waiting one is not due again yet');
    } finally {
      await rt.close();
      await receiver.close();
    }
  });

  it('firehose transformation: every recordId once, Ok / Dropped / ProcessingFailed, pseudonymized, base64', async () => {
    process.env.SLUICE_LAMBDA_TEST_KEYS = KEYS;
    const rt = await LambdaRuntime.open({
      config: {
        streams: {
          clicks: {
            processors: [
              { type: 'validate', schema: { type: 'object', required: ['user_id'], properties: { user_id: { type: 'string' }, ip: { type: 'string' }, test: { type: 'boolean' } } } },
              { type: 'custom', name: 'no-tests', process: (rs) => rs.map((r) => ((r as { test?: boolean }).test ? { kind: 'drop', reason: 'test traffic' } : { kind: 'ok', value: r })) },
              { type: 'pseudonymize', key: { env: 'SLUICE_LAMBDA_TEST_KEYS' }, fields: { user_id: 'hash', ip: 'truncate-ip' } },
            ],
            destination: { type: 'stdout' },
          },
        },
      },
      dataDir: join(dir, 'b'),
      log: createLogger('text', () => {}),
    });
    try {
      const ev = firehoseTransformationEvent({ deliveryStream: 'clicks', records: [{ user_id: 'bob', ip: '198.51.100.7' }, { user_id: 'bob', test: true }, { ip: '198.51.100.8' }] });
      ev.records.push({ recordId: 'not-json', approximateArrivalTimestamp: 0, data: Buffer.from('{oops').toString('base64') });
      const out = await rt.firehoseTransform(ev);
      assert.deepEqual(out.records.map((r) => r.recordId), ev.records.map((r) => r.recordId));
      assert.deepEqual(out.records.map((r) => r.result), ['Ok', 'Dropped', 'ProcessingFailed', 'ProcessingFailed']);
      const first = Buffer.from(out.records[0].data, 'base64').toString();
      assert.ok(first.endsWith('\n'));
      assert.deepEqual(JSON.parse(first), { user_id: 'k1:' + createHmac('sha256', KEYS.slice(3)).update('bob').digest('hex').slice(0, 32), ip: '198.51.100.0' });
      assert.doesNotMatch(out.records.slice(0, 3).map((r) => Buffer.from(r.data, 'base64').toString()).join(''), /"bob"|198\.51\.100\.[78]/);
      await assert.rejects(rt.firehoseTransform(firehoseTransformationEvent({ deliveryStream: 'unknown', records: [] })), /no stream named "unknown"/);
    } finally {
      await rt.close();
    }
  });
});
