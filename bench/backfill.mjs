// Backfill throughput: N unified metric records (gzip NDJSON, 20 tenants, the last 7 days) from
// a file through `runBackfill` (validate, then the metrics store) into PostgreSQL. Target:
// ≥ 50,000 events/s for 1,000,000 events. Baseline in the same run: reading the same file
// (gunzip, split, JSON.parse of every line), the least any backfill does; the ratio is what the
// pipeline and the store cost on top.
//   node bench/backfill.mjs [--n 1000000]
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createGunzip, gzipSync } from 'node:zlib';
import { runBackfill } from '../dist/backfill/backfill.js';
import { expandSources } from '../dist/backfill/sources.js';
import { LambdaRuntime } from '../dist/lambda/runtime.js';
import { createLogger } from '../dist/runtime/logger.js';
import { arg, freshDatabase } from './support.mjs';

const N = arg('n', 1_000_000);
const TARGET = 50_000;
const work = mkdtempSync(join(tmpdir(), 'sluice-backfill-bench-'));
const file = join(work, 'history.ndjson.gz');
const now = Date.now();
const lines = [];
for (let i = 0; i < N; i++) {
  lines.push(
    JSON.stringify({
      metric_name: i % 3 ? 'api_request' : 'checkout_completed',
      metadata: { tenant_id: `tenant-${i % 20}`, event_id: `bf-${i}`, event_time: new Date(now - 7 * 86_400_000 + Math.floor((i / N) * 7 * 86_400_000)).toISOString(), plan: i % 4 ? 'pro' : 'free', country: ['DE', 'FR', 'US'][i % 3] },
      data: { duration_ms: (i * 7) % 900, amount: i % 100, status: i % 50 ? 'ok' : 'error' },
    }),
  );
}
writeFileSync(file, gzipSync(lines.join('\n') + '\n', { level: 6 }));
lines.length = 0;

// Baseline: gunzip, split and parse every line.
let t = performance.now();
let parsed = 0;
let rest = '';
for await (const chunk of createReadStream(file).pipe(createGunzip())) {
  const parts = (rest + chunk).split('\n');
  rest = parts.pop();
  for (const p of parts) if (JSON.parse(p)) parsed++;
}
const baseline = parsed / ((performance.now() - t) / 1000);

const db = await freshDatabase('sluice_backfill');
const config = { streams: { metrics: { processors: [{ type: 'validate' }], destination: { type: 'metrics', rollup_dimensions: ['plan', 'country'] } } } };
const rt = await LambdaRuntime.open({ config, databaseUrl: db.url, log: createLogger('text', () => {}), buffer: { max_records: 5000, max_bytes: 64 << 20, interval_seconds: 0 } });
try {
  t = performance.now();
  const r = await runBackfill(rt, await expandSources([file], {}), { format: 'ndjson', stream: 'metrics' });
  const secs = (performance.now() - t) / 1000;
  const [{ n }] = await rt.db.query('select count(*)::int as n from sluice.metric_points');
  if (n !== N || r.events !== N) throw new Error(`expected ${N} points, found ${n} (${r.events} events read)`);
  const rate = N / secs;
  console.log(`backfill of ${N.toLocaleString('en-US')} events (gzip NDJSON → PostgreSQL metrics store)`);
  console.log(`  baseline (gunzip + JSON.parse)   ${Math.round(baseline).toLocaleString('en-US')} events/s`);
  console.log(`  backfill                         ${Math.round(rate).toLocaleString('en-US')} events/s   ${(rate / baseline).toFixed(3)} of baseline   target ≥ ${TARGET.toLocaleString('en-US')}  ${rate >= TARGET ? 'met' : 'NOT MET'}`);
} finally {
  await rt.close();
  await db.drop();
  rmSync(work, { recursive: true, force: true });
}
