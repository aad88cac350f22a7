// Query benchmark: one tenant and metric over a store of 10 million points across 10 tenants
// (60 days, with a plan dimension and two measures), on the PostgreSQL server, through
// `POST /v1/query` of a running Sluice. Each timed query asks a different hour-aligned range, so
// the result cache never answers; the database is warm (every range is asked once before).
// The baseline, in the same run, is the same aggregation computed straight from the points.
//
//   npm run build && node bench/query.mjs [--points 10000000] [--runs 40]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import postgres from 'postgres';
import { createLogger } from '../dist/runtime/logger.js';
import { startSluice } from '../dist/runtime/sluice-node.js';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const POINTS = arg('points', 10_000_000);
const RUNS = arg('runs', 40);
const TENANTS = 10;
const DAYS = 60;
const HOUR = 3_600_000;
const SERVER = process.env.SLUICE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const TARGETS = { 7: 20, 30: 30 };

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const admin = postgres(SERVER, { max: 1, onnotice: () => {} });
const name = `sluice_bench_query_${Date.now()}`;
await admin.unsafe(`create database ${name}`);
const url = new URL(SERVER);
url.pathname = `/${name}`;
const dataDir = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
const config = { streams: { metrics: { destination: { type: 'metrics', rollup_dimensions: ['plan'] } } } };
const open = () => startSluice({ mode: 'start', config, port: 0, dataDir, databaseUrl: url.toString(), log: createLogger('text', () => {}) });

try {
  // The schema comes from a first start; the points are generated in SQL (day partitions first).
  let s = await open();
  const end = Math.floor(Date.now() / HOUR) * HOUR;
  const start = end - DAYS * 24 * HOUR;
  const sql = postgres(url.toString(), { max: 1, onnotice: () => {} });
  for (let d = 0; d <= DAYS; d++) {
    const day = new Date(start + d * 24 * HOUR).toISOString().slice(0, 10);
    const next = new Date(Date.parse(day) + 24 * HOUR).toISOString().slice(0, 10);
    await sql.unsafe(`create table if not exists sluice.metric_points_${day.replace(/-/g, '')} partition of sluice.metric_points for values from ('${day}') to ('${next}')`);
  }
  console.log(`generating ${POINTS.toLocaleString('en')} points for ${TENANTS} tenants over ${DAYS} days …`);
  let t0 = performance.now();
  const chunk = 1_000_000;
  for (let off = 0; off < POINTS; off += chunk) {
    await sql.unsafe(
      `insert into sluice.metric_points (tenant, metric, time, record_id, dimensions, measures)
       select 'tenant' || (i % ${TENANTS}), 'findings_upload_completed',
              to_timestamp(${start / 1000} + (hashint4(i) & 2147483647)::float8 / 2147483647 * ${(DAYS * 24 * HOUR) / 1000}),
              'e:' || i, jsonb_build_object('plan', case when i % 3 = 0 then 'pro' else 'free' end, 'user_id', 'k1:' || md5((i % 50000)::text)),
              jsonb_build_object('new_findings_count', i % 20, 'existing_findings_count', i % 97)
         from generate_series(${off}, ${Math.min(off + chunk, POINTS) - 1}) i`,
    );
  }
  await sql.unsafe('vacuum analyze sluice.metric_points');
  console.log(`  inserted in ${((performance.now() - t0) / 1000).toFixed(0)} s; rebuilding the rollups through a restart …`);
  // A changed rollup setting makes the next start rebuild the rollups from the points.
  await sql.unsafe("delete from sluice.settings where name = 'metrics.rollup_dimensions'");
  await s.stop();
  t0 = performance.now();
  s = await open();
  await sql.unsafe('vacuum analyze sluice.metric_rollups');
  console.log(`  rollups rebuilt in ${((performance.now() - t0) / 1000).toFixed(0)} s\n`);

  const read = (await s.keys.create('tenant3', 'read')).key;
  const ask = async (body) => {
    const t = performance.now();
    const res = await fetch(`${s.url}/v1/query`, { method: 'POST', headers: { authorization: `Bearer ${read}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const json = await res.json();
    if (res.status !== 200) throw new Error(JSON.stringify(json));
    return { ms: performance.now() - t, result: json.results[0] };
  };
  const body = (days, shiftHours) => {
    const to = end - shiftHours * HOUR;
    return { metric: 'findings_upload_completed', from: new Date(to - days * 24 * HOUR).toISOString(), to: new Date(to).toISOString(), step: '1h', aggregations: ['count', 'sum:new_findings_count', 'max:existing_findings_count'] };
  };
  const direct = async (days, shiftHours) => {
    const to = end - shiftHours * HOUR;
    const t = performance.now();
    await sql.unsafe(
      `select date_trunc('hour', time) as b, count(*), sum((measures->>'new_findings_count')::float8), max((measures->>'existing_findings_count')::float8)
         from sluice.metric_points where tenant = 'tenant3' and metric = 'findings_upload_completed' and time >= $1 and time < $2 group by 1`,
      [new Date(to - days * 24 * HOUR).toISOString(), new Date(to).toISOString()],
    );
    return performance.now() - t;
  };

  for (const days of [7, 30]) {
    const shifts = Array.from({ length: RUNS }, (_, i) => i + 1);
    for (const h of shifts) await ask(body(days, h)); // warm the database, not the result cache
    const sluice = [];
    let points = 0;
    for (const h of shifts) {
      const { ms, result } = await ask(body(days, h + RUNS));
      if (result.source !== 'rollups') throw new Error(`expected the rollups to answer, got ${result.source}`);
      points = result.series[0].values.count.reduce((a, b) => a + b, 0);
      sluice.push(ms);
    }
    const cached = [];
    for (const h of shifts.slice(0, 10)) cached.push((await ask(body(days, h + RUNS))).ms);
    const base = [];
    for (const h of shifts.slice(0, 10)) await direct(days, h); // warm
    for (const h of shifts.slice(0, 10)) base.push(await direct(days, h));
    const m = median(sluice);
    console.log(
      `${String(days).padStart(2)} days at 1 h (${points.toLocaleString('en')} points): median ${m.toFixed(1)} ms through /v1/query (target ≤ ${TARGETS[days]} ms) · ` +
        `cached ${median(cached).toFixed(1)} ms · from the points in SQL ${median(base).toFixed(0)} ms (baseline; Sluice is ${(median(base) / m).toFixed(0)}× faster)`,
    );
  }
  await sql.end();
  await s.stop();
} finally {
  if (!process.env.KEEP) await admin.unsafe(`drop database if exists ${name} with (force)`);
  else console.log(name);
  await admin.end();
  rmSync(dataDir, { recursive: true, force: true });
}
