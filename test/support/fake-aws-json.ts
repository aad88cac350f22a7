/**
 * A local AWS service speaking the JSON 1.1 protocol as AWS documents it: POST /, content type
 * application/x-amz-json-1.1, X-Amz-Target `<prefix>.<Operation>`, a SigV4 signature for the
 * service by TEST_CREDENTIALS. Every request that breaks the protocol is refused and recorded as
 * a violation (any is a test failure); operations answer through `handle`.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseAuthorization, SignatureError, verifySigV4 } from '../../src/auth/sigv4.ts';

export const TEST_CREDENTIALS = { accessKeyId: 'AKIDSECRETSTEST00001', secretAccessKey: 'secrets-test-secret-access-key-0001' };

export interface FakeAwsService {
  url: string;
  /** Requests answered with 200. */
  calls: number;
  /** The region each signed request was signed for (its credential scope), in order. */
  regions: string[];
  violations: string[];
  close(): Promise<void>;
}

/** What an operation answers: 200 with a body, or AWS's error shape. */
export type Answer = { ok: unknown } | { status: number; type: string; message: string } | { violation: string };

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function startFakeAwsJson(o: { signingName: string; targetPrefix: string; operations: Record<string, (input: Record<string, unknown>) => Answer> }): Promise<FakeAwsService> {
  const state = { calls: 0, regions: [] as string[], violations: [] as string[] };
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
    const target = String(req.headers['x-amz-target'] ?? '');
    const operation = target.startsWith(`${o.targetPrefix}.`) ? o.operations[target.slice(o.targetPrefix.length + 1)] : undefined;
    if (!operation) return violation(`x-amz-target ${target}`);
    try {
      const auth = parseAuthorization(req.headers.authorization);
      if (auth.service !== o.signingName) return violation(`signed for service ${auth.service}`);
      state.regions.push(auth.region);
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : v]));
      await verifySigV4({ method: 'POST', path: '/', query: '', headers, body: raw }, async (id) => (id === TEST_CREDENTIALS.accessKeyId ? { principal: id, secret: TEST_CREDENTIALS.secretAccessKey } : null), Date.now());
    } catch (e) {
      return fail(e instanceof SignatureError ? 403 : 400, e instanceof SignatureError ? e.type : 'UnrecognizedClientException', (e as Error).message);
    }
    let input: unknown;
    try {
      input = JSON.parse(raw.toString('utf8'));
    } catch {
      return violation('the body is not JSON');
    }
    if (input === null || typeof input !== 'object' || Array.isArray(input)) return violation('the body is not a JSON object');
    const answer = operation(input as Record<string, unknown>);
    if ('violation' in answer) return violation(answer.violation);
    if ('status' in answer) return fail(answer.status, answer.type, answer.message);
    state.calls++;
    res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': 'fake' });
    res.end(JSON.stringify(answer.ok));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get calls() {
      return state.calls;
    },
    regions: state.regions,
    violations: state.violations,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
