/**
 * `archive`: every batch as one gzip NDJSON object, in a folder or an S3-compatible bucket, under
 * Firehose's prefixes: `Data/YYYY/MM/DD/HH/` for delivered records and, for the records of the
 * batch that failed a processor or were refused, `Error/<code>/YYYY/MM/DD/HH/`. The hour is the
 * batch's earliest acceptance time (UTC) and the name ends with the batch id, both derived from
 * the records, so a retried upload overwrites its own object instead of adding one. Each line is
 * `{ "id", "at", "record" }`: `sluice backfill --format archive` replays it with the same ids.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import type { ArchiveDestinationConfig } from '../../config/config.ts';
import { parseS3Url, s3Client } from '../../sources/s3/object-source.ts';
import type { BatchInfo, Destination } from '../destination.ts';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);

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

/** The objects of an archive, in a folder or a bucket: what the destination writes and erasure rewrites. */
export interface ArchiveStore {
  /** Keys of every object under `Data/` and `Error/` (the archive's prefix included). */
  keys(): AsyncIterable<string>;
  get(key: string): Promise<Buffer>;
  put(key: string, body: Buffer): Promise<void>;
  delete(key: string): Promise<void>;
  /** The archive's prefix in its bucket ('' for a folder). */
  readonly prefix: string;
}

type ArchiveWhere = Pick<ArchiveDestinationConfig, 'location' | 'endpoint' | 'force_path_style' | 'region'>;

/** The store of an archive destination's config. */
export function archiveStore(config: ArchiveWhere): ArchiveStore {
  const where = parseLocation(config.location);
  if ('folder' in where) {
    const path = (key: string) => join(where.folder, ...key.split('/'));
    return {
      prefix: '',
      async *keys() {
        for (const top of ['Data', 'Error']) {
          let entries;
          try {
            entries = await readdir(join(where.folder, top), { recursive: true, withFileTypes: true });
          } catch (e) {
            if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue;
            throw e;
          }
          for (const e of entries) {
            if (e.isFile() && e.name.endsWith('.ndjson.gz')) yield relative(where.folder, join(e.parentPath, e.name)).split(sep).join('/');
          }
        }
      },
      get: (key) => readFile(path(key)),
      async put(key, body) {
        const file = path(key);
        await mkdir(dirname(file), { recursive: true });
        // Written aside and renamed: a reader never sees half an object, a retry replaces it whole.
        const tmp = `${file}.${process.pid}.tmp`;
        await writeFile(tmp, body);
        await rename(tmp, file);
      },
      delete: (key) => rm(path(key), { force: true }),
    };
  }
  const client = s3Client({ endpoint: config.endpoint, forcePathStyle: config.force_path_style, region: config.region });
  const s3 = async () => ({ sdk: await import('@aws-sdk/client-s3'), c: await client() });
  return {
    prefix: where.prefix,
    async *keys() {
      const { sdk, c } = await s3();
      for (const top of ['Data/', 'Error/']) {
        let token: string | undefined;
        do {
          const page = await c.send(new sdk.ListObjectsV2Command({ Bucket: where.bucket, Prefix: `${where.prefix}${top}`, ContinuationToken: token }));
          for (const o of page.Contents ?? []) if (o.Key?.endsWith('.ndjson.gz')) yield o.Key;
          token = page.IsTruncated ? page.NextContinuationToken : undefined;
        } while (token);
      }
    },
    async get(key) {
      const { sdk, c } = await s3();
      const out = await c.send(new sdk.GetObjectCommand({ Bucket: where.bucket, Key: key }));
      return Buffer.from(await out.Body!.transformToByteArray());
    },
    async put(key, body) {
      const { sdk, c } = await s3();
      await c.send(new sdk.PutObjectCommand({ Bucket: where.bucket, Key: key, Body: body, ContentType: 'application/x-ndjson', ContentEncoding: 'gzip' }));
    },
    async delete(key) {
      const { sdk, c } = await s3();
      await c.send(new sdk.DeleteObjectCommand({ Bucket: where.bucket, Key: key }));
    },
  };
}

const gzipLines = (lines: string[]): Promise<Buffer> => gzipAsync(lines.join('\n') + '\n', { level: 6 });

/** Needles up to which searching for each on its own beats one scan for all (measured: half the time for two). */
const FEW_NEEDLES = 16;

/**
 * Which of many pseudonyms (`<key id>:<32 hex digits>`) a text holds, found in one pass over it
 * however many there are: each `:` followed by 32 hex digits is looked up, with each key id
 * before it. A needle of another shape, and any when there are few, is searched for on its own.
 */
class NeedleScan {
  private readonly group = new Map<string, number>();
  private readonly ids: string[];
  private readonly others: Array<[string, number]> = [];

  constructor(groups: string[][]) {
    const ids = new Set<string>();
    const few = groups.flat().length <= FEW_NEEDLES;
    groups.forEach((needles, g) => {
      for (const n of needles) {
        const m = /^([A-Za-z0-9_-]+):[0-9a-f]{32}$/.exec(n);
        if (!m || few) this.others.push([n, g]);
        else if (!this.group.has(n)) {
          this.group.set(n, g);
          ids.add(m[1]);
        }
      }
    });
    this.ids = [...ids];
  }

  /** The group of the first needle found in `text`, or -1. */
  first(text: string): number {
    if (this.group.size > 0) {
      const hex = /:[0-9a-f]{32}/g;
      for (let m = hex.exec(text); m !== null; m = hex.exec(text)) {
        for (const id of this.ids) {
          if (m.index < id.length || !text.startsWith(id, m.index - id.length)) continue;
          const g = this.group.get(id + m[0]);
          if (g !== undefined) return g;
        }
      }
    }
    for (const [n, g] of this.others) if (text.includes(n)) return g;
    return -1;
  }
}

/**
 * Removes from every object of an archive the lines that contain one of the needles (each group
 * a subject's pseudonyms), in one pass over the archive whatever the number of subjects: an
 * object keeps its key with the other lines, or is deleted when none is left. With `dryRun` it
 * only counts. Resolves with the lines removed (or that would be) per group; a line holding
 * several subjects' pseudonyms counts for the first found in it. Objects are read one at a time,
 * so memory holds one object; the whole archive is read.
 */
export async function removeLines(store: ArchiveStore, groups: string[][], dryRun: boolean): Promise<number[]> {
  const removed = groups.map(() => 0);
  const scan = new NeedleScan(groups);
  for await (const key of store.keys()) {
    const text = (await gunzipAsync(await store.get(key))).toString('utf8');
    if (scan.first(text) < 0) continue;
    const lines = text.split('\n').filter((l) => l.length > 0);
    const kept: string[] = [];
    for (const line of lines) {
      const g = scan.first(line);
      if (g < 0) kept.push(line);
      else removed[g]++;
    }
    if (dryRun) continue;
    if (kept.length === 0) await store.delete(key);
    else await store.put(key, await gzipLines(kept));
  }
  return removed;
}

export function createArchiveDestination(config: ArchiveDestinationConfig): Destination {
  const store = archiveStore(config);
  const put = async (key: string, lines: string[]): Promise<void> => store.put(key, await gzipLines(lines));
  const prefix = store.prefix;

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
