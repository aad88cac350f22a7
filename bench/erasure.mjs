// Erasure benchmark: one subject among 10 million rows of the BI table `bi.transactions` (the
// table benchmark's 20 columns, two of them pseudonymized), on the PostgreSQL server, through the
// same Eraser `sluice erase` and POST /v1/admin/erasures use: its pseudonyms under the key ring,
// deleted from the table, the metrics store and the error output, suppression list and audit
// row, one transaction. Target ≤ 1 s. The baseline, in the same run, finds the same rows
// without the subject indexes Sluice creates (a sequential scan).
//
//   npm run build && node bench/erasure.mjs [--rows 10000000] [--runs 5]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import postgres from 'postgres';
import { parseKeyRing, Pseudonymizer } from '../dist/core/privacy/pseudonymizer.js';
import { MetricsStore } from '../dist/destinations/metrics/metrics-store.js';
import { Eraser, erasureTargets } from '../dist/privacy/erasure.js';
import { createLogger } from '../dist/runtime/logger.js';
import { startSluice } from '../dist/runtime/sluice-node.js';
import { PostgresDriver } from '../dist/store/postgres-driver.js';
import { BENCH_KEYS, tableConfig } from './findings.mjs';
import { arg, freshDatabase, median } from './support.mjs';

const ROWS = arg('rows', 10_000_000);
const RUNS = arg('runs', 5);
const SUBJECTS = 1_000_000;
process.env.SLUICE_BENCH_KEYS = BENCH_KEYS;

const db = await freshDatabase();
const dataDir = mkdtempSync(join(tmpdir(), 'sluice-bench-'));
const sql = postgres(db.url, { max: 1, onnotice: () => {} });
try {
  // A first start creates the table and its indexes, as in production.
  const s = await startSluice({ mode: 'start', config: tableConfig, port: 0, dataDir, databaseUrl: db.url, log: createLogger('text', () => {}) });
  await s.stop();

  console.log(`generating ${ROWS.toLocaleString('en')} transactions of ${SUBJECTS.toLocaleString('en')} users …`);
  let t0 = performance.now();
  const chunk = 1_000_000;
  for (let off = 0; off < ROWS; off += chunk) {
    await sql.unsafe(
      `insert into bi.transactions (transaction_id, user_id, card_fingerprint, amount, currency, merchant, merchant_category, country, city, channel, status,
                                    installments, fee, exchange_rate, risk_score, is_recurring, device_type, app_version, created_at)
       select 't' || i, 'b1:' || left(md5('u' || (i % ${SUBJECTS})), 32), 'b1:' || left(md5('c' || (i % ${SUBJECTS / 2})), 32), (i % 50000) / 100.0, 'EUR',
              'merchant-' || (i % 300), 'mcc-' || (5000 + i % 40), 'DE', 'city-' || (i % 80), 'online', 'approved',
              i % 4, (i % 300) / 100.0, 1.0, i % 100, i % 9 = 0, 'ios', '4.2', now() - make_interval(secs => i % 31536000)
         from generate_series(${off}, ${Math.min(off + chunk, ROWS) - 1}) i`,
    );
  }
  await sql.unsafe('vacuum analyze bi.transactions');
  console.log(`  ${((performance.now() - t0) / 1000).toFixed(0)} s`);

  // The subjects to erase: real pseudonyms (HMAC under the bench key), 10 transactions each.
  const p = new Pseudonymizer(parseKeyRing(BENCH_KEYS), {});
  const subjects = Array.from({ length: RUNS + 1 }, (_, i) => `erase-me-${i}@example.com`);
  for (const [i, subject] of subjects.entries()) {
    await sql.unsafe(
      `insert into bi.transactions (transaction_id, user_id, card_fingerprint, amount, currency, created_at)
       select 'x${i}-' || g, $1, 'b1:none', 9.99, 'EUR', now() from generate_series(1, 10) g`,
      [p.pseudonym(subject)],
    );
  }

  const store = new PostgresDriver({ url: db.url, max: 2 });
  const eraser = new Eraser(store, erasureTargets(tableConfig, [parseKeyRing(BENCH_KEYS)]), new MetricsStore(store));
  await eraser.erase(subjects[RUNS], 'user_id', { dryRun: false }); // warm
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    t0 = performance.now();
    const r = await eraser.erase(subjects[i], 'user_id', { dryRun: false });
    times.push(performance.now() - t0);
    if (r.counts['bi.transactions'] !== 10) console.log(`  !! erased ${r.counts['bi.transactions']} rows, expected 10`);
  }
  await store.close();

  // Baseline: finding one subject's rows without an index.
  await sql.unsafe('set enable_indexscan = off; set enable_bitmapscan = off; set enable_indexonlyscan = off');
  t0 = performance.now();
  await sql.unsafe(`select count(*) from bi.transactions where user_id = 'b1:' || left(md5('u42'), 32)`);
  const scan = performance.now() - t0;

  console.log(`\nerasure of one subject among ${ROWS.toLocaleString('en')} rows on PostgreSQL, ${RUNS} runs`);
  console.log(`  Sluice erase (table, metrics store, error output, suppression, audit): median ${median(times).toFixed(1)} ms, max ${Math.max(...times).toFixed(1)} ms · target ≤ 1,000 ms`);
  console.log(`  baseline, the same lookup without the subject index: ${scan.toFixed(0)} ms (${(scan / median(times)).toFixed(0)}× slower)`);
} finally {
  await sql.end();
  await db.drop();
  rmSync(dataDir, { recursive: true, force: true });
}
