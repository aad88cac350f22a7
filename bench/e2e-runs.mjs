// The two measured runs the end-to-end benchmarks share (e2e.mjs, ceiling.mjs): the bare
// parse-and-COPY loop, and Sluice under the same load.
//
// Rates are sustained rates: after a warm-up (connections, prepared statements, JIT, the day's
// partition), events acknowledged and events delivered (written by the destination) are counted
// over the measured window; the figure compared with a target is the lower of the two. A stream
// flushes a partial batch only after its buffer interval (1 s here), so the time to deliver the
// last events after the load stops is latency, not throughput: it is reported as `drain`, and
// every acknowledged event must then be stored.
import { createHmac } from 'node:crypto';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { startSluice } from '../dist/runtime/sluice-node.js';
import { createLogger } from '../dist/runtime/logger.js';
import { UNIFIED_METRIC_SCHEMA } from '../dist/processors/validate.js';
import config, { BENCH_KEYS, tableConfig } from './findings.mjs';
import { freshDatabase, load } from './support.mjs';

process.env.SLUICE_BENCH_KEYS = BENCH_KEYS;

let bareError = false;

const BARE_KEY = 'bench-secret-0123456789abcdef';

/** The per-line work of the `design` loop: the event's row, or '' when no rule matches or it is invalid. */
function designRow() {
  const ajv = addFormats(new Ajv({ allErrors: false, strict: false }), { mode: 'fast' });
  const valid = ajv.compile(UNIFIED_METRIC_SCHEMA);
  return (e) => {
    if (e.source !== 'findings' || e['detail-type'] !== 'findings-uploaded') return '';
    const d = e.detail;
    const record = {
      metric_name: 'findings_upload_completed',
      metadata: { tenant_id: d.tenant_id, event_id: d.event_id, event_time: d.created_at, user_id: d.user_id },
      data: { new_findings_count: d.new_findings_count, existing_findings_count: d.existing_findings_count },
    };
    if (!valid(record)) return '';
    const m = record.metadata;
    const user = `b1:${createHmac('sha256', BARE_KEY).update(m.user_id).digest('hex').slice(0, 32)}`;
    return `${m.tenant_id}\t${record.metric_name}\t${m.event_time}\t${m.event_id}\t${user}\t${record.data.new_findings_count}\n`;
  };
}

const copyRow = (e) => `${e.detail.tenant_id}\tfindings\t${e.detail.created_at}\t${e.detail.event_id}\t${e.detail.user_id}\t${e.detail.new_findings_count}\n`;

/**
 * What each bare loop does with a line, by name (each entry makes its per-line function):
 *
 * - `design`: the loop DESIGN.md measured on this machine at ~105,000 events/s, the figure the
 *   issue's targets are set against ("NDJSON over HTTP → parse, route, transform, 2×HMAC,
 *   validate → COPY"). Written by hand with none of Sluice's code but its unified metric
 *   schema: the rule's two exact fields compared, the input transformer's record built as an
 *   object, the schema checked by Ajv (compiled, ajv-formats' fast formats), the user id
 *   HMAC'd, one row COPYed.
 *   It HMACs once per event, the one field the benchmark's stream hashes, where DESIGN.md's
 *   loop did twice: if anything it is faster than the reference loop.
 * - `copy`: parse and COPY only, the baseline of every run before the seventeenth session.
 */
const ROWS = { design: designRow, copy: () => copyRow };
export const BARE_STEPS = Object.keys(ROWS);

/**
 * The baseline: an HTTP server that parses each NDJSON line, does `steps` (BARE_STEPS) with it
 * and COPYs the request's rows into PostgreSQL (node-postgres with pg-copy-streams, COPY FROM
 * STDIN per request, concurrent over a pool), into a table without indexes. Resolves with its
 * events per second.
 */
export async function bareLoop({ seconds, warmup, clients, steps = 'design' }) {
  if (!ROWS[steps]) throw new Error(`bare loop steps: one of ${BARE_STEPS.join(', ')}, not ${steps}`);
  const toRow = ROWS[steps]();
  const db = await freshDatabase();
  const pool = new pg.Pool({ connectionString: db.url, max: clients });
  pool.on('error', () => {}); // the forced drop at the end terminates idle connections
  await pool.query('create table points (tenant text, metric text, time timestamptz, record_id text, user_id text, n float8)');
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    let rows = '';
    for (const line of Buffer.concat(chunks).toString().split('\n')) {
      if (line) rows += toRow(JSON.parse(line));
    }
    const client = await pool.connect();
    try {
      await pipeline(Readable.from([rows]), client.query(copyFrom('copy points from stdin')));
      res.end('{}');
    } catch (e) {
      if (!bareError) console.log('  bare loop error:', e.message);
      bareError = true;
      res.statusCode = 500;
      res.end();
    } finally {
      client.release();
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${server.address().port}/`;
  await load({ url, key: 'x', seconds: warmup, clients, prefix: 'bare-warm' });
  const t0 = performance.now();
  const { acked } = await load({ url, key: 'x', seconds, clients, prefix: 'bare' });
  const rate = acked / ((performance.now() - t0) / 1000);
  server.close();
  const { rows: [{ n }] } = await pool.query('select count(*)::int as n from points');
  await pool.end();
  await db.drop();
  // Every acknowledged event made a row (the warm-up's too): no line was skipped as unmatched or invalid.
  if (n < acked) throw new Error(`the ${steps} bare loop stored ${n} rows for ${acked} acknowledged events`);
  return rate;
}

/** What each kind of run sends through: its config, the stream that delivers, the table it fills. */
const KINDS = {
  findings: { config, stream: 'metrics', table: 'sluice.metric_points' },
  transactions: { config: tableConfig, stream: 'transactions', table: 'bi.transactions' },
};

/**
 * How much of Sluice a run keeps (ceiling.mjs): everything (`full`); the destination's table
 * without its indexes, that is without the primary key that makes writes idempotent and the
 * subject indexes erasure reads (`no-indexes`); or no store at all, the stream's records being
 * serialized and discarded by a stdout destination (`discard`).
 */
export const VARIANTS = ['full', 'no-indexes', 'discard'];

/** The config of a kind of run with its stream's destination discarding what it gets. */
function discarding(kindConfig, stream) {
  const streams = { ...kindConfig.streams, [stream]: { ...kindConfig.streams[stream], destination: { type: 'stdout' } } };
  return { ...kindConfig, streams };
}

/** Drops every index of the run's table (its primary key included), after Sluice created them. */
async function dropIndexes(db, table) {
  const [schema, name] = table.split('.');
  const indexes = await db.query(
    `select i.indexrelid::regclass::text as index, c.conname as constraint
       from pg_index i join pg_class t on t.oid = i.indrelid join pg_namespace n on n.oid = t.relnamespace
       left join pg_constraint c on c.conindid = i.indexrelid and c.conrelid = t.oid
      where n.nspname = $1 and t.relname = $2`,
    [schema, name],
  );
  for (const r of indexes) await db.query(r.constraint ? `alter table ${table} drop constraint ${r.constraint}` : `drop index ${r.index}`);
  if (indexes.length === 0) throw new Error(`${table} has no index to drop`);
}

/**
 * Sluice on `store` ('PostgreSQL' or 'PGlite') under the load of `kind`. Resolves with the
 * sustained rate (the lower of acknowledged and delivered), both of those, the drain time,
 * refused requests and the process's RSS.
 */
export async function sluiceRun(store, kind, { seconds, warmup, clients, variant = 'full' }) {
  const { config: kindConfig, stream, table } = KINDS[kind];
  const db = store === 'PostgreSQL' ? await freshDatabase() : null;
  const dataDir = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
  const s = await startSluice({
    mode: 'start',
    config: variant === 'discard' ? discarding(kindConfig, stream) : kindConfig,
    port: 0,
    dataDir,
    databaseUrl: db?.url,
    log: createLogger('text', () => {}),
    stdout: () => {},
  });
  if (variant === 'no-indexes') await dropIndexes(s.db, table);
  const key = (await s.keys.create('acme', 'ingest')).key;
  const warm = await load({ url: `${s.url}/v1/events`, key, seconds: warmup, clients, prefix: `${store}-warm`, kind });
  const delivered0 = s.counters.get(stream, 'ok');
  const t0 = performance.now();
  const { acked, failed } = await load({ url: `${s.url}/v1/events`, key, seconds, clients, prefix: store, kind });
  const elapsed = (performance.now() - t0) / 1000;
  const delivered = s.counters.get(stream, 'ok') - delivered0;
  const t1 = performance.now();
  await s.pipeline.whenIdle();
  const drain = (performance.now() - t1) / 1000;
  const rss = process.memoryUsage().rss;
  const stored = variant === 'discard' ? s.counters.get(stream, 'ok') : (await s.db.query(`select count(*)::int as n from ${table}`))[0].n;
  await s.stop();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
  if (stored !== warm.acked + acked) console.log(`  !! ${store} (${kind}, ${variant}): ${warm.acked + acked} acknowledged but ${stored} ${variant === 'discard' ? 'delivered' : 'stored'}`);
  return { rate: Math.min(acked, delivered) / elapsed, acked: acked / elapsed, delivered: delivered / elapsed, drain, failed: failed + warm.failed, rss };
}
