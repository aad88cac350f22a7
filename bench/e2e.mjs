// End-to-end ingest benchmark: 100-event NDJSON requests on loopback through route, input
// transform, validate, pseudonymize and an idempotent metrics write, acknowledged only when
// durable, on the PostgreSQL server and on PGlite. The baseline, measured in the same run, is a
// bare loop: an HTTP server that parses each line and COPYs it into PostgreSQL.
//
//   npm run build && node bench/e2e.mjs [--seconds 8] [--clients 8]
//
// Load comes from a worker thread (its own event loop), so the server's main thread is Sluice's.
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import postgres from 'postgres';
import { startSluice } from '../dist/runtime/sluice-node.js';
import { createLogger } from '../dist/runtime/logger.js';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const SECONDS = arg('seconds', 8);
const CLIENTS = arg('clients', 8);
const SERVER = process.env.SLUICE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const TARGETS = { PostgreSQL: 60_000, PGlite: 25_000 };
process.env.SLUICE_BENCH_KEYS = 'b1:bench-secret-0123456789abcdef';

const config = {
  rules: [
    {
      name: 'findings',
      pattern: { source: ['findings'], 'detail-type': ['findings-uploaded'] },
      targets: [
        {
          stream: 'metrics',
          input_transformer: {
            input_paths_map: { t: '$.detail.tenant_id', e: '$.detail.event_id', at: '$.detail.created_at', u: '$.detail.user_id', n: '$.detail.new_findings_count', x: '$.detail.existing_findings_count' },
            input_template: '{"metric_name":"findings_upload_completed","metadata":{"tenant_id":<t>,"event_id":<e>,"event_time":<at>,"user_id":<u>},"data":{"new_findings_count":<n>,"existing_findings_count":<x>}}',
          },
        },
      ],
    },
  ],
  streams: {
    metrics: {
      buffer: { max_records: 5000, interval_seconds: 1 },
      processors: [{ type: 'validate' }, { type: 'pseudonymize', key: { env: 'SLUICE_BENCH_KEYS' }, fields: { 'metadata.user_id': 'hash' } }],
      destination: { type: 'metrics' },
    },
  },
  ingest: { rate_limit: { events_per_second: 10_000_000, burst: 10_000_000 } },
};

const LOAD = `
const { workerData, parentPort } = require('node:worker_threads');
const { url, key, seconds, clients, prefix } = workerData;
let acked = 0, seq = 0, failed = 0;
const end = Date.now() + seconds * 1000;
function body() {
  const now = new Date().toISOString();
  let s = '';
  for (let i = 0; i < 100; i++) {
    const id = prefix + '-' + (seq++);
    s += JSON.stringify({ source: 'findings', 'detail-type': 'findings-uploaded', time: now, detail: { tenant_id: 'acme', event_id: id, user_id: 'user-' + (seq % 5000), new_findings_count: seq % 7, existing_findings_count: 10, created_at: now } }) + '\\n';
  }
  return s;
}
async function client() {
  while (Date.now() < end) {
    const res = await fetch(url, { method: 'POST', headers: { authorization: 'Bearer ' + key, 'content-type': 'application/x-ndjson' }, body: body() });
    await res.arrayBuffer();
    if (res.status === 200) acked += 100; else { failed++; await new Promise((r) => setTimeout(r, 50)); }
  }
}
Promise.all(Array.from({ length: clients }, client)).then(() => parentPort.postMessage({ acked, failed }));
`;

function load(url, key, prefix) {
  return new Promise((resolve, reject) => {
    const w = new Worker(LOAD, { eval: true, workerData: { url, key, seconds: SECONDS, clients: CLIENTS, prefix } });
    w.once('message', resolve);
    w.once('error', reject);
  });
}

async function freshDatabase() {
  const admin = postgres(SERVER, { max: 1, onnotice: () => {} });
  const name = `sluice_bench_${Date.now()}`;
  await admin.unsafe(`create database ${name}`);
  const url = new URL(SERVER);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: async () => { await admin.unsafe(`drop database if exists ${name} with (force)`); await admin.end(); } };
}

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
  const t0 = performance.now();
  const { acked } = await load(`http://127.0.0.1:${server.address().port}/`, 'x', 'bare');
  const rate = acked / ((performance.now() - t0) / 1000);
  server.close();
  await pool.end();
  await db.drop();
  return rate;
}

async function sluice(store) {
  const db = store === 'PostgreSQL' ? await freshDatabase() : null;
  const dataDir = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
  const s = await startSluice({ mode: 'start', config, port: 0, dataDir, databaseUrl: db?.url, log: createLogger('text', () => {}) });
  const key = (await s.keys.create('acme', 'ingest')).key;
  const t0 = performance.now();
  const { acked, failed } = await load(`${s.url}/v1/events`, key, store);
  await s.pipeline.whenIdle();
  const seconds = (performance.now() - t0) / 1000;
  const rss = process.memoryUsage().rss;
  const [{ n }] = await s.db.query('select count(*)::int as n from sluice.metric_points');
  await s.stop();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
  if (n !== acked) console.log(`  !! ${store}: ${acked} acknowledged but ${n} stored`);
  return { rate: acked / seconds, failed, rss };
}

console.log(`end to end, ${CLIENTS} clients × 100-event NDJSON requests for ${SECONDS} s each\n`);
const bare = await bareLoop();
console.log(`bare parse-and-COPY loop (PostgreSQL):  ${Math.round(bare).toLocaleString('en')} events/s (baseline)`);
for (const store of ['PostgreSQL', 'PGlite']) {
  const r = await sluice(store);
  console.log(
    `Sluice on ${store.padEnd(10)}  ${Math.round(r.rate).toLocaleString('en')} events/s delivered · ${(r.rate / bare).toFixed(2)}× baseline · target ${TARGETS[store].toLocaleString('en')} (${(TARGETS[store] / 105_000).toFixed(2)}× of the 105k reference) · refused requests ${r.failed} · RSS ${Math.round(r.rss / 2 ** 20)} MiB`,
  );
}
