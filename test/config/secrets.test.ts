// Key rings from AWS Secrets Manager: fetched with GetSecretValue (signed with SigV4 and the
// SDK's credential chain) from a local server that speaks its JSON protocol and checks the
// signature, once per process, and used by a running Sluice; the region a call is signed for;
// and the failures a deployment can meet, named without the value.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { SecretSource, SluiceConfig } from '../../src/config/config.ts';
import { loadKeyRings } from '../../src/runtime/key-rings.ts';
import { createLogger } from '../../src/runtime/logger.ts';
import { startFakeSecretsManager, TEST_CREDENTIALS, type FakeSecretsManager } from '../support/fake-secrets-manager.ts';
import { postJson, startTestSluice } from '../support/test-sluice.ts';

process.env.AWS_ACCESS_KEY_ID = TEST_CREDENTIALS.accessKeyId;
process.env.AWS_SECRET_ACCESS_KEY = TEST_CREDENTIALS.secretAccessKey;
process.env.AWS_REGION = 'eu-west-1';

const RING = 'k2:second-secret-0123456789abcdef,k1:first-secret-0123456789abcdef';
const log = createLogger('text', () => {});

describe('AWS Secrets Manager key source', () => {
  let sm: FakeSecretsManager;
  before(async () => {
    sm = await startFakeSecretsManager({ 'sluice/pseudonym-keys': RING, 'sluice/app': JSON.stringify({ db_password: 'x', pseudonym_keys: RING }), 'sluice/binary-keys': { binary: Buffer.from(RING) } });
  });
  after(async () => {
    assert.deepEqual(sm.violations, []);
    await sm.close();
  });

  it('loads a key ring with GetSecretValue once, however many steps name it', async () => {
    const source: SecretSource = { aws_secret: 'sluice/pseudonym-keys', endpoint: sm.url };
    const before = sm.calls;
    const rings = await loadKeyRings([source, { ...source }, source], 'start', '/nonexistent', log);
    const ring = rings(source);
    assert.equal(ring.current, 'k2');
    assert.deepEqual([...ring.keys.keys()], ['k2', 'k1']);
    assert.equal(rings({ ...source }), ring);
    assert.equal(sm.calls - before, 1);
  });

  it('picks one key of a JSON secret with json_key, and accepts the ARN as the id', async () => {
    const source: SecretSource = { aws_secret: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:sluice/app', json_key: 'pseudonym_keys', endpoint: sm.url, region: 'eu-west-1' };
    const ring = (await loadKeyRings([source], 'start', '/nonexistent', log))(source);
    assert.equal(ring.keys.get('k1')!.toString(), 'first-secret-0123456789abcdef');
  });

  it('signs for the region the source names, else the one in the ARN, else AWS_REGION', async () => {
    const load = async (source: SecretSource): Promise<string> => {
      const ring = (await loadKeyRings([source], 'start', '/nonexistent', log))(source);
      assert.equal(ring.current, 'k2');
      return sm.regions.at(-1)!;
    };
    const arn = 'arn:aws:secretsmanager:us-west-2:123456789012:secret:sluice/pseudonym-keys';
    assert.equal(await load({ aws_secret: arn, endpoint: sm.url }), 'us-west-2');
    assert.equal(await load({ aws_secret: arn, endpoint: sm.url, region: 'ap-south-1' }), 'ap-south-1');
    assert.equal(await load({ aws_secret: 'sluice/pseudonym-keys', endpoint: sm.url }), 'eu-west-1');
  });

  it('reads a binary secret (base64 in the protocol) as its UTF-8 text', async () => {
    const source: SecretSource = { aws_secret: 'sluice/binary-keys', endpoint: sm.url };
    const ring = (await loadKeyRings([source], 'start', '/nonexistent', log))(source);
    assert.equal(ring.keys.get('k1')!.toString(), 'first-secret-0123456789abcdef');
  });

  it('names the secret and AWS error, never a value, when it cannot be read or used', async () => {
    const refuse = (source: SecretSource, pattern: RegExp) =>
      assert.rejects(loadKeyRings([source], 'start', '/nonexistent', log), (e: Error) => {
        assert.match(e.message, pattern);
        assert.doesNotMatch(e.message, /secret-0123456789abcdef|db_password/);
        return true;
      });
    await refuse({ aws_secret: 'sluice/missing', endpoint: sm.url }, /Secrets Manager secret sluice\/missing: ResourceNotFoundException/);
    await refuse({ aws_secret: 'sluice/pseudonym-keys', endpoint: sm.url, version_stage: 'AWSPREVIOUS' }, /ResourceNotFoundException.*AWSPREVIOUS/);
    await refuse({ aws_secret: 'sluice/app', endpoint: sm.url }, /sluice\/app cannot be used: every member of a JSON key ring must be/);
    await refuse({ aws_secret: 'sluice/app', json_key: 'absent', endpoint: sm.url }, /has no string under key absent/);
    // Nothing listens there: tried three times, then the network error is named.
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const { port } = closed.address() as AddressInfo;
    await new Promise((r) => closed.close(r));
    await refuse({ aws_secret: 'sluice/pseudonym-keys', endpoint: `http://127.0.0.1:${port}` }, /sluice\/pseudonym-keys: TypeError: fetch failed \(ECONNREFUSED\)/);
    const saved = process.env.AWS_SECRET_ACCESS_KEY;
    process.env.AWS_SECRET_ACCESS_KEY = 'a-wrong-secret-access-key-00000000000';
    try {
      await refuse({ aws_secret: 'sluice/pseudonym-keys', endpoint: sm.url }, /InvalidSignatureException/);
    } finally {
      process.env.AWS_SECRET_ACCESS_KEY = saved;
    }
  });

  it('a running Sluice pseudonymizes with the key from Secrets Manager, fetched once at start', async () => {
    const calls = sm.calls;
    const config: SluiceConfig = {
      rules: [{ name: 'profiles', pattern: { source: ['crm'] }, targets: [{ stream: 'profiles', input_path: '$.detail' }] }],
      streams: {
        profiles: {
          buffer: { max_records: 2, interval_seconds: 0 },
          processors: [{ type: 'pseudonymize', key: { aws_secret: 'sluice/pseudonym-keys', endpoint: sm.url }, fields: { user_id: 'hash', age: { bucket: 10 } } }],
          destination: { type: 'stdout' },
        },
      },
    };
    const s = await startTestSluice('PGlite', config);
    try {
      const key = await s.keys.create('acme', 'ingest');
      const events = ['u-1', 'u-2', 'u-3', 'u-4', 'u-5'].map((u, i) => ({ source: 'crm', 'detail-type': 'user-updated', detail: { user_id: u, age: 21 + i * 7 } }));
      const res = await postJson(`${s.url}/v1/events`, key.key, events);
      assert.equal(res.status, 200);
      await s.pipeline.whenIdle();
      const out = s.stdout.join('').trim().split('\n').map((l) => JSON.parse(l) as { user_id: string; age: number });
      const hmac = (u: string) => 'k2:' + createHmac('sha256', 'second-secret-0123456789abcdef').update(u).digest('hex').slice(0, 32);
      assert.deepEqual(out.map((r) => r.user_id).sort(), ['u-1', 'u-2', 'u-3', 'u-4', 'u-5'].map(hmac).sort());
      assert.deepEqual(out.map((r) => r.age).sort(), [20, 20, 30, 40, 40]);
      assert.equal(sm.calls - calls, 1, 'the secret is read once at start, not per batch');
    } finally {
      await s.close();
    }
  });
});
