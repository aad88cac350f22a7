/**
 * `POST /`: the AWS JSON 1.1 protocol, so the AWS SDKs' EventBridge and Firehose clients and the
 * AWS CLI can send to Sluice with `endpoint` pointed at it. Every request must be signed with
 * Signature Version 4 by an ingest key's access key pair; the signing key's tenant owns the events.
 */
import type { Context } from 'hono';
import type { AppContext } from '../../api/app-context.ts';
import { BodyTooLarge, readBody } from '../../api/read-body.ts';
import { SignatureError, verifySigV4 } from '../../auth/sigv4.ts';
import { awsError, awsJson } from './aws-error.ts';
import { putEvents } from './put-events.ts';
import { FIREHOSE_LIMITS, putRecords } from './put-record.ts';

/**
 * The largest body a valid request makes: a PutRecordBatch of 4 MiB of record data, which is a
 * third more in base64, with its JSON around (`{"Data":""}` and a comma for each of 500 records,
 * the stream's name). Anything larger is refused before it is read.
 */
const MAX_BODY = Math.ceil(FIREHOSE_LIMITS.requestBytes / 3) * 4 + 64 * 1024;
const OPERATIONS = ['AWSEvents.PutEvents', 'Firehose_20150804.PutRecord', 'Firehose_20150804.PutRecordBatch'];

export async function postAwsJson(c: Context, app: AppContext): Promise<Response> {
  const target = c.req.header('x-amz-target') ?? '';
  if (!OPERATIONS.includes(target)) {
    return awsError(400, 'UnknownOperationException', `Unknown operation ${JSON.stringify(target.slice(0, 80))}; Sluice serves ${OPERATIONS.join(', ')}`);
  }
  if (app.intake.overloaded()) return awsError(503, 'ServiceUnavailableException', 'Sluice is delivering what it accepted; retry with backoff.', { 'retry-after': '1' });
  let body: Uint8Array;
  try {
    body = await readBody(c, MAX_BODY);
  } catch (e) {
    if (e instanceof BodyTooLarge) return awsError(413, 'ValidationException', `The request body is larger than ${MAX_BODY} bytes.`);
    throw e;
  }
  const url = new URL(c.req.url);
  const headers: Record<string, string | undefined> = {};
  c.req.raw.headers.forEach((v, k) => (headers[k] = v));
  let who;
  try {
    who = await verifySigV4({ method: c.req.method, path: url.pathname, query: url.search.slice(1), headers, body }, (id) => app.keys.signingSecret(id), Date.now());
  } catch (e) {
    if (e instanceof SignatureError) return awsError(403, e.type, e.message);
    throw e;
  }
  if (app.stopping()) return awsError(503, 'ServiceUnavailableException', 'Sluice is shutting down; retry shortly.', { 'retry-after': '1' });
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8'));
  } catch {
    return awsError(400, 'SerializationException', 'The request body is not valid JSON.');
  }
  const checked =
    target === 'AWSEvents.PutEvents'
      ? putEvents(parsed, who.tenant, new Date())
      : putRecords(parsed, target.endsWith('Batch'), who.tenant, Object.keys(app.config.streams ?? {}));
  if (checked instanceof Response) return checked;
  const { submission } = checked;
  if (submission.items.length > 0) {
    const bytes = submission.lines.reduce((n, l) => n + l.length, 0);
    const admission = app.intake.admit(who.tenant, submission.items.length, bytes);
    if (!admission.ok) {
      const type = admission.status === 429 ? 'ThrottlingException' : 'ServiceUnavailableException';
      return awsError(admission.status, type, admission.message, { 'retry-after': String(admission.retryAfter) });
    }
    await app.intake.submit(submission);
  }
  if ('entries' in checked) {
    const failed = checked.entries.filter((e) => 'ErrorCode' in e).length;
    return awsJson(200, { FailedEntryCount: failed, Entries: checked.entries });
  }
  if (target.endsWith('Batch')) return awsJson(200, { FailedPutCount: 0, Encrypted: false, RequestResponses: checked.results });
  return awsJson(200, { RecordId: (checked.results[0] as { RecordId: string }).RecordId, Encrypted: false });
}
