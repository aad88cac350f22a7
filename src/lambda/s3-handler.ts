/**
 * The S3 object-created handler: NDJSON (or gzip NDJSON) objects loaded through the rules and
 * streams, idempotently per object.
 */
import { ANY_TENANT } from '../auth/api-keys.ts';
import { ErrorOutput, type FailedRecord } from '../pipeline/error-output.ts';
import { toEntry } from '../sources/event-envelope.ts';
import { createdObjects, objectLines, objectReader, parsedLine, type ObjectReader, type S3Event } from '../sources/s3/object-source.ts';
import type { OpenContainer } from './container.ts';
import type { LambdaContext, LambdaRuntime } from './runtime.ts';

export interface S3LoadResult {
  objects: Array<{ bucket: string; key: string; version: string; lines: number; loaded: number; failed: number; skipped: boolean }>;
}

/** Lines of an S3 object delivered as one intake entry; the longest line taken. */
const S3_CHUNK_LINES = 1_000;
export const S3_MAX_LINE_BYTES = 1024 * 1024;

/** One object reader per runtime (its S3 client is made once per container). */
const readers = new WeakMap<LambdaRuntime, ObjectReader>();

/**
 * S3 object created: each NDJSON (or gzip NDJSON) object is read line by line and loaded:
 * unified metric records (`metric_name`) into `sources.s3.stream` (default `metrics`),
 * EventBridge envelopes through the rules. Ids are derived from each line's content (and the
 * object's creation time for envelopes without one), so loading an object again counts
 * nothing twice; a loaded object is recorded and a redelivered notification skips it. A line
 * that is not JSON, not an event or too long goes to the error output by its object and line
 * number (never its content). An object not loaded before the deadline throws, and Lambda's
 * retry loads it again.
 */
export async function loadS3Objects(rt: LambdaRuntime, event: S3Event, context?: LambdaContext): Promise<S3LoadResult> {
  const cfg = rt.config.sources?.s3 ?? {};
  const stream = cfg.stream ?? 'metrics';
  let reader = readers.get(rt);
  if (!reader) readers.set(rt, (reader = objectReader({ endpoint: cfg.endpoint, forcePathStyle: cfg.force_path_style })));
  const errors = new ErrorOutput(rt.db);
  const out: S3LoadResult['objects'] = [];
  for (const ref of createdObjects(event)) {
    const where = `s3://${ref.bucket}/${ref.key}`;
    const [seen] = await rt.db.query<{ lines: number; failed: number }>('select lines, failed from sluice.loaded_objects where bucket = $1 and key = $2 and version = $3', [ref.bucket, ref.key, ref.version]);
    if (seen) {
      out.push({ bucket: ref.bucket, key: ref.key, version: ref.version, lines: seen.lines, loaded: seen.lines - seen.failed, failed: seen.failed, skipped: true });
      continue;
    }
    // Failed lines are written with each chunk, so an object of bad lines holds no more in memory.
    let failures: FailedRecord[] = [];
    let failed = 0;
    const fail = (line: number, code: string, reason: string): void => {
      failed++;
      failures.push({ stream: 's3', tenant: null, step: 'source', code, reason: `${where} line ${line}: ${reason}`, record_id: `${where}#${ref.version}:${line}`, record: { bucket: ref.bucket, key: ref.key, line } });
    };
    let events: unknown[] = [];
    let records: unknown[] = [];
    const flush = async (): Promise<void> => {
      const entries = [
        { kind: 'events' as const, stream: null, items: events },
        { kind: 'records' as const, stream, items: records },
      ].filter((e) => e.items.length > 0);
      const late = await rt.deliver(entries, context);
      if (late.size > 0) throw new Error(`${where} was not loaded before the invocation's deadline; Lambda's retry loads it again and counts nothing twice`);
      await errors.write(failures);
      events = [];
      records = [];
      failures = [];
    };
    let lines = 0;
    for await (const l of objectLines(await reader.open(ref), S3_MAX_LINE_BYTES)) {
      lines++;
      const parsed = parsedLine(l, S3_MAX_LINE_BYTES);
      if ('code' in parsed) {
        fail(l.n, parsed.code, parsed.reason);
        continue;
      }
      const entry = toEntry(parsed.value, ANY_TENANT, stream, ref.time, parsed.text);
      if (entry.kind === 'error') fail(l.n, entry.code, entry.message);
      else if (entry.kind === 'records') records.push(entry.item);
      else events.push(entry.item);
      if (events.length + records.length + failures.length >= S3_CHUNK_LINES) await flush();
    }
    await flush();
    await rt.db.query('insert into sluice.loaded_objects (bucket, key, version, lines, failed) values ($1, $2, $3, $4, $5) on conflict do nothing', [ref.bucket, ref.key, ref.version, lines, failed]);
    if (failed > 0) rt.log.warn(`s3: ${where}: ${failed} of ${lines} lines failed; they are in the error output`);
    out.push({ bucket: ref.bucket, key: ref.key, version: ref.version, lines, loaded: lines - failed, failed, skipped: false });
  }
  return { objects: out };
}

/** S3 object created (NDJSON, gzip NDJSON). */
export function s3Handler(open: OpenContainer): (event: S3Event, context?: LambdaContext) => Promise<S3LoadResult> {
  return async (event, context) => loadS3Objects((await open()).rt, event, context);
}
