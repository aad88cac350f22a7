/**
 * Backfill: replays history through the same rules and streams as live traffic. Sources are read
 * line by line (gzip detected), in chunks delivered a few at a time; a chunk is checkpointed
 * (source, lines done) once it and every chunk before it are delivered, so an interrupted
 * backfill resumes after the last checkpoint. Ids come from the content (and the source's
 * modification time for envelopes without a time), so replaying a line again counts nothing
 * twice, and the streams' pseudonymize step drops records of erased subjects as it does live.
 *
 * Formats:
 * - `ndjson`: one event (EventBridge envelope) or unified metric record per line.
 * - `json`: a JSON array of them (or one), per file.
 * - `dynamodb-export`: DynamoDB JSON lines (`{"Item": {...}}`) as an export to S3 writes them,
 *   each becoming an `aws.dynamodb` INSERT event like a stream record, so the rules written for
 *   the stream take the table's history.
 * - `archive`: lines of Sluice's archive (`{ id, at, record }`), already processed, delivered to
 *   `--stream` with their original ids.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { ANY_TENANT } from '../auth/api-keys.ts';
import { isRecord } from '../core/is-record.ts';
import type { LambdaRuntime } from '../lambda/runtime.ts';
import { ErrorOutput, type FailedRecord } from '../pipeline/error-output.ts';
import type { LogKind } from '../pipeline/pipeline.ts';
import { contentId, toEntry } from '../sources/event-envelope.ts';
import { streamRecordToEvent } from '../sources/dynamodb/stream-record.ts';
import { objectLineBatches, objectLines, parsedLine } from '../sources/s3/object-source.ts';
import type { BackfillSource } from './sources.ts';

export const FORMATS = ['ndjson', 'json', 'dynamodb-export', 'archive'] as const;
export type BackfillFormat = (typeof FORMATS)[number];

/** Lines per chunk (one intake entry per kind), chunks in flight, the longest line, the largest `json` file. */
export const CHUNK_LINES = 5_000;
const IN_FLIGHT = 3;
export const MAX_LINE_BYTES = 1024 * 1024;
export const MAX_JSON_FILE_BYTES = 256 * 1024 * 1024;

export interface BackfillProgress {
  sources: number;
  sourcesDone: number;
  bytes: number;
  totalBytes: number;
  events: number;
  failed: number;
  /** Events per second since the start. */
  rate: number;
  /** Seconds left, from bytes read so far; null until known. */
  etaSeconds: number | null;
}

export interface BackfillOptions {
  format: BackfillFormat;
  /** Where unified metric records go (ndjson, json), and archived records (archive). */
  stream: string;
  /** Events per second at most; unlimited by default. */
  rate?: number;
  /** DynamoDB exports: the table ARN when no manifest-summary.json is beside `data/`, and its key attributes. */
  table?: string;
  keys?: string[];
  progress?: (p: BackfillProgress) => void;
  /** Stop after the chunks in flight (SIGINT); the checkpoint keeps what was delivered. */
  signal?: AbortSignal;
}

export interface BackfillResult {
  job: string;
  events: number;
  failed: number;
  /** Sources already complete in an earlier run, skipped. */
  skipped: number;
  resumedAt: { source: string; line: number } | null;
  stopped: boolean;
}

/** The checkpoint's job id: the sources, the format and the stream. */
export function jobId(sources: string[], format: BackfillFormat, stream: string): string {
  return createHash('sha256').update(JSON.stringify([sources, format, stream])).digest('hex').slice(0, 16);
}

type Item = { kind: LogKind; stream: string | null; item: unknown } | { error: string; reason: string };

/** Export time and table of a DynamoDB export, from manifest-summary.json beside `data/`, when there is one. */
async function exportManifest(source: BackfillSource): Promise<{ tableArn?: string; exportTime?: string }> {
  if (source.name.startsWith('s3://')) return {};
  try {
    const m = JSON.parse(await readFile(join(dirname(dirname(source.name)), 'manifest-summary.json'), 'utf8')) as Record<string, unknown>;
    return { tableArn: typeof m.tableArn === 'string' ? m.tableArn : undefined, exportTime: typeof m.exportTime === 'string' ? m.exportTime : undefined };
  } catch {
    return {};
  }
}

/** Turns one parsed line (or array element) into what the pipeline takes. */
function classifier(opts: BackfillOptions, source: BackfillSource, manifest: { tableArn?: string; exportTime?: string }): (value: unknown, text?: string) => Item {
  if (opts.format === 'archive') {
    return (v) => (isRecord(v) && typeof v.id === 'string' && 'record' in v ? { kind: 'redrive', stream: opts.stream, item: { id: v.id, value: v.record } } : { error: 'not_archive_line', reason: 'expected { id, at, record } (a line of a Sluice archive)' });
  }
  if (opts.format === 'dynamodb-export') {
    const table = opts.table ?? manifest.tableArn;
    const arn = table && !table.startsWith('arn:') ? `arn:aws:dynamodb:us-east-1:000000000000:table/${table}` : table;
    const seconds = Math.floor(Date.parse(manifest.exportTime ?? source.modified.toISOString()) / 1000);
    return (v) => {
      if (!isRecord(v) || !isRecord(v.Item)) return { error: 'not_dynamodb_item', reason: 'expected {"Item": {...}} in DynamoDB JSON' };
      if (!arn) return { error: 'no_table', reason: 'the table is unknown: pass --table or keep manifest-summary.json beside data/' };
      const item = v.Item as Record<string, unknown>;
      const keys = Object.fromEntries((opts.keys ?? []).filter((k) => k in item).map((k) => [k, item[k]]));
      try {
        const event = streamRecordToEvent({
          eventID: contentId(ANY_TENANT, [arn, JSON.stringify(item)]),
          eventName: 'INSERT',
          eventSource: 'aws:dynamodb',
          eventSourceARN: `${arn}/stream/export`,
          dynamodb: { Keys: keys, NewImage: item, ApproximateCreationDateTime: seconds, StreamViewType: 'NEW_IMAGE', SequenceNumber: '0' },
        } as never);
        return { kind: 'events', stream: null, item: event };
      } catch (e) {
        return { error: 'not_dynamodb_item', reason: (e as Error).message };
      }
    };
  }
  return (v, text) => {
    const entry = toEntry(v, ANY_TENANT, opts.stream, source.modified, text);
    if (entry.kind === 'error') return { error: entry.code, reason: entry.message };
    return entry.kind === 'records' ? { kind: 'records', stream: opts.stream, item: entry.item } : { kind: 'events', stream: null, item: entry.item };
  };
}

type Value = { n: number; value?: unknown; text?: string; error?: [string, string] };

/** Numbered values of a source, a batch at a time: its lines, or a `json` file's elements. */
async function* valuesOf(source: BackfillSource, format: BackfillFormat, counted: Readable): AsyncGenerator<Value[]> {
  if (format === 'json') {
    if (source.size > MAX_JSON_FILE_BYTES) {
      yield [{ n: 1, error: ['file_too_large', `a json file may be at most ${MAX_JSON_FILE_BYTES} bytes; use ndjson for larger ones`] }];
      return;
    }
    const chunks: Buffer[] = [];
    for await (const l of objectLines(counted, MAX_JSON_FILE_BYTES)) if ('text' in l) chunks.push(Buffer.from(l.text + '\n'));
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      yield [{ n: 1, error: ['malformed_json', 'the file is not JSON'] }];
      return;
    }
    const list = Array.isArray(parsed) ? parsed : [parsed];
    yield list.map((value, i) => ({ n: i + 1, value }));
    return;
  }
  for await (const lines of objectLineBatches(counted, MAX_LINE_BYTES)) {
    yield lines.map((l): Value => {
      const p = parsedLine(l, MAX_LINE_BYTES);
      return 'code' in p ? { n: l.n, error: [p.code, p.reason] } : { n: l.n, value: p.value, text: p.text };
    });
  }
}

/**
 * Runs a backfill on an open runtime (store and pipeline), resuming the job's checkpoint.
 *
 * @example await runBackfill(rt, await expandSources(['exports/'], {}), { format: 'ndjson', stream: 'metrics' })
 */
export async function runBackfill(rt: LambdaRuntime, sources: BackfillSource[], opts: BackfillOptions): Promise<BackfillResult> {
  const job = jobId(
    sources.map((s) => s.name),
    opts.format,
    opts.stream,
  );
  const errors = new ErrorOutput(rt.db);
  const marks = new Map((await rt.db.query<{ source: string; lines: number; done: boolean }>('select source, lines::float8 as lines, done from sluice.backfills where job = $1', [job])).map((r) => [r.source, r]));
  const totalBytes = sources.reduce((a, s) => a + s.size, 0);
  const started = Date.now();
  const result: BackfillResult = { job, events: 0, failed: 0, skipped: 0, resumedAt: null, stopped: false };
  let bytes = 0;
  let sourcesDone = 0;
  const report = (): void => {
    const secs = (Date.now() - started) / 1000;
    const done = bytes / Math.max(1, totalBytes);
    opts.progress?.({
      sources: sources.length,
      sourcesDone,
      bytes,
      totalBytes,
      events: result.events,
      failed: result.failed,
      rate: secs > 0 ? result.events / secs : 0,
      etaSeconds: done > 0.001 && secs > 0.5 ? Math.max(0, (secs / done) * (1 - done)) : null,
    });
  };
  // Rate: a chunk waits until the events sent so far fit the allowance since the start.
  const allow = async (n: number, sent: number): Promise<void> => {
    if (!opts.rate) return;
    const due = started + ((sent + n) / opts.rate) * 1000;
    if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
  };
  const checkpoint = (source: string, lines: number, done: boolean) =>
    rt.db.query(
      `insert into sluice.backfills (job, source, lines, done) values ($1, $2, $3, $4)
       on conflict (job, source) do update set lines = excluded.lines, done = excluded.done, updated_at = now()`,
      [job, source, lines, done],
    );
  const forever = { getRemainingTimeInMillis: () => 24 * 3600_000 };

  for (const source of sources) {
    const mark = marks.get(source.name);
    if (mark?.done) {
      result.skipped++;
      sourcesDone++;
      bytes += source.size;
      continue;
    }
    if (opts.signal?.aborted) break;
    const skip = mark?.lines ?? 0;
    if (skip > 0 && !result.resumedAt) result.resumedAt = { source: source.name, line: skip };
    const classify = classifier(opts, source, opts.format === 'dynamodb-export' ? await exportManifest(source) : {});
    const counter = new Transform({
      transform(chunk: Buffer, _enc, next) {
        bytes += chunk.length;
        next(null, chunk);
      },
    });
    (await source.open()).on('error', (e) => counter.destroy(e)).pipe(counter);

    const inflight: Array<{ done: Promise<Set<number>>; line: number }> = [];
    const settle = async (): Promise<void> => {
      const head = inflight.shift()!;
      const late = await head.done;
      if (late.size > 0) throw new Error(`${source.name}: a chunk was not delivered in time; run the backfill again to resume`);
      await checkpoint(source.name, head.line, false);
      report();
    };
    let items: Item[] = [];
    let failures: FailedRecord[] = [];
    let last = 0;
    let sent = 0;
    const submit = async (): Promise<void> => {
      const groups = new Map<string, { kind: LogKind; stream: string | null; items: unknown[] }>();
      for (const it of items) {
        if ('error' in it) continue;
        const k = `${it.kind}\u0000${it.stream}`;
        let g = groups.get(k);
        if (!g) groups.set(k, (g = { kind: it.kind, stream: it.stream, items: [] }));
        g.items.push(it.item);
      }
      const n = items.length - failures.length;
      await allow(n, sent);
      sent += n;
      if (failures.length > 0) await errors.write(failures);
      result.events += n;
      result.failed += failures.length;
      inflight.push({ done: rt.deliver([...groups.values()], forever), line: last });
      items = [];
      failures = [];
      while (inflight.length >= IN_FLIGHT) await settle();
    };
    reading: for await (const batch of valuesOf(source, opts.format, counter)) {
      for (const v of batch) {
        last = v.n;
        if (v.n <= skip) continue;
        const it: Item = v.error ? { error: v.error[0], reason: v.error[1] } : classify(v.value, v.text);
        items.push(it);
        if ('error' in it) {
          failures.push({ stream: 'backfill', tenant: null, step: 'source', code: it.error, reason: `${source.name} line ${v.n}: ${it.reason}`, record_id: `${job}:${source.name}:${v.n}`, record: { source: source.name, line: v.n } });
        }
        if (items.length >= CHUNK_LINES) {
          await submit();
          if (opts.signal?.aborted) break reading;
        }
      }
    }
    if (items.length > 0 && !opts.signal?.aborted) await submit();
    while (inflight.length > 0) await settle();
    if (opts.signal?.aborted) {
      counter.destroy();
      result.stopped = true;
      break;
    }
    await checkpoint(source.name, last, true);
    sourcesDone++;
    report();
  }
  return result;
}
