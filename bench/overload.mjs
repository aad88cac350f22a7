// Overload benchmark: `sluice start` on the PostgreSQL server, its own process, driven at twice
// the rate it sustains. It must push back (429/503 with Retry-After) instead of growing: its
// RSS is sampled from /proc throughout and compared with the 400 MB target and with its RSS at
// the sustainable rate (the baseline, same run). Every acknowledged event must be stored.
//
//   node bench/overload.mjs [--seconds 20] [--heap-mb 256]
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { BENCH_KEYS } from './findings.mjs';
import { arg, freshDatabase, load } from './support.mjs';

const SECONDS = arg('seconds', 20);
// The heap cap docs/operations.md recommends for sluice start; --heap-mb 0 runs uncapped.
const HEAP_MB = arg('heap-mb', 256);
const TARGET_MB = 400;
const BIN = join(import.meta.dirname, '../bin/sluice.js');
const CONFIG = join(import.meta.dirname, 'findings.mjs');
const PORT = 18_000 + Math.floor(Math.random() * 2000);

/** RSS in MB (10^6 bytes, as the target is stated); /proc's "kB" are KiB. */
const rssMb = (pid) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? (Number(m[1]) * 1024) / 1e6 : 0;
};

/** Samples the process's RSS every 250 ms while `during` runs. */
async function sampled(pid, during) {
  const samples = [];
  const timer = setInterval(() => samples.push(rssMb(pid)), 250);
  try {
    const result = await during();
    return { result, max: Math.max(...samples), last: samples.at(-1) };
  } finally {
    clearInterval(timer);
  }
}

const db = await freshDatabase('sluice_bench_overload');
const dataDir = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
const env = { ...process.env, DATABASE_URL: db.url, SLUICE_BENCH_KEYS: BENCH_KEYS, NODE_OPTIONS: HEAP_MB ? `--max-old-space-size=${HEAP_MB}` : '' };
console.log(`sluice start on PostgreSQL, ${HEAP_MB ? `NODE_OPTIONS=--max-old-space-size=${HEAP_MB}` : 'heap uncapped'}`);
const child = spawn(process.execPath, [BIN, 'start', '--config', CONFIG, '--data-dir', dataDir, '--port', String(PORT)], { env, stdio: ['ignore', 'ignore', 'inherit'] });
try {
  const url = `http://127.0.0.1:${PORT}`;
  for (let i = 0; ; i++) {
    if (i > 300) throw new Error('sluice start did not come up');
    if (await fetch(`${url}/healthz`).then((r) => r.ok, () => false)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const key = JSON.parse(execFileSync(process.execPath, [BIN, 'keys', 'create', '--tenant', 'acme', '--kind', 'ingest', '--json', '--data-dir', dataDir], { env, encoding: 'utf8' })).key;
  const target = `${url}/v1/events`;

  const steady = await sampled(child.pid, () => load({ url: target, key, seconds: 8, clients: 8, prefix: 'steady' }));
  const sustainable = steady.result.acked / 8;
  console.log(`sustainable (8 clients, closed loop): ${Math.round(sustainable).toLocaleString('en')} events/s acknowledged · RSS max ${steady.max.toFixed(0)} MB (baseline)`);

  const rate = Math.max(1, Math.round((2 * sustainable) / 100));
  const over = await sampled(child.pid, () => load({ url: target, key, seconds: SECONDS, rate, prefix: 'over' }));
  const r = over.result;
  console.log(
    `2× (${(rate * 100).toLocaleString('en')} events/s offered for ${SECONDS} s): ${Math.round(r.acked / SECONDS).toLocaleString('en')} events/s acknowledged · ` +
      `answers ${JSON.stringify(r.statuses)}${r.skipped ? ` · ${r.skipped} not sent (256 in flight)` : ''} · RSS max ${over.max.toFixed(0)} MB ` +
      `(target < ${TARGET_MB} MB; ${(over.max / steady.max).toFixed(2)}× baseline)`,
  );

  // Every acknowledged event stored, once.
  const sql = postgres(db.url, { max: 1, onnotice: () => {} });
  const expected = steady.result.acked + r.acked;
  let stored = 0;
  for (let i = 0; i < 600; i++) {
    [{ n: stored }] = await sql`select count(*)::int as n from sluice.metric_points`;
    const [{ backlog }] = await sql`select count(*)::int as backlog from sluice.intake_log`;
    if (backlog === 0 && stored >= expected) break;
    await new Promise((res) => setTimeout(res, 500));
  }
  await sql.end();
  console.log(`stored ${stored.toLocaleString('en')} points for ${expected.toLocaleString('en')} acknowledged events${stored === expected ? '' : '  !! MISMATCH'}`);
  if (stored !== expected) process.exitCode = 1;
} finally {
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  await db.drop();
  rmSync(dataDir, { recursive: true, force: true });
}
