/**
 * `archive`: every batch as one gzip NDJSON object, in a folder or an S3-compatible bucket, under
 * Firehose's prefixes: `Data/YYYY/MM/DD/HH/` for delivered records and, for the records of the
 * batch that failed a processor or were refused, `Error/<code>/YYYY/MM/DD/HH/`. The hour is the
 * batch's earliest acceptance time (UTC) and the name ends with the batch id, both derived from
 * the records, so a retried upload overwrites its own object instead of adding one. Each line is
 * `{ "id", "at", "record" }`: `sluice backfill --format archive` replays it with the same ids.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { ArchiveDestinationConfig } from '../../config/config.ts';
import { parseS3Url, s3Client } from '../../sources/s3/object-source.ts';
import type { BatchInfo, Destination } from '../destination.ts';

const gzipAsync = promisify(gzip);

/** The object key of a batch under `Data/` or `Error/<code>/`. */
export function archiveKey(prefix: string, kind: 'Data' | { error: string }, batch: BatchInfo): string {
  const t = new Date(batch.at);
  const p = (n: number) => String(n).padStart(2, '0');
  const hour = `${t.getUTCFullYear()}/${p(t.getUTCMonth() + 1)}/${p(t.getUTCDate())}/${p(t.getUTCHours())}`;
  const stamp = `${t.getUTCFullYear()}-${p(t.getUTCMonth() + 1)}-${p(t.getUTCDate())}-${p(t.getUTCHours())}-${p(t.getUTCMinutes())}-${p(t.getUTCSeconds())}`;
  const folder = kind === 'Data' ? 'Data' : `Error/${kind.error.replace(/[^A-Za-z0-9_.-]/g, '_')}`;
  return `${prefix}${folder}/${hour}/${batch.stream}-1-${stamp}-${batch.id}.ndjson.gz`;
}

/** Where objects go: `s3://bucket/prefix/` or a folder. */
export function parseLocation(location: string): { bucket: string; prefix: string } | { folder: string } {
  const s3 = parseS3Url(location);
  if (s3) return { bucket: s3.bucket, prefix: s3.prefix && !s3.prefix.endsWith('/') ? `${s3.prefix}/` : s3.prefix };
  return { folder: location.startsWith('file:') ? fileURLToPath(location) : resolve(location) };
}

export function createArchiveDestination(config: ArchiveDestinationConfig): Destination {
  const where = parseLocation(config.location);
  const client = 'bucket' in where ? s3Client({ endpoint: config.endpoint, forcePathStyle: config.force_path_style, region: config.region }) : null;

  async function put(key: string, lines: string[]): Promise<void> {
    const body = await gzipAsync(lines.join('\n') + '\n', { level: 6 });
    if ('folder' in where) {
      const path = join(where.folder, key);
      await mkdir(dirname(path), { recursive: true });
      // Written aside and renamed: a reader never sees half an object, a retry replaces it whole.
      const tmp = `${path}.${process.pid}.tmp`;
      await writeFile(tmp, body);
      await rename(tmp, path);
      return;
    }
    const { PutObjectCommand } = await import('@aws-sdk/client-s3');
    await (await client!()).send(new PutObjectCommand({ Bucket: where.bucket, Key: key, Body: body, ContentType: 'application/x-ndjson', ContentEncoding: 'gzip' }));
  }
  const prefix = 'prefix' in where ? where.prefix : '';

  return {
    kind: 'archive',
    // Objects are independent: two batches may be written at once.
    concurrency: 2,
    async write(records, batch) {
      await put(
        archiveKey(prefix, 'Data', batch),
        records.map((r) => JSON.stringify({ id: r.id, at: r.at, record: r.value })),
      );
      return [];
    },
    async writeFailures(failed, batch) {
      const byCode = new Map<string, string[]>();
      for (const f of failed) {
        let lines = byCode.get(f.code);
        if (!lines) byCode.set(f.code, (lines = []));
        lines.push(JSON.stringify({ id: f.record_id, code: f.code, reason: f.reason, record: f.record }));
      }
      for (const [code, lines] of byCode) await put(archiveKey(prefix, { error: code }, batch), lines);
    },
  };
}
