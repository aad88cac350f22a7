// Processors as a stream runs them: validate (the unified metric schema and per-metric
// schemas), pseudonymize (key ring, policies, rotation), enrich with its cache, custom steps.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { drop, fail, ok } from '../../src/core/outcome.ts';
import { KeyRingError, Pseudonymizer, bucketNumber, coarsenDate, parseKeyRing, truncateIp } from '../../src/core/privacy/pseudonymizer.ts';
import { createCustom } from '../../src/processors/custom.ts';
import { cached, createEnrich } from '../../src/processors/enrich.ts';
import { createValidate } from '../../src/processors/validate.ts';

const record = (over: Record<string, unknown> = {}) => ({
  metric_name: 'findings_upload_completed',
  metadata: { tenant_id: 'acme', event_id: 'e1', event_time: '2024-05-01T10:00:00Z' },
  data: { new_findings_count: 3, existing_findings_count: 10 },
  ...over,
});

describe('validate', () => {
  it('accepts unified metric records and fails the others with a path, never a value', () => {
    const v = createValidate({ type: 'validate' });
    const out = v.process([
      record(),
      record({ metadata: { tenant_id: 'acme', event_time: 'yesterday at noon' } }),
      record({ extra: 1 }),
      { metric_name: 'x' },
      record({ metadata: { tenant_id: 'Secret Person', event_time: '2024-05-01T10:00:00Z' } }),
    ]) as Array<{ kind: string; code?: string; reason?: string }>;
    assert.deepEqual(out.map((o) => o.kind), ['ok', 'fail', 'fail', 'fail', 'fail']);
    assert.equal(out[1].code, 'schema_invalid');
    assert.match(out[1].reason!, /\/metadata\/event_time must match format "date-time"/);
    assert.match(out[2].reason!, /must NOT have additional properties/);
    assert.doesNotMatch(JSON.stringify(out), /Secret Person|yesterday/);
  });

  it('checks data against a per-metric schema, and can drop instead of fail', () => {
    const v = createValidate({ type: 'validate', on_invalid: 'drop', metric_schemas: { findings_upload_completed: { type: 'object', required: ['new_findings_count'], properties: { new_findings_count: { type: 'integer', minimum: 0 } } } } });
    const out = v.process([record(), record({ data: { new_findings_count: -1 } }), record({ metric_name: 'other', data: {} })]) as Array<{ kind: string; reason?: string }>;
    assert.deepEqual(out.map((o) => o.kind), ['ok', 'drop', 'ok']);
    assert.match(out[1].reason!, /schema of findings_upload_completed.*must be >= 0/);
  });
});

describe('pseudonymize', () => {
  const ring = parseKeyRing('k2:second-secret-0123456789,k1:first-secret-0123456789');
  const p = new Pseudonymizer(ring, { 'metadata.user_id': 'hash', 'metadata.email': 'drop', 'metadata.ip': 'truncate-ip', 'data.birth_date': 'coarsen-date', 'metadata.plan': 'keep' });
  const input = { metadata: { user_id: 'u-42', email: 'a@b.c', ip: '203.0.113.77', plan: 'pro' }, data: { birth_date: '1990-07-14' } };

  it('applies each field policy and leaves the input unchanged', () => {
    const out = p.apply(input) as typeof input;
    assert.match(out.metadata.user_id, /^k2:[0-9a-f]{32}$/);
    assert.equal('email' in out.metadata, false);
    assert.equal(out.metadata.ip, '203.0.113.0');
    assert.equal(out.metadata.plan, 'pro');
    assert.equal(out.data.birth_date, '1990-07-01');
    assert.equal(input.metadata.user_id, 'u-42');
    assert.doesNotMatch(JSON.stringify(out), /u-42|a@b\.c|\.77|07-14/);
  });

  it('gives the same pseudonym for the same value and key, and a different one per key', () => {
    const again = new Pseudonymizer(parseKeyRing('k2:second-secret-0123456789'), { 'metadata.user_id': 'hash' });
    assert.equal((again.apply(input) as typeof input).metadata.user_id, (p.apply(input) as typeof input).metadata.user_id);
    const all = p.pseudonymsOf('u-42');
    assert.equal(all.length, 2);
    assert.ok(all[0].startsWith('k2:') && all[1].startsWith('k1:'));
    assert.notEqual(all[0].slice(3), all[1].slice(3));
  });

  it('truncates IPv6 to /48 and drops what is not an address or a date', () => {
    assert.equal(truncateIp('2001:db8:85a3:8d3:1319:8a2e:370:7348'), '2001:db8:85a3::');
    assert.equal(truncateIp('not an ip'), undefined);
    assert.equal(coarsenDate('soon'), undefined);
  });

  it('buckets numbers by width or by edges, keeping the type, and drops what is not a number', () => {
    assert.equal(bucketNumber(1234.5, 100), 1200);
    assert.equal(bucketNumber(-5, 10), -10);
    assert.equal(bucketNumber(0.35, 0.1), 0.3);
    assert.equal(bucketNumber('77', 25), '75');
    const edges = [0, 18, 25, 35, 50, 65];
    assert.deepEqual([17, 18, 24.9, 64, 65, 99].map((n) => bucketNumber(n, edges)), [0, 18, 18, 50, 65, 65]);
    assert.equal(bucketNumber(-1, edges), undefined);
    assert.equal(bucketNumber('many', 10), undefined);
    assert.equal(bucketNumber(true, 10), undefined);
    const out = new Pseudonymizer(ring, { 'data.amount': { bucket: 100 }, 'data.age': { bucket: edges } }).apply({ data: { amount: 349.99, age: 'unknown' } });
    assert.deepEqual(out, { data: { amount: 300 } });
  });

  it('refuses unusable key rings without showing the key', () => {
    assert.throws(() => parseKeyRing(''), KeyRingError);
    assert.throws(() => parseKeyRing('k1:short'), /at least 16 characters/);
    assert.throws(() => parseKeyRing('k1:aaaaaaaaaaaaaaaaaaaa,k1:bbbbbbbbbbbbbbbbbbbbbb'), /appears twice/);
    try {
      parseKeyRing('bad key:topsecretvalue12345');
    } catch (e) {
      assert.doesNotMatch((e as Error).message, /topsecret/);
    }
  });

  it('reads the JSON form a generated Secrets Manager secret holds, naming the current key when there are several', () => {
    const one = parseKeyRing('{"k1":"first-secret-0123456789"}');
    assert.equal(one.current, 'k1');
    const two = parseKeyRing(' {"current":"k2","k1":"first-secret-0123456789","k2":"second-secret-0123456789"}\n');
    assert.equal(two.current, 'k2');
    // The same keys give the same pseudonyms in either form.
    const fromText = new Pseudonymizer(ring, { 'metadata.user_id': 'hash' }).apply(input);
    assert.deepEqual(new Pseudonymizer(two, { 'metadata.user_id': 'hash' }).apply(input), fromText);
    assert.throws(() => parseKeyRing('{"k1":"first-secret-0123456789","k2":"second-secret-0123456789"}'), /must name the current one/);
    assert.throws(() => parseKeyRing('{"current":"k9","k1":"first-secret-0123456789"}'), /"current" must name/);
    assert.throws(() => parseKeyRing('{"k1":"short"}'), /a secret of at least 16 characters/);
    assert.throws(() => parseKeyRing('{"k1":'), /not a JSON object/);
  });
});

describe('enrich and custom steps', () => {
  it('enriches a batch with one lookup per distinct missing key, cached', async () => {
    const asked: string[][] = [];
    const names = cached(async (ids: string[]) => {
      asked.push(ids);
      return new Map(ids.map((id) => [id, id.toUpperCase()]));
    });
    const step = createEnrich({
      type: 'enrich',
      fn: async (records) => {
        const ids = records.map((r) => (r as { metadata: { tenant_id: string } }).metadata.tenant_id);
        const found = await names(ids);
        return records.map((r, i) => ({ ...(r as object), metadata: { ...(r as { metadata: object }).metadata, tenant_name: found.get(ids[i]) } }));
      },
    });
    const batch = [record(), record(), record({ metadata: { tenant_id: 'globex', event_time: '2024-05-01T10:00:00Z' } })];
    const out = (await step.process(batch)) as Array<{ kind: string; value: { metadata: { tenant_name: string } } }>;
    assert.deepEqual(out.map((o) => o.value.metadata.tenant_name), ['ACME', 'ACME', 'GLOBEX']);
    await step.process(batch);
    assert.deepEqual(asked, [['acme', 'globex']]);
  });

  it('a throwing or misbehaving step fails its records with processor_error instead of losing them', async () => {
    const thrower = createEnrich({ type: 'enrich', fn: () => { throw new Error('user 42 not found'); } });
    const out = (await thrower.process([record()])) as Array<{ kind: string; code: string; reason: string }>;
    assert.equal(out[0].code, 'enrich_error');
    assert.doesNotMatch(out[0].reason, /user 42/);
    const wrong = createCustom({ type: 'custom', name: 'mine', process: () => [ok(1)] });
    assert.deepEqual(((await wrong.process([1, 2])) as Array<{ code: string }>).map((o) => o.code), ['processor_error', 'processor_error']);
    const good = createCustom({ type: 'custom', name: 'mine', process: (rs) => rs.map((r, i) => (i === 0 ? ok(r) : i === 1 ? drop('test tenant') : fail('Bad Code!', 'x'))) });
    const res = (await good.process([1, 2, 3])) as Array<{ kind: string; code?: string }>;
    assert.deepEqual(res.map((o) => o.kind), ['ok', 'drop', 'fail']);
    assert.equal(res[2].code, 'processor_error', 'codes are bounded: an invalid one becomes processor_error');
  });
});
