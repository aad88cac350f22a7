/**
 * Verifies AWS Signature Version 4 on a request, as AWS services do, so that the AWS SDKs and
 * the AWS CLI can send to Sluice with an ingest key's access key pair. The body's hash is
 * always computed and compared with `x-amz-content-sha256` when that header is present.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** What the verifier needs of a request. Header names are lower case. */
export interface SignedRequest {
  method: string;
  path: string;
  query: string;
  headers: Record<string, string | undefined>;
  body: Uint8Array;
}

/** Why a signature was refused, with the AWS error type it is reported as. */
export class SignatureError extends Error {
  constructor(
    readonly type: 'MissingAuthenticationTokenException' | 'IncompleteSignatureException' | 'UnrecognizedClientException' | 'InvalidSignatureException',
    message: string,
  ) {
    super(message);
  }
}

/** How far a request's X-Amz-Date may be from the server's clock, as AWS allows. */
const MAX_SKEW_MS = 15 * 60 * 1000;

interface Authorization {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
}

export function parseAuthorization(header: string | undefined): Authorization {
  if (!header) throw new SignatureError('MissingAuthenticationTokenException', 'Missing Authentication Token: sign the request with AWS Signature Version 4');
  const m = /^AWS4-HMAC-SHA256\s+(.*)$/.exec(header);
  if (!m) throw new SignatureError('IncompleteSignatureException', 'Authorization header must use AWS4-HMAC-SHA256');
  const parts = new Map<string, string>();
  for (const p of m[1].split(',')) {
    const i = p.indexOf('=');
    if (i > 0) parts.set(p.slice(0, i).trim(), p.slice(i + 1).trim());
  }
  const credential = parts.get('Credential')?.split('/');
  const signedHeaders = parts.get('SignedHeaders');
  const signature = parts.get('Signature');
  if (!credential || credential.length !== 5 || credential[4] !== 'aws4_request' || !signedHeaders || !signature) {
    throw new SignatureError('IncompleteSignatureException', 'Authorization header needs Credential=KEY/DATE/REGION/SERVICE/aws4_request, SignedHeaders and Signature');
  }
  return {
    accessKeyId: credential[0],
    date: credential[1],
    region: credential[2],
    service: credential[3],
    signedHeaders: signedHeaders.split(';'),
    signature,
  };
}

const sha256hex = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex');
const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest();

/** RFC 3986 encoding, as SigV4 requires. */
function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}

function canonicalPath(path: string): string {
  if (path === '' || path === '/') return '/';
  return path
    .split('/')
    .map((seg) => uriEncode(decodeURIComponent(seg)))
    .join('/');
}

function canonicalQuery(query: string): string {
  if (!query) return '';
  return query
    .split('&')
    .filter((p) => p.length > 0)
    .map((p) => {
      const i = p.indexOf('=');
      const k = decodeURIComponent((i < 0 ? p : p.slice(0, i)).replace(/\+/g, ' '));
      const v = i < 0 ? '' : decodeURIComponent(p.slice(i + 1).replace(/\+/g, ' '));
      return [uriEncode(k), uriEncode(v)] as const;
    })
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

/**
 * Checks a request's signature with `secretFor(accessKeyId)`; returns the access key id's
 * principal. Throws SignatureError when anything is missing or does not match.
 *
 * @example const who = await verifySigV4(req, (id) => keys.signingSecret(id), Date.now());
 */
export async function verifySigV4<P>(
  req: SignedRequest,
  secretFor: (accessKeyId: string) => Promise<{ principal: P; secret: string } | null>,
  now: number,
): Promise<P> {
  const auth = parseAuthorization(req.headers.authorization);
  const amzDate = req.headers['x-amz-date'];
  if (!amzDate || !/^\d{8}T\d{6}Z$/.test(amzDate)) throw new SignatureError('IncompleteSignatureException', 'X-Amz-Date header is missing or not in the form YYYYMMDDTHHMMSSZ');
  if (!auth.signedHeaders.includes('host')) throw new SignatureError('IncompleteSignatureException', 'SignedHeaders must include host');
  if (amzDate.slice(0, 8) !== auth.date) throw new SignatureError('InvalidSignatureException', 'Credential date does not match X-Amz-Date');
  const t = Date.UTC(+amzDate.slice(0, 4), +amzDate.slice(4, 6) - 1, +amzDate.slice(6, 8), +amzDate.slice(9, 11), +amzDate.slice(11, 13), +amzDate.slice(13, 15));
  if (Math.abs(now - t) > MAX_SKEW_MS) throw new SignatureError('InvalidSignatureException', 'Signature expired: X-Amz-Date is more than 15 minutes from the server time');
  const found = await secretFor(auth.accessKeyId);
  if (!found) throw new SignatureError('UnrecognizedClientException', 'The security token included in the request is invalid: unknown or revoked access key id');

  const bodyHash = sha256hex(req.body);
  const declared = req.headers['x-amz-content-sha256'];
  if (declared !== undefined && declared !== 'UNSIGNED-PAYLOAD' && declared !== bodyHash) {
    throw new SignatureError('InvalidSignatureException', 'x-amz-content-sha256 does not match the request body');
  }
  const headers = auth.signedHeaders.map((h) => `${h}:${(req.headers[h] ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
  const canonical = [req.method, canonicalPath(req.path), canonicalQuery(req.query), headers, auth.signedHeaders.join(';'), declared ?? bodyHash].join('\n');
  const scope = `${auth.date}/${auth.region}/${auth.service}/aws4_request`;
  const toSign = `AWS4-HMAC-SHA256\n${amzDate}\n${scope}\n${sha256hex(canonical)}`;
  const key = hmac(hmac(hmac(hmac('AWS4' + found.secret, auth.date), auth.region), auth.service), 'aws4_request');
  const expected = createHmac('sha256', key).update(toSign).digest();
  const given = Buffer.from(auth.signature, 'hex');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new SignatureError('InvalidSignatureException', 'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.');
  }
  return found.principal;
}
