/**
 * DynamoDB Streams records, as Lambda receives them, become EventBridge envelopes that ordinary
 * rules route: `source: "aws.dynamodb"`, the table's ARN in `resources`, and in `detail` the
 * event name, keys and images unmarshalled from attribute-value JSON. Nothing is rounded: a
 * number JSON cannot carry exactly (beyond 2^53, or more digits than a double holds) stays a
 * string with every digit; sets become arrays, binary becomes base64. A removal by TTL is told
 * apart (`detail.ttlRemoval`), from the record's userIdentity as AWS documents it.
 */
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { isRecord } from '../../core/is-record.ts';
import type { Envelope } from '../event-envelope.ts';

export const DYNAMODB_SOURCE = 'aws.dynamodb';
export const DYNAMODB_DETAIL_TYPE = 'DynamoDB Stream Record';
export const STREAM_VIEW_TYPES = ['KEYS_ONLY', 'NEW_IMAGE', 'OLD_IMAGE', 'NEW_AND_OLD_IMAGES'] as const;
export type StreamViewType = (typeof STREAM_VIEW_TYPES)[number];

/** One record of a DynamoDB Streams Lambda event (the fields Sluice reads). */
export interface DynamoDBStreamRecord {
  eventID: string;
  eventName: 'INSERT' | 'MODIFY' | 'REMOVE';
  eventVersion?: string;
  eventSource?: string;
  awsRegion?: string;
  eventSourceARN: string;
  userIdentity?: { type: string; principalId: string };
  dynamodb: {
    ApproximateCreationDateTime?: number;
    Keys?: Record<string, AttributeValue>;
    NewImage?: Record<string, AttributeValue>;
    OldImage?: Record<string, AttributeValue>;
    SequenceNumber?: string;
    SizeBytes?: number;
    StreamViewType?: StreamViewType;
  };
}

export interface DynamoDBStreamEvent {
  Records: DynamoDBStreamRecord[];
}

export class StreamRecordError extends Error {}

/** A decimal's value as sign, significant digits and exponent: `-0.50` and `-5e-1` give the same key. */
function decimalKey(text: string): string | null {
  const m = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!m) return null;
  const digits = (m[2] ?? '') + (m[3] ?? '');
  const lead = digits.length - digits.replace(/^0+/, '').length;
  const significant = digits.slice(lead).replace(/0+$/, '');
  if (significant === '') return '0';
  return `${m[1] === '-' ? '-' : ''}${significant}e${Number(m[4] ?? 0) + (m[2] ?? '').length - lead}`;
}

/**
 * A decimal number's text as JSON: a number when a double holds it digit for digit (a safe
 * integer, or a decimal whose double prints back to the same value), else the text itself.
 */
export function exactNumber(text: string): number | string {
  const n = Number(text);
  if (!Number.isFinite(n)) return text;
  if (Number.isInteger(n)) return Number.isSafeInteger(n) ? n : text;
  const key = decimalKey(text);
  return key !== null && key === decimalKey(String(n)) ? n : text;
}

/** Unmarshalled values made JSON: exact numbers, sets as arrays, binary as base64. */
function toJson(v: unknown): unknown {
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64');
  if (v instanceof Set) return [...v].map(toJson);
  if (Array.isArray(v)) return v.map(toJson);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toJson(x)]));
  return v;
}

/** An item's attribute-value JSON as plain JSON. */
export function imageToJson(image: Record<string, AttributeValue>): Record<string, unknown> {
  return toJson(unmarshall(image, { wrapNumbers: exactNumber })) as Record<string, unknown>;
}

/** `arn:aws:dynamodb:r:a:table/T/stream/2024-…` → `arn:aws:dynamodb:r:a:table/T`. */
export function tableArnOf(streamArn: string): string {
  const i = streamArn.indexOf('/stream/');
  return i > 0 ? streamArn.slice(0, i) : streamArn;
}

/** A removal DynamoDB made because the item's TTL expired. */
export function isTtlRemoval(r: DynamoDBStreamRecord): boolean {
  return r.eventName === 'REMOVE' && r.userIdentity?.type === 'Service' && r.userIdentity.principalId === 'dynamodb.amazonaws.com';
}

/**
 * The envelope of one stream record. Its id is the record's eventID (unique per stream record),
 * so a redelivered batch gives the same ids and destinations count each record once.
 *
 * @throws StreamRecordError when the record is not a DynamoDB Streams record
 */
export function streamRecordToEvent(r: DynamoDBStreamRecord): Envelope {
  if (!isRecord(r) || !isRecord(r.dynamodb) || typeof r.eventID !== 'string' || typeof r.eventSourceARN !== 'string') {
    throw new StreamRecordError('not a DynamoDB Streams record: eventID, eventSourceARN and dynamodb are required');
  }
  if (!['INSERT', 'MODIFY', 'REMOVE'].includes(r.eventName)) throw new StreamRecordError(`eventName must be INSERT, MODIFY or REMOVE, got ${String(r.eventName).slice(0, 20)}`);
  const d = r.dynamodb;
  const table = tableArnOf(r.eventSourceARN);
  const [, , , region, account] = table.split(':');
  const seconds = typeof d.ApproximateCreationDateTime === 'number' ? d.ApproximateCreationDateTime : Date.now() / 1000;
  const detail: Record<string, unknown> = {
    eventID: r.eventID,
    eventName: r.eventName,
    tableName: table.split(':table/')[1] ?? table,
    Keys: d.Keys ? imageToJson(d.Keys) : {},
    SequenceNumber: d.SequenceNumber,
    SizeBytes: d.SizeBytes,
    StreamViewType: d.StreamViewType,
    ttlRemoval: isTtlRemoval(r),
  };
  if (d.NewImage) detail.NewImage = imageToJson(d.NewImage);
  if (d.OldImage) detail.OldImage = imageToJson(d.OldImage);
  if (r.userIdentity) detail.userIdentity = r.userIdentity;
  return {
    version: '0',
    id: `ddb-${r.eventID}`,
    'detail-type': DYNAMODB_DETAIL_TYPE,
    source: DYNAMODB_SOURCE,
    account: account || '000000000000',
    time: new Date(Math.floor(seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region: r.awsRegion ?? region ?? 'us-east-1',
    resources: [table],
    detail,
  };
}
