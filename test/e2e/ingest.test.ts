// Ingest end to end against a running Sluice: the AWS SDK's own EventBridge and Firehose clients
// (SigV4 from an ingest key), and curl-style fetch on /v1/events; per-entry results, limits,
// bad input, rate limits, idempotent retries, and records landing in the metrics store.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { deflateRawSync, deflateSync, gzipSync } from 'node:zlib';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { FirehoseClient, PutRecordBatchCommand, PutRecordCommand } from '@aws-sdk/client-firehose';
import type { CreatedKey } from '../../src/auth/api-keys.ts';
import { STORES, findings, findingsConfig, postJson, startTestSluice, type TestSluice } from '../support/test-sluice.ts';

process.env.AWS_SDK_JS_SUPPRESS_NODE_VERSION_WARNING ??= '1';

async function pointCount(s: TestSluice, tenant: string): Promise<number> {
  const rows = await s.db.query<{ n: number }>('select count(*)::int as n from sluice.metric_points where tenant = $1', [tenant]);
  return rows[0].n;
}

const clients = (s: TestSluice, k: CreatedKey, secret = k.secretAccessKey!) => {
  const opts = { endpoint: s.url, region: 'eu-west-1', credentials: { accessKeyId: k.accessKeyId!, secretAccessKey: secret }, maxAttempts: 1 };
  return { eb: new EventBridgeClient(opts), fh: new FirehoseClient(opts) };
};

for (const store of STORES) {
  describe(`ingest on ${store}`, () => {
    let s: TestSluice;
    let acme: CreatedKey;
    let globexIngest: CreatedKey;
    before(async () => {
      s = await startTestSluice(store, findingsConfig({ ingest: { rate_limit: { events_per_second: 1, burst: 1000 } } }));
      acme = await s.keys.create('acme', 'ingest');
      globexIngest = await s.keys.create('globex', 'ingest');
    });
    after(() => s.close());

    it('EventBridge PutEvents with the AWS SDK: per-entry results, delivered into the tenant metric', async () => {
      const { eb } = clients(s, acme);
      const at = new Date().toISOString();
      const out = await eb.send(
        new PutEventsCommand({
          Entries: [
            { Source: 'findings', DetailType: 'findings-uploaded', Detail: JSON.stringify(findings('acme', 'eb-1', at, 3).detail) },
            { Source: 'findings', DetailType: 'findings-uploaded', Detail: '{"tenant_id": ' },
            { Source: 'findings', DetailType: 'findings-uploaded', Detail: JSON.stringify(findings('acme', 'eb-2', at, 4).detail), Time: new Date(at) },
          ],
        }),
      );
      assert.equal(out.FailedEntryCount, 1);
      assert.match(out.Entries![0].EventId!, /^[0-9a-f-]{36}$/);
      assert.deepEqual(out.Entries![1], { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' });
      assert.ok(out.Entries![2].EventId);
      await s.pipeline.whenIdle();
      const rows = await s.db.query<{ record_id: string; n: number }>(
        "select record_id, (measures->>'new_findings_count')::int as n from sluice.metric_points where tenant = 'acme' and record_id like 'e:eb-%' order by 1",
      );
      assert.deepEqual(rows, [{ record_id: 'e:eb-1', n: 3 }, { record_id: 'e:eb-2', n: 4 }]);
    });

    it('refuses unsigned, wrongly signed and unknown-key requests with 403 in AWS error shape', async () => {
      const { eb } = clients(s, acme, 'not-the-secret-access-key-000000000000');
      await assert.rejects(eb.send(new PutEventsCommand({ Entries: [{ Source: 'a', DetailType: 'b', Detail: '{}' }] })), (e: Error & { $metadata?: { httpStatusCode?: number } }) => {
        assert.equal(e.name, 'InvalidSignatureException');
        assert.equal(e.$metadata?.httpStatusCode, 403);
        return true;
      });
      const unknown = clients(s, { ...acme, accessKeyId: 'SLIKAAAAAAAAAAAAAAAA' });
      await assert.rejects(unknown.eb.send(new PutEventsCommand({ Entries: [{ Source: 'a', DetailType: 'b', Detail: '{}' }] })), /UnrecognizedClient|security token/);
      const res = await fetch(s.url, { method: 'POST', headers: { 'x-amz-target': 'AWSEvents.PutEvents', 'content-type': 'application/x-amz-json-1.1' }, body: '{"Entries":[]}' });
      assert.equal(res.status, 403);
      assert.equal(res.headers.get('x-amzn-errortype'), 'MissingAuthenticationTokenException');
      assert.equal((await res.json()).__type, 'MissingAuthenticationTokenException');
    });

    it('PutEvents limits: more than 10 entries, or more than 256 KiB of entries together, is a ValidationException', async () => {
      const { eb } = clients(s, acme);
      const entries = Array.from({ length: 11 }, () => ({ Source: 'a', DetailType: 'b', Detail: '{}' }));
      await assert.rejects(eb.send(new PutEventsCommand({ Entries: entries })), (e: Error) => e.name === 'ValidationException');
      // EventBridge's entry size: Source, DetailType and Detail in UTF-8 bytes, 14 for Time.
      // Four entries of 64 KiB each are the limit exactly; one byte more refuses the request.
      const entry = (bytes: number, time?: Date) => {
        const pad = bytes - 2 - (time ? 14 : 0) - '{"pad":""}'.length; // 'é' is 2 bytes in UTF-8
        assert.equal(pad % 2, 0);
        return { Source: 's', DetailType: 't', Detail: JSON.stringify({ pad: 'é'.repeat(pad / 2) }), ...(time ? { Time: time } : {}) };
      };
      const exact = [entry(64 * 1024), entry(64 * 1024), entry(64 * 1024), entry(64 * 1024, new Date())];
      const ok = await eb.send(new PutEventsCommand({ Entries: exact }));
      assert.equal(ok.FailedEntryCount, 0);
      const over = [...exact.slice(0, 3), { ...exact[3], Source: 'ss' }];
      await assert.rejects(eb.send(new PutEventsCommand({ Entries: over })), (e: Error) => {
        assert.equal(e.name, 'ValidationException');
        assert.match(e.message, /Total size of the entries in the request is over the limit/);
        return true;
      });
    });

    it('Firehose PutRecord and PutRecordBatch with the AWS SDK into a named stream', async () => {
      const { fh } = clients(s, acme);
      const rec = (id: string, n: number) => ({ Data: Buffer.from(JSON.stringify({ metric_name: 'direct', metadata: { tenant_id: 'acme', event_id: id, event_time: new Date().toISOString() }, data: { n } })) });
      const one = await fh.send(new PutRecordCommand({ DeliveryStreamName: 'metrics', Record: rec('fh-0', 1) }));
      assert.ok(one.RecordId);
      assert.equal(one.Encrypted, false);
      const batch = await fh.send(new PutRecordBatchCommand({ DeliveryStreamName: 'metrics', Records: [rec('fh-1', 1), rec('fh-2', 2), { Data: Buffer.from('not json') }] }));
      assert.equal(batch.FailedPutCount, 0);
      assert.equal(batch.RequestResponses!.length, 3);
      await assert.rejects(fh.send(new PutRecordCommand({ DeliveryStreamName: 'nope', Record: rec('x', 1) })), (e: Error) => e.name === 'ResourceNotFoundException');
      await s.pipeline.whenIdle();
      const rows = await s.db.query<{ n: number }>("select count(*)::int as n from sluice.metric_points where metric = 'direct'");
      assert.equal(rows[0].n, 3);
      // The record that is not JSON went to the stream's error output, with its code.
      const errors = await s.db.query<{ code: string; step: string }>("select code, step from sluice.stream_errors where code = 'invalid_json'");
      assert.deepEqual(errors, [{ code: 'invalid_json', step: 'decode' }]);
    });

    it('Firehose limits: 1,000 KiB a record and 4 MiB a batch of record data, exactly; a byte more is refused as Firehose refuses it', async () => {
      const { fh } = clients(s, acme);
      // Record data, not JSON (it reaches the error output): the sizes are what this test is about.
      const data = (bytes: number, fill: string) => ({ Data: Buffer.alloc(bytes, fill) });
      const KiB = 1024;
      assert.ok((await fh.send(new PutRecordCommand({ DeliveryStreamName: 'metrics', Record: data(1000 * KiB, 'a') }))).RecordId);
      await assert.rejects(fh.send(new PutRecordCommand({ DeliveryStreamName: 'metrics', Record: data(1000 * KiB + 1, 'a') })), (e: Error) => {
        assert.equal(e.name, 'ValidationException');
        assert.match(e.message, /less than or equal to 1024000/);
        return true;
      });
      // Four records of 1,000 KiB and one of 96 KiB: 4 MiB, a body of about 5.6 MB in base64.
      const full = [data(1000 * KiB, 'b'), data(1000 * KiB, 'c'), data(1000 * KiB, 'd'), data(1000 * KiB, 'e'), data(96 * KiB, 'f')];
      const batch = await fh.send(new PutRecordBatchCommand({ DeliveryStreamName: 'metrics', Records: full }));
      assert.equal(batch.FailedPutCount, 0);
      assert.equal(batch.RequestResponses!.length, 5);
      await assert.rejects(fh.send(new PutRecordBatchCommand({ DeliveryStreamName: 'metrics', Records: [...full.slice(0, 4), data(96 * KiB + 1, 'f')] })), (e: Error & { $metadata?: { httpStatusCode?: number } }) => {
        assert.equal(e.name, 'InvalidArgumentException');
        assert.equal(e.$metadata?.httpStatusCode, 400);
        return true;
      });
      await s.pipeline.whenIdle();
    });

    it('/v1/events takes a JSON array or NDJSON, answers per entry, and a bad entry never fails its neighbours', async () => {
      const at = new Date().toISOString();
      const arr = await postJson(`${s.url}/v1/events`, acme.key, [findings('acme', 'h-1', at, 1), { source: 'findings' }, findings('acme', 'h-2', at, 2)]);
      assert.equal(arr.status, 200);
      assert.equal(arr.body.accepted, 2);
      assert.equal(arr.body.failed, 1);
      assert.equal(arr.body.results[1].error.code, 'invalid_event');
      assert.match(arr.body.results[1].error.message, /detail-type must be a string/);
      const nd = [JSON.stringify(findings('acme', 'h-3', at, 3)), '{"source": oops', JSON.stringify({ metric_name: 'direct', metadata: { tenant_id: 'acme', event_id: 'h-4', event_time: at }, data: { n: 1 } })].join('\n');
      const res = await postJson(`${s.url}/v1/events`, acme.key, nd, { 'content-type': 'application/x-ndjson' });
      assert.equal(res.status, 200);
      assert.deepEqual(res.body.results.map((r: { id?: string; error?: { code: string } }) => r.error?.code ?? 'ok'), ['ok', 'malformed_json', 'ok']);
      assert.doesNotMatch(JSON.stringify(res.body), /oops/, 'errors never quote the payload');
      await s.pipeline.whenIdle();
      const rows = await s.db.query<{ record_id: string }>("select record_id from sluice.metric_points where record_id in ('e:h-1','e:h-2','e:h-3','e:h-4') order by 1");
      assert.deepEqual(rows.map((r) => r.record_id), ['e:h-1', 'e:h-2', 'e:h-3', 'e:h-4']);
    });

    it('bad requests: malformed JSON 400 naming where, oversized 413, too many entries 400, unknown stream 400, bad keys 401/403', async () => {
      const bad = await postJson(`${s.url}/v1/events`, acme.key, '[{"source": "a",\n "detail": }]');
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error.code, 'malformed_json');
      assert.match(bad.body.error.message, /line 2, column \d+/);
      const big = await postJson(`${s.url}/v1/events`, acme.key, 'x'.repeat(6 * 1024 * 1024));
      assert.equal(big.status, 413);
      assert.equal(big.body.error.code, 'body_too_large');
      const entry = await postJson(`${s.url}/v1/events`, acme.key, [{ source: 'a', 'detail-type': 'b', detail: { pad: 'y'.repeat(300 * 1024) } }]);
      assert.equal(entry.status, 413);
      assert.equal(entry.body.results[0].error.code, 'entry_too_large');
      const many = await postJson(`${s.url}/v1/events`, acme.key, Array.from({ length: 501 }, () => ({})));
      assert.equal(many.status, 400);
      assert.equal(many.body.error.code, 'too_many_entries');
      const stream = await postJson(`${s.url}/v1/events?stream=nope`, acme.key, [{ metric_name: 'm', metadata: {}, data: {} }]);
      assert.equal(stream.status, 400);
      assert.equal(stream.body.error.code, 'unknown_stream');
      assert.equal((await postJson(`${s.url}/v1/events`, 'nonsense', [])).status, 401);
      const none = await fetch(`${s.url}/v1/events`, { method: 'POST', body: '[]' });
      assert.equal(none.status, 401);
      assert.match(((await none.json()) as { error: { message: string } }).error.message, /\(an ingest or admin key\)$/);
      const read = await s.keys.create('acme', 'read');
      const wrongKind = await postJson(`${s.url}/v1/events`, read.key, []);
      assert.equal(wrongKind.status, 403);
      assert.equal(wrongKind.body.error.message, 'this endpoint takes an ingest or admin key, not a read key');
    });

    it('/v1/events takes gzip and deflate bodies, bounded decompressed, and ignores a byte order mark', async () => {
      const at = new Date().toISOString();
      const nd = [findings('acme', 'z-1', at, 1), findings('acme', 'z-2', at, 2)].map((e) => JSON.stringify(e)).join('\n');
      const gz = await postJson(`${s.url}/v1/events`, acme.key, gzipSync(nd), { 'content-encoding': 'gzip', 'content-type': 'application/x-ndjson' });
      assert.equal(gz.status, 200, JSON.stringify(gz.body));
      assert.equal(gz.body.accepted, 2);
      const df = await postJson(`${s.url}/v1/events`, acme.key, deflateSync(JSON.stringify([findings('acme', 'z-3', at, 3)])), { 'content-encoding': 'deflate' });
      assert.equal(df.body.accepted, 1, JSON.stringify(df.body));
      const raw = await postJson(`${s.url}/v1/events`, acme.key, deflateRawSync(JSON.stringify([findings('acme', 'z-4', at, 4)])), { 'content-encoding': 'deflate' });
      assert.equal(raw.body.accepted, 1, 'raw deflate, as some clients send it');
      const bom = await postJson(`${s.url}/v1/events`, acme.key, `\uFEFF${JSON.stringify(findings('acme', 'z-5', at, 5))}`);
      assert.equal(bom.body.accepted, 1, JSON.stringify(bom.body));
      await s.pipeline.whenIdle();
      const rows = await s.db.query<{ record_id: string }>("select record_id from sluice.metric_points where record_id like 'e:z-%' order by 1");
      assert.deepEqual(rows.map((r) => r.record_id), ['e:z-1', 'e:z-2', 'e:z-3', 'e:z-4', 'e:z-5']);

      const br = await postJson(`${s.url}/v1/events`, acme.key, nd, { 'content-encoding': 'br' });
      assert.equal(br.status, 415);
      assert.equal(br.body.error.code, 'unsupported_encoding');
      assert.match(br.body.error.message, /Content-Encoding br is not supported: .*gzip or deflate/);
      const corrupt = await postJson(`${s.url}/v1/events`, acme.key, Buffer.from('not gzip at all'), { 'content-encoding': 'gzip' });
      assert.equal(corrupt.status, 400);
      assert.equal(corrupt.body.error.code, 'invalid_encoding');
      // 6 MiB of spaces compress to a few KiB: the limit is of what the body decompresses to.
      const bomb = gzipSync(Buffer.alloc(6 * 1024 * 1024, 0x20));
      assert.ok(bomb.length < 64 * 1024);
      const big = await postJson(`${s.url}/v1/events`, acme.key, bomb, { 'content-encoding': 'gzip' });
      assert.equal(big.status, 413);
      assert.equal(big.body.error.code, 'body_too_large');
      // A query request may be compressed too.
      const read = await s.keys.create('acme', 'read');
      const q = await postJson(`${s.url}/v1/query`, read.key, gzipSync(JSON.stringify({ metric: 'findings_upload_completed', from: 'now-1h', step: '1h', aggregations: ['count'] })), { 'content-encoding': 'gzip' });
      assert.equal(q.status, 200, JSON.stringify(q.body));
    });

    it('a served path asked with another method is 405 with Allow; an unknown path is 404', async () => {
      const get = await fetch(`${s.url}/v1/events`, { headers: { authorization: `Bearer ${acme.key}` } });
      assert.equal(get.status, 405);
      assert.equal(get.headers.get('allow'), 'POST');
      assert.equal(((await get.json()) as { error: { code: string } }).error.code, 'method_not_allowed');
      // A path with a parameter, served with several methods.
      const patch = await fetch(`${s.url}/v1/dashboards/d-1`, { method: 'PATCH' });
      assert.equal(patch.status, 405);
      assert.equal(patch.headers.get('allow'), 'DELETE, GET, PUT');
      await patch.body?.cancel();
      const unknown = await fetch(`${s.url}/v1/nothing`, { method: 'POST' });
      assert.equal(unknown.status, 404);
      assert.equal(((await unknown.json()) as { error: { code: string } }).error.code, 'not_found');
    });

    it('a producer retrying the same events is counted once', async () => {
      const before = await pointCount(s, 'acme');
      const batch = [findings('acme', 'r-1', new Date().toISOString(), 1), findings('acme', 'r-2', new Date().toISOString(), 1)];
      for (let i = 0; i < 3; i++) assert.equal((await postJson(`${s.url}/v1/events`, acme.key, batch)).status, 200);
      await s.pipeline.whenIdle();
      assert.equal(await pointCount(s, 'acme'), before + 2);
    });

    it('an ingest key only lands records in its own tenant', async () => {
      const res = await postJson(`${s.url}/v1/events`, globexIngest.key, [findings('acme', 'cross-1', new Date().toISOString(), 9)]);
      assert.equal(res.status, 200);
      await s.pipeline.whenIdle();
      const rows = await s.db.query("select 1 from sluice.metric_points where record_id = 'e:cross-1'");
      assert.equal(rows.length, 0);
      const refused = await s.db.query<{ code: string; tenant: string; destination: string; source_tenant: string }>(
        "select code, tenant, destination, source_tenant from sluice.dead_letters where code = 'tenant_mismatch'",
      );
      assert.deepEqual(refused, [{ code: 'tenant_mismatch', tenant: 'acme', destination: 'metrics', source_tenant: 'globex' }]);
    });

    it('a tenant over its rate gets 429 with Retry-After; other tenants are unaffected', async () => {
      const flood = Array.from({ length: 500 }, (_, i) => findings('acme', `flood-${i}`, new Date().toISOString(), 1));
      let limited: Awaited<ReturnType<typeof postJson>> | null = null;
      for (let i = 0; i < 4 && !limited; i++) {
        const r = await postJson(`${s.url}/v1/events`, acme.key, flood);
        if (r.status === 429) limited = r;
      }
      assert.ok(limited, 'expected a 429 within 2,000 events at 1 event/s with a burst of 1,000');
      assert.equal(limited.body.error.code, 'rate_limited');
      assert.ok(Number(limited.headers.get('retry-after')) >= 1);
      const other = await postJson(`${s.url}/v1/events`, globexIngest.key, [findings('globex', 'g-1', new Date().toISOString(), 1)]);
      assert.equal(other.status, 200);
    });

    it('a revoked key is refused', async () => {
      const k = await s.keys.create('acme', 'ingest');
      assert.equal((await postJson(`${s.url}/v1/events`, k.key, [findings('acme', 'rv', new Date().toISOString(), 1)])).status, 200);
      assert.ok(await s.keys.revoke(k.key));
      assert.equal((await postJson(`${s.url}/v1/events`, k.key, [])).status, 401);
    });
  });
}
