/**
 * `sluice backfill SOURCE… [--format ndjson|json|dynamodb-export|archive] [--rate N/s]`: replays
 * history (files, folders, globs, S3 prefixes) through the rules and streams, with a progress
 * bar on a terminal (plain progress lines otherwise), a checkpoint to resume from, and ids from
 * the content so a second run changes nothing. See src/backfill/backfill.ts.
 */
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { FORMATS, jobId, runBackfill, type BackfillFormat, type BackfillProgress } from '../../backfill/backfill.ts';
import { expandSources, SourceError } from '../../backfill/sources.ts';
import { LambdaRuntime } from '../../lambda/runtime.ts';
import { createLogger } from '../../runtime/logger.ts';
import { loadConfigOrReport, UsageError } from '../cli-io.ts';
import { STORE_OPTIONS, STORE_USAGE, storeLocation } from '../store-args.ts';

export const usage = `usage: sluice backfill SOURCE... [--format ${FORMATS.join('|')}] [--stream NAME] [--rate N/s] [--restart]
                       [--table ARN] [--keys ATTR,ATTR] [--s3-endpoint URL] ${STORE_USAGE}
  SOURCE: a file, a folder (every file below), a glob ('exports/*.ndjson.gz'), or s3://bucket/prefix
  --format: ndjson (default; events or unified metric records, gzip or not), json (an array per file),
            dynamodb-export (DynamoDB JSON lines of an export to S3), archive (a Sluice archive, into --stream)
  --stream: where unified metric records and archived records go (default: sources.s3.stream, else metrics)
  --rate: events per second at most; --restart: ignore this job's checkpoint
  --table/--keys: a DynamoDB export's table (when no manifest-summary.json is beside data/) and key attributes`;

const fmtSeconds = (s: number | null): string => (s === null ? '?' : s >= 3600 ? `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m` : s >= 60 ? `${Math.floor(s / 60)}m${Math.round(s % 60)}s` : `${Math.round(s)}s`);

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...STORE_OPTIONS,
      format: { type: 'string' },
      stream: { type: 'string' },
      rate: { type: 'string' },
      restart: { type: 'boolean' },
      table: { type: 'string' },
      keys: { type: 'string' },
      's3-endpoint': { type: 'string' },
    },
  });
  if (positionals.length === 0) throw new UsageError('name at least one SOURCE: a file, a folder, a glob or s3://bucket/prefix');
  const format = (values.format ?? 'ndjson') as BackfillFormat;
  if (!FORMATS.includes(format)) throw new UsageError(`--format must be one of ${FORMATS.join(', ')}, got ${JSON.stringify(values.format)}`);
  let rate: number | undefined;
  if (values.rate !== undefined) {
    rate = Number(values.rate.replace(/\/s$/, ''));
    if (!Number.isFinite(rate) || rate <= 0) throw new UsageError(`--rate must be a positive number of events per second (5000 or 5000/s), got ${JSON.stringify(values.rate)}`);
  }
  if (format === 'archive' && !values.stream) throw new UsageError('--format archive needs --stream: the stream whose destination takes the archived records');
  const loaded = await loadConfigOrReport(values.config);
  if (loaded === null) return 2;
  const config = loaded.config;
  const stream = values.stream ?? config.sources?.s3?.stream ?? 'metrics';
  const streams = Object.keys(config.streams ?? {});
  if ((format !== 'dynamodb-export' || values.stream) && !streams.includes(stream)) {
    throw new UsageError(`no stream named ${JSON.stringify(stream)} in the config; streams: ${streams.join(', ') || 'none'}`);
  }
  let sources;
  try {
    sources = await expandSources(positionals, { endpoint: values['s3-endpoint'] ?? config.sources?.s3?.endpoint, forcePathStyle: config.sources?.s3?.force_path_style });
  } catch (e) {
    if (e instanceof SourceError) throw new UsageError(e.message);
    throw e;
  }

  const where = storeLocation(values);
  const log = createLogger('text', (s) => process.stderr.write(s));
  const rt = await LambdaRuntime.open({ config, ...where, log, stdout: (l) => process.stderr.write(l), buffer: { max_records: 5_000, max_bytes: 64 * 1024 * 1024, interval_seconds: 0 } });
  const stop = new AbortController();
  const onSigint = (): void => {
    if (stop.signal.aborted) process.exit(130);
    process.stderr.write('\nsluice backfill: stopping after the chunks in flight (Ctrl-C again to quit now); run the same command to resume\n');
    stop.abort();
  };
  process.on('SIGINT', onSigint);
  const tty = process.stderr.isTTY === true;
  const bar = tty
    ? new cliProgress.SingleBar(
        { format: 'backfill [{bar}] {percentage}% | {events} events | {rate}/s | ETA {left} | {files}', hideCursor: true, stream: process.stderr },
        cliProgress.Presets.shades_classic,
      )
    : null;
  let lastLine = 0;
  const progress = (p: BackfillProgress): void => {
    const fields = { events: p.events, rate: Math.round(p.rate), left: fmtSeconds(p.etaSeconds), files: `${p.sourcesDone}/${p.sources} sources` };
    if (bar) {
      if (!lastLine) bar.start(Math.max(1, p.totalBytes), 0, fields);
      lastLine = 1;
      bar.update(p.bytes, fields);
      return;
    }
    if (Date.now() - lastLine < 5_000 && p.sourcesDone < p.sources) return;
    lastLine = Date.now();
    const pct = p.totalBytes > 0 ? Math.min(100, Math.round((p.bytes / p.totalBytes) * 100)) : 100;
    process.stderr.write(`backfill: ${pct}% of ${p.totalBytes} bytes, ${p.events} events, ${fields.rate}/s, ETA ${fields.left}, ${fields.files}${p.failed ? `, ${p.failed} failed lines` : ''}\n`);
  };
  try {
    if (values.restart) await rt.db.query('delete from sluice.backfills where job = $1', [jobId(sources.map((s) => s.name), format, stream)]);
    const r = await runBackfill(rt, sources, { format, stream, rate, table: values.table, keys: values.keys?.split(',').map((k) => k.trim()).filter(Boolean), progress, signal: stop.signal });
    bar?.stop();
    const resumed = r.resumedAt ? `, resumed at ${r.resumedAt.source} line ${r.resumedAt.line}` : '';
    const skipped = r.skipped ? `, ${r.skipped} sources already done` : '';
    process.stdout.write(`backfill ${r.job}: ${r.stopped ? 'stopped' : 'done'}: ${r.events} events from ${sources.length} sources${skipped}${resumed}${r.failed ? `; ${r.failed} lines failed (sluice.stream_errors, stream backfill)` : ''}\n`);
    return r.stopped ? 130 : 0;
  } finally {
    bar?.stop();
    process.off('SIGINT', onSigint);
    await rt.close();
  }
}
