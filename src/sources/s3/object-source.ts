/**
 * S3 object-created notifications: which objects an event names, how to read one (from S3, an
 * S3-compatible server, or a local folder), and its NDJSON lines (gzip detected by its magic
 * bytes, as Firehose writes it under Data/), each line bounded in size and never held whole
 * with the rest of the object.
 */
import { createReadStream } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pipeline, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { S3Client } from '@aws-sdk/client-s3';
import { onceUntilFailed, type Once } from '../../core/once.ts';

/** One record of an S3 event notification (event version 2.x). */
export interface S3EventRecord {
  eventSource?: string;
  eventName?: string;
  eventTime?: string;
  awsRegion?: string;
  s3: {
    bucket: { name: string; arn?: string };
    object: { key: string; size?: number; eTag?: string; versionId?: string; sequencer?: string };
  };
}

export interface S3Event {
  Records: S3EventRecord[];
}

/** An object to load: the key decoded, and the version that makes it one object (versionId, else ETag). */
export interface ObjectRef {
  bucket: string;
  key: string;
  version: string;
  versionId?: string;
  /** When S3 created it (the notification's eventTime): the time of lines that carry none. */
  time: Date;
}

export class S3EventError extends Error {}

/**
 * The objects an S3 notification created. Keys arrive URL-encoded with `+` for spaces, as S3
 * sends them. A test event (`s3:TestEvent`) names none.
 */
export function createdObjects(event: S3Event): ObjectRef[] {
  if (!event || !Array.isArray(event.Records)) throw new S3EventError('not an S3 event notification: expected { "Records": [ { "s3": { "bucket", "object" } } ] }');
  return event.Records.flatMap((r, i): ObjectRef[] => {
    if (typeof r?.eventName === 'string' && !r.eventName.startsWith('ObjectCreated:')) return [];
    const bucket = r?.s3?.bucket?.name;
    const rawKey = r?.s3?.object?.key;
    if (typeof bucket !== 'string' || typeof rawKey !== 'string') throw new S3EventError(`Records[${i}]: s3.bucket.name and s3.object.key are required`);
    let key: string;
    try {
      key = decodeURIComponent(rawKey.replace(/\+/g, ' '));
    } catch {
      throw new S3EventError(`Records[${i}]: s3.object.key is not URL-encoded`);
    }
    const o = r.s3.object;
    const version = o.versionId || o.eTag || o.sequencer || '';
    const time = new Date(r.eventTime ?? 0);
    return [{ bucket, key, version, versionId: o.versionId || undefined, time: Number.isNaN(time.getTime()) ? new Date(0) : time }];
  });
}

export interface ObjectReader {
  open(ref: ObjectRef): Promise<Readable>;
}

/**
 * Reads objects from S3 (or the S3-compatible `endpoint`), or from a local folder when the
 * endpoint is `file:///dir` (`dir/<bucket>/<key>`). The S3 client is loaded on first use.
 */
export function objectReader(opts: S3Location): ObjectReader {
  if (opts.endpoint?.startsWith('file:')) {
    const root = fileURLToPath(opts.endpoint);
    return {
      async open(ref) {
        const path = resolve(root, ref.bucket, ref.key);
        if (!path.startsWith(join(resolve(root), ref.bucket))) throw new S3EventError(`object key ${JSON.stringify(ref.key)} leaves its bucket folder`);
        const stream = createReadStream(path);
        await new Promise<void>((ok, fail) => stream.once('open', () => ok()).once('error', fail));
        return stream;
      },
    };
  }
  const client = s3Client(opts);
  return {
    async open(ref) {
      const { GetObjectCommand } = await import('@aws-sdk/client-s3');
      const out = await (await client()).send(new GetObjectCommand({ Bucket: ref.bucket, Key: ref.key, ...(ref.versionId ? { VersionId: ref.versionId } : {}) }));
      return out.Body as Readable;
    },
  };
}

/** Where an S3 client connects: AWS (region from AWS_REGION) or an S3-compatible endpoint. */
export interface S3Location {
  endpoint?: string;
  forcePathStyle?: boolean;
  region?: string;
}

/**
 * An S3 client made on first use (the SDK is loaded only then); path-style addressing by default
 * with an endpoint, which S3-compatible servers need.
 *
 * @example const s3 = await s3Client({ endpoint: 'http://127.0.0.1:4568' })();
 */
export function s3Client(opts: S3Location): Once<S3Client> {
  return onceUntilFailed(async () => {
    const { S3Client } = await import('@aws-sdk/client-s3');
    return new S3Client({
      region: opts.region ?? process.env.AWS_REGION ?? 'us-east-1',
      ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
      forcePathStyle: opts.forcePathStyle ?? opts.endpoint !== undefined,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  });
}

export type ObjectLine = { n: number; text: string } | { n: number; tooLong: true };

/**
 * A line as JSON, or why it is not: too long, or not JSON. The S3 loader and the backfill read
 * lines the same way and report the same codes.
 */
export function parsedLine(l: ObjectLine, maxLineBytes: number): { value: unknown; text: string } | { code: string; reason: string } {
  if ('tooLong' in l) return { code: 'line_too_large', reason: `a line may be at most ${maxLineBytes} bytes` };
  try {
    return { value: JSON.parse(l.text), text: l.text };
  } catch {
    return { code: 'malformed_json', reason: 'the line is not JSON' };
  }
}

/** `s3://bucket/prefix` split, or null when it is not an S3 URL. */
export function parseS3Url(url: string): { bucket: string; prefix: string } | null {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  return m ? { bucket: m[1], prefix: m[2] } : null;
}

/**
 * The non-empty lines of an NDJSON object, numbered from 1, gunzipped when the object starts
 * with gzip's magic bytes (one or several members). A line over `maxLineBytes` is reported
 * as too long and skipped without being kept.
 */
export async function* objectLines(body: Readable, maxLineBytes: number): AsyncGenerator<ObjectLine> {
  for await (const lines of objectLineBatches(body, maxLineBytes)) yield* lines;
}

/** The same lines, a batch per chunk read: what a loop over millions of lines iterates, without a promise per line. */
export async function* objectLineBatches(body: Readable, maxLineBytes: number): AsyncGenerator<ObjectLine[]> {
  const source = await gunzipIfNeeded(body);
  let parts: Buffer[] = [];
  let size = 0;
  let tooLong = false;
  let n = 0;
  const finish = (): ObjectLine | null => {
    n++;
    const wasTooLong = tooLong;
    const text = wasTooLong ? '' : (parts.length === 1 ? parts[0] : Buffer.concat(parts, size)).toString('utf8').replace(/\r$/, '');
    parts = [];
    size = 0;
    tooLong = false;
    if (wasTooLong) return { n, tooLong: true };
    return text.trim().length > 0 ? { n, text } : null;
  };
  for await (const chunk of source as AsyncIterable<Buffer>) {
    const out: ObjectLine[] = [];
    let start = 0;
    for (let nl = chunk.indexOf(10, start); nl !== -1; nl = chunk.indexOf(10, start)) {
      take(chunk.subarray(start, nl));
      const line = finish();
      if (line) out.push(line);
      start = nl + 1;
    }
    take(chunk.subarray(start));
    if (out.length > 0) yield out;
  }
  if (size > 0 || tooLong) {
    const line = finish();
    if (line) yield [line];
  }

  function take(piece: Buffer): void {
    if (tooLong || piece.length === 0) return;
    if (size + piece.length > maxLineBytes) {
      tooLong = true;
      parts = [];
      size = 0;
      return;
    }
    parts.push(piece);
    size += piece.length;
  }
}

/** Peeks at the first bytes; gzip (1f 8b) is piped through gunzip. */
async function gunzipIfNeeded(body: Readable): Promise<AsyncIterable<Buffer>> {
  const it = (body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) return (async function* () {})();
  const head = Buffer.from(first.value);
  async function* all(): AsyncGenerator<Buffer> {
    yield head;
    for (let r = await it.next(); !r.done; r = await it.next()) yield Buffer.from(r.value);
  }
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) {
    const gunzip = createGunzip();
    // pipeline() destroys gunzip with the source's error, so the reader's loop throws it.
    pipeline(Readable.from(all()), gunzip, () => {});
    return gunzip;
  }
  return all();
}
