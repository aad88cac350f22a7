/**
 * A local AWS Secrets Manager that answers GetSecretValue as AWS documents it (JSON 1.1
 * protocol: POST /, X-Amz-Target secretsmanager.GetSecretValue, a SigV4 signature for the
 * service "secretsmanager"), and refuses every request that breaks the protocol. It counts the
 * calls, so tests can show a secret is read once.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseAuthorization, SignatureError, verifySigV4 } from '../../src/auth/sigv4.ts';

export interface FakeSecretsManager {
  url: string;
  /** GetSecretValue requests answered with a value. */
  calls: number;
  /** Protocol violations seen (any is a test failure). */
  violations: string[];
  close(): Promise<void>;
}

export const TEST_CREDENTIALS = { accessKeyId: 'AKIDSECRETSTEST00001', secretAccessKey: 'secrets-test-secret-access-key-0001' };

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Serves `secrets` (name → SecretString); a name may also be given as an ARN ending in it. */
export async function startFakeSecretsManager(secrets: Record<string, string>): Promise<FakeSecretsManager> {
  const state = { calls: 0, violations: [] as string[] };
  const server: Server = createServer(async (req, res) => {
    const raw = await body(req);
    const fail = (status: number, type: string, message: string) => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': 'fake' });
      res.end(JSON.stringify({ __type: type, message }));
    };
    const violation = (m: string) => {
      state.violations.push(m);
      fail(400, 'ValidationException', m);
    };
    if (req.method !== 'POST' || req.url !== '/') return violation(`expected POST /, got ${req.method} ${req.url}`);
    if (req.headers['content-type'] !== 'application/x-amz-json-1.1') return violation(`content-type ${req.headers['content-type']}`);
    if (req.headers['x-amz-target'] !== 'secretsmanager.GetSecretValue') return violation(`x-amz-target ${req.headers['x-amz-target']}`);
    try {
      const auth = parseAuthorization(req.headers.authorization);
      if (auth.service !== 'secretsmanager') return violation(`signed for service ${auth.service}`);
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : v]));
      await verifySigV4({ method: 'POST', path: '/', query: '', headers, body: raw }, async (id) => (id === TEST_CREDENTIALS.accessKeyId ? { principal: id, secret: TEST_CREDENTIALS.secretAccessKey } : null), Date.now());
    } catch (e) {
      return fail(e instanceof SignatureError ? 403 : 400, e instanceof SignatureError ? e.type : 'UnrecognizedClientException', (e as Error).message);
    }
    let input: { SecretId?: unknown; VersionStage?: unknown; VersionId?: unknown };
    try {
      input = JSON.parse(raw.toString('utf8'));
    } catch {
      return violation('the body is not JSON');
    }
    const known = ['SecretId', 'VersionStage', 'VersionId'];
    const unknown = Object.keys(input).filter((k) => !known.includes(k));
    if (unknown.length > 0) return violation(`unknown members ${unknown.join(', ')}`);
    if (typeof input.SecretId !== 'string' || input.SecretId.length < 1 || input.SecretId.length > 2048) return violation('SecretId must be a string of 1 to 2048 characters');
    if (input.VersionStage !== undefined && input.VersionStage !== 'AWSCURRENT') {
      return fail(400, 'ResourceNotFoundException', `Secrets Manager can't find the specified secret value for staging label: ${String(input.VersionStage)}`);
    }
    const name = Object.keys(secrets).find((n) => input.SecretId === n || (input.SecretId as string).endsWith(`:secret:${n}`));
    if (name === undefined) return fail(400, 'ResourceNotFoundException', "Secrets Manager can't find the specified secret.");
    state.calls++;
    res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': 'fake' });
    res.end(
      JSON.stringify({
        ARN: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}-AbCdEf`,
        Name: name,
        VersionId: '8f0c3c1e-0000-4000-8000-000000000001',
        SecretString: secrets[name],
        VersionStages: ['AWSCURRENT'],
        CreatedDate: 1.7e9,
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get calls() {
      return state.calls;
    },
    violations: state.violations,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
