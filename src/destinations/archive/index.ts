/**
 * `archive`: every batch as one gzip NDJSON object, in a folder or an S3-compatible bucket, under
 * Firehose's prefixes: `Data/YYYY/MM/DD/HH/` for delivered records and, for the records of the
 * batch that failed a processor or were refused, `Error/<code>/YYYY/MM/DD/HH/`. The hour is the
 * batch's earliest acceptance time (UTC) and the name ends with the batch id, both derived from
 * the records, so a retried upload overwrites its own object instead of adding one. Each line is
 * `{ "id", "at", "record" }`: `sluice backfill --format archive` replays it with the same ids.
 *
 * With the database at hand, every object written is indexed (`sluice.archive_objects`,
 * `sluice.archive_subjects`): the 64-bit hash of each pseudonym in it (of its 32 hex digits, so
 * whatever key id or field it is under). An erasure then reads only the objects that may hold
 * one of its subjects, and those the index does not know (written before it, or elsewhere),
 * instead of the whole archive.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import type { ArchiveDestinationConfig } from '../../config/config.ts';
import { parseS3Url, s3Client } from '../../sources/s3/object-source.ts';
import { erasedAfter } from '../../privacy/fence.ts';
import type { Queryable } from '../../store/database.ts';
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

/** A pseudonym wherever it stands in a line (`"k1:<32 hex digits>"` in JSON): its key id, and its 32 hex digits. */
const PSEUDONYM_IN_LINE = /([A-Za-z0-9_-]+):([0-9a-f]{32})(?![0-9a-f])/g;
/** A pseudonym as a whole: its key id, and its 32 hex digits. */
const PSEUDONYM = /^([A-Za-z0-9_-]+):([0-9a-f]{32})$/;

/** Where an archive's subject index is: the database, and the stream whose objects it lists. */
export interface ArchiveIndex {
  db: Queryable;
  stream: string;
}

const hexesIn = (lines: string[]): string[] => {
  const hexes = new Set<string>();
  for (const line of lines) for (const m of line.matchAll(PSEUDONYM_IN_LINE)) hexes.add(m[2]);
  return [...hexes];
};

/** Records an object written with the pseudonyms its lines hold. */
async function indexObject(index: ArchiveIndex, key: string, lines: string[]): Promise<void> {
  await index.db.query(
    `with o as (insert into sluice.archive_objects (stream, key) values ($1, $2)
                on conflict (stream, key) do update set key = excluded.key returning id)
     insert into sluice.archive_subjects (subject, object)
     select hashtextextended(h, 0), o.id from o, json_array_elements_text($3::text::json) h
     on conflict do nothing`,
    [index.stream, key, JSON.stringify(hexesIn(lines))],
  );
}

/**
 * After an object is rewritten with some of its lines removed: the subjects no line holds any
 * more leave its entries, so a later erasure of one of them does not read it again.
 */
async function reindexObject(index: ArchiveIndex, key: string, kept: string[]): Promise<void> {
  await index.db.query(
    `delete from sluice.archive_subjects s using sluice.archive_objects o
      where o.stream = $1 and o.key = $2 and s.object = o.id
        and s.subject not in (select hashtextextended(h, 0) from json_array_elements_text($3::text::json) h)`,
    [index.stream, key, JSON.stringify(hexesIn(kept))],
  );
}

/** Keys per page of the listing checked against the index in one query. */
const INDEX_PAGE = 1000;

/**
 * The keys of an archive an erasure must read: with an index, those that may hold one of the
 * pseudonyms and those the index does not know; without one (or with a needle that is not a
 * pseudonym), every key.
 */
async function* keysToRead(store: ArchiveStore, groups: string[][], index?: ArchiveIndex): AsyncIterable<{ key: string; known: boolean }> {
  const needles = groups.flat();
  const hexes = needles.map((n) => PSEUDONYM.exec(n)?.[2]);
  if (!index || hexes.some((h) => h === undefined)) {
    for await (const key of store.keys()) yield { key, known: true };
    return;
  }
  const { db, stream } = index;
  const rows = await db.query<{ key: string }>(
    `select distinct o.key from sluice.archive_subjects s join sluice.archive_objects o on o.id = s.object
      where o.stream = $1 and s.subject in (select hashtextextended(h, 0) from json_array_elements_text($2::text::json) h)`,
    [stream, JSON.stringify([...new Set(hexes)])],
  );
  const candidates = new Set(rows.map((r) => r.key));
  let page: string[] = [];
  const flush = async function* (): AsyncIterable<{ key: string; known: boolean }> {
    const known = new Set(
      (await db.query<{ key: string }>('select key from sluice.archive_objects where stream = $1 and key in (select json_array_elements_text($2::text::json))', [stream, JSON.stringify(page)])).map((r) => r.key),
    );
    for (const key of page) if (candidates.has(key) || !known.has(key)) yield { key, known: known.has(key) };
    page = [];
  };
  for await (const key of store.keys()) {
    page.push(key);
    if (page.length >= INDEX_PAGE) yield* flush();
  }
  if (page.length > 0) yield* flush();
}

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
        const m = PSEUDONYM.exec(n);
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
 * Removes from the objects of an archive the lines that contain one of the needles (each group
 * a subject's pseudonyms), in one pass whatever the number of subjects: an object keeps its key
 * with the other lines, or is deleted when none is left. With `dryRun` it only counts. Resolves
 * with the lines removed (or that would be) per group; a line holding several subjects'
 * pseudonyms counts for the first found in it. Objects are read one at a time, so memory holds
 * one object. With the archive's `index`, only the objects that may hold a needle (and those the
 * index does not know, which it learns as they are read) are read; without, the whole archive.
 */
export async function removeLines(store: ArchiveStore, groups: string[][], dryRun: boolean, index?: ArchiveIndex): Promise<number[]> {
  const removed = groups.map(() => 0);
  const scan = new NeedleScan(groups);
  for await (const { key, known } of keysToRead(store, groups, index)) {
    const text = (await gunzipAsync(await store.get(key))).toString('utf8');
    const matched = scan.first(text) >= 0;
    const learn = index !== undefined && !known;
    if (!matched && !learn) continue;
    let lines = text.split('\n').filter((l) => l.length > 0);
    if (matched) {
      const kept: string[] = [];
      for (const line of lines) {
        const g = scan.first(line);
        if (g < 0) kept.push(line);
        else removed[g]++;
      }
      if (!dryRun && kept.length === 0) {
        await store.delete(key);
        await index?.db.query('delete from sluice.archive_objects where stream = $1 and key = $2', [index.stream, key]);
        continue;
      }
      if (!dryRun) {
        await store.put(key, await gzipLines(kept));
        lines = kept;
        if (index && !learn) await reindexObject(index, key, kept);
      }
    }
    // An object the index did not know is indexed as it now stands, so it is read once.
    if (learn) await indexObject(index, key, lines);
  }
  return removed;
}

/**
 * After an object of a batch checked at `epoch` is written (and indexed): when an erasure has
 * committed since, removes from it the lines of the subjects erased. With the erasure's own pass
 * over the archive, that leaves no gap: an erasure committed before this reads the epoch is seen
 * here, and one committed after it finds the object (written and indexed by then) in its pass.
 */
async function removeErasedSince(db: Queryable, store: ArchiveStore, key: string, lines: string[], epoch: number, index?: ArchiveIndex): Promise<void> {
  const erased = await erasedAfter(db, epoch, function* () {
    for (const line of lines) for (const m of line.matchAll(PSEUDONYM_IN_LINE)) yield m[0];
  });
  if (erased.length === 0) return;
  const one: ArchiveStore = {
    ...store,
    async *keys() {
      yield key;
    },
  };
  await removeLines(one, [erased], false, index);
}

/**
 * @param db Where the archive's subject index is kept, and the erasure epoch read after each
 * write; without it (tests, tools), or with `subject_index: false`, objects are not indexed, and
 * an erasure reads them all.
 * @param store Where objects go; by default the config's folder or bucket (tests pass their own).
 */
export function createArchiveDestination(config: ArchiveDestinationConfig, db?: Queryable, store: ArchiveStore = archiveStore(config)): Destination {
  const indexed = config.subject_index === false ? undefined : db;
  // Indexed after the object is written: an object the index does not know is read by erasures.
  const put = async (key: string, lines: string[], batch: BatchInfo): Promise<void> => {
    await store.put(key, await gzipLines(lines));
    const index = indexed ? { db: indexed, stream: batch.stream } : undefined;
    if (index) await indexObject(index, key, lines);
    if (db && batch.erasureEpoch !== undefined) await removeErasedSince(db, store, key, lines, batch.erasureEpoch, index);
  };
  const prefix = store.prefix;

  return {
    kind: 'archive',
    // Objects are independent: two batches may be written at once.
    concurrency: 2,
    async write(records, batch) {
      await put(
        archiveKey(prefix, 'Data', batch),
        records.map((r) => JSON.stringify({ id: r.id, at: r.at, record: r.value })),
        batch,
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
      for (const [code, lines] of byCode) await put(archiveKey(prefix, { error: code }, batch), lines, batch);
    },
  };
}
