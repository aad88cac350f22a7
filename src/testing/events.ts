/**
 * Builders of the events AWS hands to Lambda, from plain JSON, for tests and `sluice invoke`:
 * DynamoDB Streams (the converter every team writes by hand), Firehose data transformation and
 * API Gateway (REST v1 and HTTP v2). Shapes follow AWS's documented examples.
 *
 * @example
 *   const event = dynamodbStreamEvent({ table: 'transactions', eventName: 'INSERT', items: [{ id: 't-1', amount: 12.5 }] });
 *   await handlers.dynamodb(event);
 */
import { createHash } from 'node:crypto';
import { marshall } from '@aws-sdk/util-dynamodb';
import type { DynamoDBStreamEvent, DynamoDBStreamRecord, StreamViewType } from '../sources/dynamodb/stream-record.ts';
import type { FirehoseTransformationEvent } from '../lambda/runtime.ts';
import type { S3Event } from '../sources/s3/object-source.ts';

export class EventBuilderError extends Error {}

type Item = Record<string, unknown>;

export interface DynamoDBStreamEventOptions {
  table: string;
  eventName: 'INSERT' | 'MODIFY' | 'REMOVE';
  /** INSERT: new items; REMOVE: removed items; MODIFY: `{ old, new }` pairs. */
  items: Array<Item | { old: Item; new: Item }>;
  /** Key attribute names; default the item's `id`, else its first attribute. */
  keys?: string[];
  viewType?: StreamViewType;
  /** A REMOVE made by DynamoDB's TTL (its userIdentity). */
  ttl?: boolean;
  region?: string;
  account?: string;
  /** Seconds since the epoch; default now. */
  time?: number;
}

/** Marshals an item; a number beyond 2^53 must come as a NumberValue (or a string) to keep its digits. */
function marshallItem(item: Item, at: string) {
  try {
    return marshall(item, { removeUndefinedValues: true, convertEmptyValues: false });
  } catch (e) {
    throw new EventBuilderError(`${at}: ${(e as Error).message.replace(/ Use NumberValue from @aws-sdk\/lib-dynamodb\./, ' Pass it as NumberValue.from("digits") (exported by sluice/testing) to keep every digit.')}`);
  }
}

export { NumberValueImpl as NumberValue } from '@aws-sdk/util-dynamodb';

/** A DynamoDB Streams Lambda event, one record per item, sequence numbers ascending. */
export function dynamodbStreamEvent(o: DynamoDBStreamEventOptions): DynamoDBStreamEvent {
  if (!/^[A-Za-z0-9_.-]{3,255}$/.test(o.table)) throw new EventBuilderError('table must be a DynamoDB table name (3 to 255 letters, digits, "_", "-" or ".")');
  if (!['INSERT', 'MODIFY', 'REMOVE'].includes(o.eventName)) throw new EventBuilderError('eventName must be INSERT, MODIFY or REMOVE');
  if (o.ttl && o.eventName !== 'REMOVE') throw new EventBuilderError('only a REMOVE can come from TTL');
  const view = o.viewType ?? 'NEW_AND_OLD_IMAGES';
  const region = o.region ?? 'eu-west-1';
  const account = o.account ?? '123456789012';
  const time = o.time ?? Math.floor(Date.now() / 1000);
  const streamLabel = new Date(time * 1000).toISOString().replace('Z', '');
  return {
    Records: o.items.map((entry, i): DynamoDBStreamRecord => {
      const pair = o.eventName === 'MODIFY' ? (entry as { old?: Item; new?: Item }) : null;
      if (pair && (typeof pair.old !== 'object' || typeof pair.new !== 'object')) throw new EventBuilderError(`items[${i}]: a MODIFY item must be { "old": {…}, "new": {…} }`);
      const newItem = pair ? pair.new! : o.eventName === 'INSERT' ? (entry as Item) : undefined;
      const oldItem = pair ? pair.old! : o.eventName === 'REMOVE' ? (entry as Item) : undefined;
      const any = (newItem ?? oldItem)!;
      if (any === null || typeof any !== 'object' || Array.isArray(any)) throw new EventBuilderError(`items[${i}] must be a JSON object`);
      const keys = o.keys ?? ('id' in any ? ['id'] : Object.keys(any).slice(0, 1));
      const missing = keys.find((k) => !(k in any));
      if (missing) throw new EventBuilderError(`items[${i}] has no key attribute ${missing}`);
      const image: DynamoDBStreamRecord['dynamodb'] = {
        ApproximateCreationDateTime: time,
        Keys: marshallItem(Object.fromEntries(keys.map((k) => [k, any[k]])), `items[${i}]`),
        SequenceNumber: String(100000000000000000000n + BigInt(i) * 100n),
        StreamViewType: view,
      };
      if (newItem && (view === 'NEW_IMAGE' || view === 'NEW_AND_OLD_IMAGES')) image.NewImage = marshallItem(newItem, `items[${i}]`);
      if (oldItem && (view === 'OLD_IMAGE' || view === 'NEW_AND_OLD_IMAGES')) image.OldImage = marshallItem(oldItem, `items[${i}]`);
      image.SizeBytes = Buffer.byteLength(JSON.stringify([image.Keys, image.NewImage, image.OldImage]));
      const record: DynamoDBStreamRecord = {
        eventID: createHash('sha256').update(`${o.table}:${time}:${i}:${JSON.stringify(entry)}`).digest('hex').slice(0, 32),
        eventName: o.eventName,
        eventVersion: '1.1',
        eventSource: 'aws:dynamodb',
        awsRegion: region,
        dynamodb: image,
        eventSourceARN: `arn:aws:dynamodb:${region}:${account}:table/${o.table}/stream/${streamLabel}`,
      };
      if (o.ttl) record.userIdentity = { type: 'Service', principalId: 'dynamodb.amazonaws.com' };
      return record;
    }),
  };
}

/** A Firehose data-transformation event: each record's JSON, base64. */
export function firehoseTransformationEvent(o: { deliveryStream: string; records: unknown[]; region?: string; account?: string }): FirehoseTransformationEvent {
  const region = o.region ?? 'eu-west-1';
  const now = Date.now();
  return {
    invocationId: createHash('sha256').update(`${o.deliveryStream}:${now}`).digest('hex').slice(0, 36),
    deliveryStreamArn: `arn:aws:firehose:${region}:${o.account ?? '123456789012'}:deliverystream/${o.deliveryStream}`,
    region,
    records: o.records.map((r, i) => ({
      recordId: `${String(49546986683135544286507457936321625675700192471156785154n + BigInt(i))}`,
      approximateArrivalTimestamp: now,
      data: Buffer.from(JSON.stringify(r)).toString('base64'),
    })),
  };
}

/**
 * An S3 event notification (ObjectCreated:Put) for objects in one bucket; keys are URL-encoded
 * as S3 encodes them (spaces as `+`).
 */
export function s3Event(o: { bucket: string; objects: Array<{ key: string; size?: number; eTag?: string; versionId?: string }>; region?: string; time?: Date }): S3Event {
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(o.bucket)) throw new EventBuilderError('bucket must be an S3 bucket name (3 to 63 lowercase letters, digits, "." or "-")');
  if (o.objects.length === 0) throw new EventBuilderError('name at least one object');
  const region = o.region ?? 'eu-west-1';
  const time = (o.time ?? new Date()).toISOString();
  return {
    Records: o.objects.map((obj, i) => {
      if (typeof obj.key !== 'string' || obj.key.length === 0 || Buffer.byteLength(obj.key) > 1024) throw new EventBuilderError(`objects[${i}].key must be 1 to 1024 bytes`);
      const eTag = obj.eTag ?? createHash('md5').update(`${o.bucket}/${obj.key}:${obj.size ?? 0}`).digest('hex');
      return {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        awsRegion: region,
        eventTime: time,
        eventName: 'ObjectCreated:Put',
        s3: {
          s3SchemaVersion: '1.0',
          configurationId: 'sluice',
          bucket: { name: o.bucket, arn: `arn:aws:s3:::${o.bucket}` },
          object: { key: encodeURIComponent(obj.key).replace(/%20/g, '+').replace(/%2F/g, '/'), size: obj.size ?? 0, eTag, ...(obj.versionId ? { versionId: obj.versionId } : {}), sequencer: (Date.parse(time) * 1000 + i).toString(16).toUpperCase().padStart(18, '0') },
        },
      };
    }),
  };
}

/** An API Gateway proxy event: REST API (v1) or HTTP API / function URL (v2). */
export function apiGatewayEvent(o: { method: string; path: string; headers?: Record<string, string>; body?: string; version?: 'v1' | 'v2'; query?: Record<string, string> }): Record<string, unknown> {
  const headers = Object.fromEntries(Object.entries(o.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const query = o.query ?? {};
  const qs = new URLSearchParams(query).toString();
  const now = Date.now();
  if (o.version === 'v1') {
    return {
      resource: '/{proxy+}',
      path: o.path,
      httpMethod: o.method.toUpperCase(),
      headers,
      multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
      queryStringParameters: qs ? query : null,
      multiValueQueryStringParameters: qs ? Object.fromEntries(Object.entries(query).map(([k, v]) => [k, [v]])) : null,
      pathParameters: { proxy: o.path.replace(/^\//, '') },
      stageVariables: null,
      requestContext: { resourcePath: '/{proxy+}', httpMethod: o.method.toUpperCase(), path: `/prod${o.path}`, stage: 'prod', requestId: `req-${now}`, requestTimeEpoch: now, identity: { sourceIp: '127.0.0.1' } },
      body: o.body ?? null,
      isBase64Encoded: false,
    };
  }
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: o.path,
    rawQueryString: qs,
    headers,
    queryStringParameters: qs ? query : undefined,
    requestContext: { http: { method: o.method.toUpperCase(), path: o.path, protocol: 'HTTP/1.1', sourceIp: '127.0.0.1', userAgent: headers['user-agent'] ?? 'sluice' }, requestId: `req-${now}`, routeKey: '$default', stage: '$default', time: new Date(now).toUTCString(), timeEpoch: now },
    body: o.body,
    isBase64Encoded: false,
  };
}
