/**
 * `sluice events dynamodb|firehose|s3|api`: writes the event AWS would hand a Lambda handler, from
 * plain JSON (see src/testing/events.ts), for `sluice invoke` and your own tests.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { NumberValueImpl as NumberValue } from '@aws-sdk/util-dynamodb';
import { JsonEntries, JsonNumber, parseJsonText, type Loose } from '../../core/json/json-text.ts';
import { apiGatewayEvent, dynamodbStreamEvent, EventBuilderError, firehoseTransformationEvent, s3Event } from '../../testing/events.ts';
import { readFileOrStdin, UsageError, choice } from '../cli-io.ts';
import { exactNumber } from '../../sources/dynamodb/stream-record.ts';

export const usage = `usage:
  sluice events dynamodb --table NAME --event-name INSERT|MODIFY|REMOVE --items FILE|- [--keys id,sk] [--view-type NEW_AND_OLD_IMAGES|NEW_IMAGE|OLD_IMAGE|KEYS_ONLY] [--ttl] [--region R]
      items: a JSON array (or NDJSON) of items; for MODIFY, of { "old": {…}, "new": {…} }; --ttl marks REMOVEs made by TTL
  sluice events firehose --delivery-stream NAME --records FILE|-      records: a JSON array (or NDJSON) of records
  sluice events s3 --bucket NAME --key KEY [--key KEY]… [--region R]     ObjectCreated:Put notifications (size and ETag from the file at DIR/NAME/KEY with --dir)
      [--dir DIR]
  sluice events api --method POST --path /v1/events [--header "k: v"]… [--body FILE|-] [--version v1|v2]`;

/** Parsed JSON as plain values; a number a double cannot hold exactly becomes a NumberValue (every digit kept). */
function exact(v: Loose): unknown {
  if (v instanceof JsonNumber) {
    const n = exactNumber(v.raw);
    return typeof n === 'number' ? n : NumberValue.from(v.raw);
  }
  if (v instanceof JsonEntries) return Object.fromEntries(v.entries.map(([k, x]) => [k, exact(x)]));
  if (Array.isArray(v)) return v.map(exact);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, exact(x)]));
  return v;
}

/** A JSON array, or NDJSON, of values. */
function readList(file: string, what: string): unknown[] {
  const text = readFileOrStdin(file, what).trim();
  try {
    if (text.startsWith('[')) return exact(parseJsonText(text)) as unknown[];
    return text.split('\n').filter((l) => l.trim()).map((l) => exact(parseJsonText(l)));
  } catch (e) {
    throw new UsageError(`${what}: ${file} is not a JSON array or NDJSON: ${(e as Error).message}`);
  }
}

export async function run(argv: string[]): Promise<number> {
  const kind = choice(argv[0], 'event kind', ['dynamodb', 'firehose', 's3', 'api']);
  const rest = argv.slice(1);
  const { values } = parseArgs({
    args: rest,
    options: {
      table: { type: 'string' },
      'event-name': { type: 'string' },
      items: { type: 'string' },
      keys: { type: 'string' },
      'view-type': { type: 'string' },
      ttl: { type: 'boolean' },
      region: { type: 'string' },
      'delivery-stream': { type: 'string' },
      records: { type: 'string' },
      method: { type: 'string' },
      path: { type: 'string' },
      header: { type: 'string', multiple: true },
      body: { type: 'string' },
      version: { type: 'string' },
      bucket: { type: 'string' },
      key: { type: 'string', multiple: true },
      dir: { type: 'string' },
    },
  });
  let event: unknown;
  try {
    if (kind === 'dynamodb') {
      if (!values.table || !values['event-name'] || !values.items) throw new UsageError('dynamodb needs --table, --event-name and --items');
      const eventName = values['event-name'].toUpperCase();
      if (!['INSERT', 'MODIFY', 'REMOVE'].includes(eventName)) throw new UsageError(`--event-name must be INSERT, MODIFY or REMOVE, got ${values['event-name']}`);
      const view = values['view-type'] ?? 'NEW_AND_OLD_IMAGES';
      if (!['KEYS_ONLY', 'NEW_IMAGE', 'OLD_IMAGE', 'NEW_AND_OLD_IMAGES'].includes(view)) throw new UsageError(`--view-type must be KEYS_ONLY, NEW_IMAGE, OLD_IMAGE or NEW_AND_OLD_IMAGES, got ${view}`);
      event = dynamodbStreamEvent({
        table: values.table,
        eventName: eventName as 'INSERT',
        items: readList(values.items, '--items') as Array<Record<string, unknown>>,
        keys: values.keys?.split(',').map((k) => k.trim()).filter(Boolean),
        viewType: view as 'NEW_IMAGE',
        ttl: values.ttl,
        region: values.region,
      });
    } else if (kind === 'firehose') {
      if (!values['delivery-stream'] || !values.records) throw new UsageError('firehose needs --delivery-stream and --records');
      event = firehoseTransformationEvent({ deliveryStream: values['delivery-stream'], records: readList(values.records, '--records'), region: values.region });
    } else if (kind === 's3') {
      if (!values.bucket || !values.key?.length) throw new UsageError('s3 needs --bucket and at least one --key');
      const objects = values.key.map((key) => {
        if (!values.dir) return { key };
        const path = join(values.dir, values.bucket!, key);
        if (!existsSync(path)) throw new UsageError(`--dir: no file ${path} for key ${key}`);
        const data = readFileSync(path);
        return { key, size: data.length, eTag: createHash('md5').update(data).digest('hex') };
      });
      event = s3Event({ bucket: values.bucket, objects, region: values.region });
    } else {
      if (!values.method || !values.path) throw new UsageError('api needs --method and --path');
      if (values.version && !['v1', 'v2'].includes(values.version)) throw new UsageError(`--version must be v1 or v2, got ${values.version}`);
      const headers: Record<string, string> = {};
      for (const h of values.header ?? []) {
        const i = h.indexOf(':');
        if (i <= 0) throw new UsageError(`--header must be "name: value", got ${JSON.stringify(h)}`);
        headers[h.slice(0, i).trim()] = h.slice(i + 1).trim();
      }
      event = apiGatewayEvent({ method: values.method, path: values.path, headers, body: values.body ? readFileOrStdin(values.body, '--body') : undefined, version: (values.version ?? 'v2') as 'v2' });
    }
  } catch (e) {
    if (e instanceof EventBuilderError) throw new UsageError(e.message);
    throw e;
  }
  process.stdout.write(JSON.stringify(event, null, 2) + '\n');
  return 0;
}
