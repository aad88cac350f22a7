/**
 * One call of an AWS JSON 1.1 API (X-Amz-Target), signed with SigV4 using the SDK's default
 * credential chain: what Sluice reads its configuration with at start (Parameter Store settings
 * of a deployment, Secrets Manager secrets). A full SDK client per API (SSM's is ~200 KB
 * minified) would dominate a Lambda handler's bundle and its cold start for one call.
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { SignatureV4 } from '@smithy/signature-v4';

/** The hash SigV4 asks for, from Node's crypto (HMAC when given a secret). */
type SourceData = string | ArrayBuffer | ArrayBufferView;
const bytes = (d: SourceData): Buffer => (typeof d === 'string' ? Buffer.from(d) : ArrayBuffer.isView(d) ? Buffer.from(d.buffer, d.byteOffset, d.byteLength) : Buffer.from(d));

class Sha256 {
  private readonly h: Hash | Hmac;
  constructor(secret?: SourceData) {
    this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: SourceData): void {
    this.h.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.h.digest());
  }
}

export class AwsCallError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** Throttling, 5xx and network errors are retried twice, with backoff and jitter (for `retryAttempts`). */
export const AWS_RETRY = {
  attempts: 3,
  waitMs: (attempt: number): number => 100 * 2 ** attempt * (0.5 + Math.random()),
  retryable: (e: unknown): boolean => !(e instanceof AwsCallError) || e.status >= 500 || /Throttl/.test(e.code),
};

/**
 * A failed call for a message: AWS's error code and message, or the network error's name and
 * cause (`TypeError: fetch failed (ECONNREFUSED)`). AWS's messages name resources, never values.
 */
export function describeAwsError(e: unknown): string {
  const err = e as { code?: unknown; name?: string; message?: string; cause?: { code?: unknown; message?: unknown } };
  const code = typeof err.code === 'string' ? err.code : (err.name ?? 'Error');
  const why = typeof err.cause?.code === 'string' ? err.cause.code : err.cause?.message;
  const cause = typeof why === 'string' && why ? ` (${why})` : '';
  return `${code}: ${err.message || 'failed'}${cause}`;
}

export interface AwsJsonCall {
  /** The signing name and endpoint prefix, e.g. `ssm`. */
  service: string;
  /** e.g. `AmazonSSM.GetParametersByPath`. */
  target: string;
  body: unknown;
  /** Default: AWS_REGION, else AWS_DEFAULT_REGION, else us-east-1. */
  region?: string;
  /** Default `https://<service>.<region>.amazonaws.com`. */
  endpoint?: string;
  timeoutMs?: number;
}

/**
 * @example await awsJsonCall({ service: 'ssm', target: 'AmazonSSM.GetParametersByPath', body: { Path: '/sluice/prod/' } });
 * @throws AwsCallError with AWS's error code (`__type`) and message
 */
export async function awsJsonCall<T>(call: AwsJsonCall): Promise<T> {
  const region = call.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1';
  const url = new URL(call.endpoint ?? `https://${call.service}.${region}.amazonaws.com`);
  const body = JSON.stringify(call.body);
  const signer = new SignatureV4({ service: call.service, region, credentials: defaultProvider(), sha256: Sha256 });
  const signed = await signer.sign({
    method: 'POST',
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port ? Number(url.port) : undefined,
    path: url.pathname,
    headers: { host: url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': call.target },
    body,
  });
  const res = await fetch(url, { method: 'POST', headers: signed.headers as Record<string, string>, body, signal: AbortSignal.timeout(call.timeoutMs ?? 10_000) });
  const text = await res.text();
  let parsed: Record<string, unknown> = {};
  try {
    parsed = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    throw new AwsCallError('InvalidResponse', `${call.target} answered ${res.status} with a body that is not JSON`, res.status);
  }
  if (!res.ok) {
    const code = String(parsed.__type ?? `HTTP${res.status}`).split('#').at(-1)!;
    throw new AwsCallError(code, String(parsed.message ?? parsed.Message ?? ''), res.status);
  }
  return parsed as T;
}
