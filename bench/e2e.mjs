// End-to-end ingest benchmark: 100-event NDJSON requests on loopback through route, input
// transform, validate, pseudonymize and an idempotent metrics write, acknowledged only when
// durable, on the PostgreSQL server and on PGlite. The baseline, measured in the same run, is a
// bare loop: an HTTP server that parses each line and COPYs it into PostgreSQL. It runs before
// and after every Sluice run, and each run's ratio is to the mean of the two: this machine's
// speed drifts within a minute, by as much as the baseline moves between one run and the next.
//
// Then the BI pipeline on the PostgreSQL server: transactions of about 20 fields, two of them
// pseudonymized, into a 20-column table (target 40,000 rows/s).
//
//   npm run build && node bench/e2e.mjs [--seconds 8] [--clients 8] [--rounds 1]
//
// With --rounds N the sequence runs N times and ends with each run's median ratio.
//
// Load comes from a worker thread (its own event loop), so the server's main thread is Sluice's.
//
// Rates are sustained rates: after a warm-up of WARMUP seconds (connections, prepared statements,
// JIT, the day's partition), events acknowledged and events delivered (written by the
// destination) are counted over the measured window; the figure compared with a target is the
// lower of the two. A stream flushes a partial batch only after its buffer interval (1 s here),
// so the time to deliver the last events after the load stops is latency, not throughput: it is
// printed as "drained in", and every acknowledged event must then be stored.
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { startSluice } from '../dist/runtime/sluice-node.js';
import { createLogger } from '../dist/runtime/logger.js';
import config, { BENCH_KEYS, tableConfig } from './findings.mjs';
import { arg, freshDatabase, load, median } from './support.mjs';

const SECONDS = arg('seconds', 8);
const CLIENTS = arg('clients', 8);
const WARMUP = arg('warmup', 2);
const ROUNDS = arg('rounds', 1);
const TARGETS = { PostgreSQL: 60_000, PGlite: 25_000 };
process.env.SLUICE_BENCH_KEYS = BENCH_KEYS;

let bareError = false;
async function bareLoop() {
  const db = await freshDatabase();
  // node-postgres with pg-copy-streams: COPY FROM STDIN per request, concurrent over a pool.
  const pool = new pg.Pool({ connectionString: db.url, max: CLIENTS });
  pool.on('error', () => {}); // the forced drop at the end terminates idle connections
  await pool.query('create table points (tenant text, metric text, time timestamptz, record_id text, user_id text, n float8)');
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    let rows = '';
    for (const line of Buffer.concat(chunks).toString().split('\n')) {
      if (!line) continue;
      const e = JSON.parse(line);
      rows += `${e.detail.tenant_id}\tfindings\t${e.detail.created_at}\t${e.detail.event_id}\t${e.detail.user_id}\t${e.detail.new_findings_count}\n`;
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
  await load({ url, key: 'x', seconds: WARMUP, clients: CLIENTS, prefix: 'bare-warm' });
  const t0 = performance.now();
  const { acked } = await load({ url, key: 'x', seconds: SECONDS, clients: CLIENTS, prefix: 'bare' });
  const rate = acked / ((performance.now() - t0) / 1000);
  server.close();
  await pool.end();
  await db.drop();
  return rate;
}

/** What each kind of run sends through: its config, the stream that delivers, the table it fills. */
const KINDS = {
  findings: { config, stream: 'metrics', table: 'sluice.metric_points' },
  transactions: { config: tableConfig, stream: 'transactions', table: 'bi.transactions' },
};

async function sluice(store, kind = 'findings') {
  const { config: kindConfig, stream, table } = KINDS[kind];
  const db = store === 'PostgreSQL' ? await freshDatabase() : null;
  const dataDir = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
  const s = await startSluice({ mode: 'start', config: kindConfig, port: 0, dataDir, databaseUrl: db?.url, log: createLogger('text', () => {}) });
  const key = (await s.keys.create('acme', 'ingest')).key;
  const warm = await load({ url: `${s.url}/v1/events`, key, seconds: WARMUP, clients: CLIENTS, prefix: `${store}-warm`, kind });
  const delivered0 = s.counters.get(stream, 'ok');
  const t0 = performance.now();
  const { acked, failed } = await load({ url: `${s.url}/v1/events`, key, seconds: SECONDS, clients: CLIENTS, prefix: store, kind });
  const seconds = (performance.now() - t0) / 1000;
  const delivered = s.counters.get(stream, 'ok') - delivered0;
  const t1 = performance.now();
  await s.pipeline.whenIdle();
  const drain = (performance.now() - t1) / 1000;
  const rss = process.memoryUsage().rss;
  const [{ n }] = await s.db.query(`select count(*)::int as n from ${table}`);
  await s.stop();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
  if (n !== warm.acked + acked) console.log(`  !! ${store}: ${warm.acked + acked} acknowledged but ${n} stored`);
  return { rate: Math.min(acked, delivered) / seconds, acked: acked / seconds, delivered: delivered / seconds, drain, failed: failed + warm.failed, rss };
}

const detail = (r) => `acknowledged ${Math.round(r.acked).toLocaleString('en')}/s, delivered ${Math.round(r.delivered).toLocaleString('en')}/s, drained in ${r.drain.toFixed(2)} s`;

console.log(`end to end, ${CLIENTS} clients × 100-event NDJSON requests, ${WARMUP} s warm-up, then ${SECONDS} s measured\n`);
const fmt = (n) => Math.round(n).toLocaleString('en');
let before = await bareLoop();
console.log(`bare parse-and-COPY loop (PostgreSQL):  ${fmt(before)} events/s (baseline)`);
/** Runs one Sluice measurement, then the baseline again; the ratio is to the mean of the baselines around it. */
async function bracketed(run) {
  const r = await run();
  const after = await bareLoop();
  const baseline = (before + after) / 2;
  before = after;
  return { ...r, baseline, ratio: r.rate / baseline, after };
}
const ratios = { PostgreSQL: [], PGlite: [], table: [] };
for (let round = 1; round <= ROUNDS; round++) {
  if (ROUNDS > 1) console.log(`\nround ${round} of ${ROUNDS}`);
  for (const store of ['PostgreSQL', 'PGlite']) {
    const r = await bracketed(() => sluice(store));
    ratios[store].push(r.ratio);
    console.log(
      `Sluice on ${store.padEnd(10)}  ${fmt(r.rate)} events/s sustained · ${r.ratio.toFixed(2)}× baseline · target ${TARGETS[store].toLocaleString('en')} (${(TARGETS[store] / 105_000).toFixed(2)}× of the 105k reference) · refused requests ${r.failed} · RSS ${Math.round(r.rss / 2 ** 20)} MiB\n    (${detail(r)})`,
    );
    console.log(`bare parse-and-COPY loop (PostgreSQL):  ${fmt(r.after)} events/s (baseline; ${store}'s ratio is to ${fmt(r.baseline)}, the mean of this and the one before)`);
  }
  const t = await bracketed(() => sluice('PostgreSQL', 'transactions'));
  ratios.table.push(t.ratio);
  console.log(
    `Sluice table on PostgreSQL: ${fmt(t.rate)} rows/s sustained (20 columns, 2 pseudonymized) · ${t.ratio.toFixed(2)}× baseline · target 40,000 (0.38× of the 105k reference) · refused requests ${t.failed}\n    (${detail(t)})`,
  );
  console.log(`bare parse-and-COPY loop (PostgreSQL):  ${fmt(t.after)} events/s (baseline; the table's ratio is to ${fmt(t.baseline)})`);
}
if (ROUNDS > 1) {
  const line = (name, xs, target) => `  ${name.padEnd(11)} median ${median(xs).toFixed(2)}× (${xs.map((x) => x.toFixed(2)).join(', ')}) · target ${target}×`;
  console.log(`\nratios to the baseline over ${ROUNDS} rounds:\n${line('PostgreSQL', ratios.PostgreSQL, 0.57)}\n${line('PGlite', ratios.PGlite, 0.24)}\n${line('BI table', ratios.table, 0.38)}`);
}
