/**
 * Firehose direct put: `Firehose_20150804.PutRecord` and `PutRecordBatch` into a named stream.
 * Limits as Firehose documents them: 500 records and 4 MiB per batch, 1,000 KiB per record.
 */
import { contentId } from '../event-envelope.ts';
import type { Submission } from '../../pipeline/intake.ts';
import { awsError } from './aws-error.ts';
import { isRecord } from '../../core/is-record.ts';

export const FIREHOSE_LIMITS = { records: 500, requestBytes: 4 * 1024 * 1024, recordBytes: 1000 * 1024 } as const;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

type RecordResult = { RecordId: string } | { ErrorCode: string; ErrorMessage: string };

/** Checks a PutRecord or PutRecordBatch request against the config's streams. */
export function putRecords(
  body: unknown,
  batch: boolean,
  tenant: string,
  streams: string[],
): { submission: Submission; results: RecordResult[] } | Response {
  if (!isRecord(body) || typeof body.DeliveryStreamName !== 'string') {
    return awsError(400, 'ValidationException', '1 validation error detected: Value null at \'deliveryStreamName\' failed to satisfy constraint: Member must not be null');
  }
  const name = body.DeliveryStreamName;
  if (!streams.includes(name)) return awsError(400, 'ResourceNotFoundException', `Firehose ${name} under account 000000000000 not found.`);
  const records = batch ? body.Records : [body.Record];
  if (!Array.isArray(records) || records.length < 1 || records.length > FIREHOSE_LIMITS.records) {
    return awsError(400, 'ValidationException', `1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length between 1 and ${FIREHOSE_LIMITS.records}`);
  }
  const submission: Submission = { tenant, kind: 'records', stream: name, items: [], lines: [] };
  let total = 0;
  const results: RecordResult[] = [];
  for (const r of records) {
    const data = isRecord(r) ? r.Data : undefined;
    if (typeof data !== 'string' || !BASE64.test(data)) {
      return awsError(400, 'ValidationException', "1 validation error detected: Value at 'record.data' failed to satisfy constraint: Member must be base64-encoded bytes");
    }
    // Bytes the base64 text decodes to (its padding not counted).
    const size = Buffer.byteLength(data, 'base64');
    total += size;
    if (size > FIREHOSE_LIMITS.recordBytes) {
      return awsError(400, 'ValidationException', `1 validation error detected: Value at 'record.data' failed to satisfy constraint: Member must have length less than or equal to ${FIREHOSE_LIMITS.recordBytes}`);
    }
    const id = contentId(tenant, [name, data]);
    const item = { id, data };
    submission.items.push(item);
    submission.lines.push(JSON.stringify(item));
    results.push({ RecordId: id });
  }
  // As Firehose answers a batch over its limit (an InvalidArgumentException, HTTP 400).
  if (total > FIREHOSE_LIMITS.requestBytes) return awsError(400, 'InvalidArgumentException', 'Records size exceeds 4 MB limit');
  return { submission, results };
}
