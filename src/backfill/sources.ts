/**
 * What `sluice backfill` reads: files, folders (every file below, in name order), globs, or an S3
 * prefix (`s3://bucket/prefix`, every object below it). Each source knows its size (for progress
 * and ETA) and its modification time (the `time` of envelopes that have none, so a rerun gives
 * them the same ids).
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import { glob } from 'tinyglobby';
import { parseS3Url, s3Client, type S3Location } from '../sources/s3/object-source.ts';

export interface BackfillSource {
  /** A path or `s3://bucket/key`: the checkpoint's key. */
  name: string;
  size: number;
  modified: Date;
  open(): Promise<Readable>;
}

export class SourceError extends Error {}

/** Export manifests and checksums sit beside the data; they are not data. */
const skipped = (name: string): boolean => {
  const b = basename(name);
  return b.startsWith('.') || b.startsWith('manifest-') || b.endsWith('.md5') || b === '_SUCCESS';
};

function localFile(path: string): BackfillSource {
  const st = statSync(path);
  return { name: path, size: st.size, modified: st.mtime, open: async () => createReadStream(path) };
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...(await walk(p)));
    else if (e.isFile() && !skipped(p)) out.push(p);
  }
  return out;
}

async function s3Prefix(url: string, where: S3Location): Promise<BackfillSource[]> {
  const parsed = parseS3Url(url);
  if (!parsed) throw new SourceError(`${url} is not s3://bucket/prefix`);
  const { bucket, prefix } = parsed;
  const client = s3Client(where);
  const { ListObjectsV2Command, GetObjectCommand } = await import('@aws-sdk/client-s3');
  const s3 = await client();
  const out: BackfillSource[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) {
      if (!o.Key || o.Key.endsWith('/') || skipped(o.Key)) continue;
      const key = o.Key;
      out.push({
        name: `s3://${bucket}/${key}`,
        size: o.Size ?? 0,
        modified: o.LastModified ?? new Date(0),
        open: async () => (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body as Readable,
      });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/**
 * Every source the arguments name, in a stable order (arguments in order, files by name). A
 * path that does not exist or a glob or prefix that matches nothing is an error.
 *
 * @example await expandSources(['exports/2026-*.ndjson.gz', 's3://archive/Data/2026/11/'], {})
 */
export async function expandSources(args: string[], s3: S3Location): Promise<BackfillSource[]> {
  const out: BackfillSource[] = [];
  const seen = new Set<string>();
  const add = (s: BackfillSource) => {
    if (!seen.has(s.name)) out.push(s);
    seen.add(s.name);
  };
  for (const arg of args) {
    let found: BackfillSource[];
    if (arg.startsWith('s3://')) found = await s3Prefix(arg, s3);
    else if (/[*?[\]{}]/.test(arg)) found = (await glob(arg, { absolute: true, onlyFiles: true, dot: false })).filter((p) => !skipped(p)).sort().map(localFile);
    else {
      const path = resolve(arg);
      if (!existsSync(path)) throw new SourceError(`${arg}: no such file or folder`);
      found = statSync(path).isDirectory() ? (await walk(path)).sort().map(localFile) : [localFile(path)];
    }
    if (found.length === 0) throw new SourceError(`${arg}: matches no files`);
    found.forEach(add);
  }
  return out;
}
