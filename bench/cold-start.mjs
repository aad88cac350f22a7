// Cold start of the bundled DynamoDB handler, as Lambda pays it: a new node process loads the
// bundle (no node_modules) and handles its first event of 100 records against PostgreSQL (the
// store already migrated, as the deploy's migration leaves it). Target: ≤ 300 ms for load plus
// first invoke; bundle ≤ 1 MB. Baseline in the same run: a process that imports the driver
// Sluice uses (`pg`) and makes one query (the least any handler does).
//   node bench/cold-start.mjs [--runs 7]
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_BUNDLE_BYTES } from '../dist/build/bundle.js';
import { arg, freshDatabase, median } from './support.mjs';

const RUNS = arg('runs', 7);
const root = join(import.meta.dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'sluice-cold-'));
const db = await freshDatabase('sluice_cold');
const env = { PATH: process.env.PATH, DATABASE_URL: db.url, SLUICE_PSEUDONYM_KEYS: 'k1:cold-start-bench-key-0123456789' };

try {
  execFileSync(process.execPath, [join(root, 'bin/sluice.js'), 'build', 'aws', '--config', join(root, 'examples/sluice.config.ts'), '--out', join(work, 'build')], { stdio: 'ignore' });
  const dir = join(work, 'bundles');
  cpSync(join(work, 'build'), dir, { recursive: true });
  // The handler's directory: index.mjs and the chunks it loads when needed.
  const files = readdirSync(join(dir, 'dynamodb'), { recursive: true, withFileTypes: true }).filter((f) => f.isFile());
  const size = files.reduce((sum, f) => sum + statSync(join(f.parentPath, f.name)).size, 0);

  // Each run: 100 INSERTs of new transactions, as a DynamoDB stream batch.
  const eventFor = (run) => {
    const out = execFileSync(process.execPath, [join(root, 'bin/sluice.js'), 'events', 'dynamodb', '--table', 'transactions', '--event-name', 'INSERT', '--keys', 'transaction_id', '--items', '-'], {
      input: JSON.stringify(Array.from({ length: 100 }, (_, i) => ({ transaction_id: `cold-${run}-${i}`, user_id: `user-${i % 17}@example.com`, amount: 10 + i, currency: 'EUR', merchant: 'Bench', merchant_category: 'bench', country: 'DE', ip_address: '203.0.113.9', status: 'settled', created_at: '2026-11-20T10:00:00Z' }))),
    });
    const file = join(work, `event-${run}.json`);
    writeFileSync(file, out);
    return file;
  };
  writeFileSync(
    join(dir, 'cold.mjs'),
    `const t0 = performance.now();
     const { handler } = await import('./dynamodb/index.mjs');
     const t1 = performance.now();
     const event = JSON.parse((await import('node:fs')).readFileSync(process.argv[2], 'utf8'));
     const r = await handler(event, { getRemainingTimeInMillis: () => 30000 });
     const t2 = performance.now();
     if (r.batchItemFailures.length) throw new Error('failures');
     process.stdout.write(JSON.stringify({ load: t1 - t0, invoke: t2 - t1, total: t2 - t0 }));
     process.exit(0);`,
  );
  writeFileSync(
    join(work, 'baseline.mjs'),
    `const t0 = performance.now();
     const { default: pg } = await import(${JSON.stringify(join(root, 'node_modules/pg/lib/index.js'))});
     const client = new pg.Client({ connectionString: process.env.DATABASE_URL });
     await client.connect();
     await client.query('select 1');
     process.stdout.write(JSON.stringify({ total: performance.now() - t0 }));
     process.exit(0);`,
  );
  // Migrate first (the deploy does), then measure.
  const migrate = spawnSync(process.execPath, [join(dir, 'cold.mjs'), eventFor('warm')], { env, encoding: 'utf8' });
  if (migrate.status !== 0) throw new Error(migrate.stderr);
  const runs = [];
  const base = [];
  for (let i = 0; i < RUNS; i++) {
    const file = eventFor(i);
    const r = spawnSync(process.execPath, [join(dir, 'cold.mjs'), file], { env, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(r.stderr);
    runs.push(JSON.parse(r.stdout));
    const b = spawnSync(process.execPath, [join(work, 'baseline.mjs')], { env, encoding: 'utf8' });
    base.push(JSON.parse(b.stdout).total);
  }
  const m = (k) => median(runs.map((r) => r[k]));
  console.log(`cold start, bundled dynamodb handler (${size.toLocaleString('en')} bytes; budget ${MAX_BUNDLE_BYTES.toLocaleString('en')}), ${RUNS} runs, medians:`);
  console.log(`  load ${m('load').toFixed(0)} ms + first invoke of 100 records ${m('invoke').toFixed(0)} ms = ${m('total').toFixed(0)} ms (target ≤ 300 ms)`);
  console.log(`  baseline (import pg + one query): ${median(base).toFixed(0)} ms; ratio ${(m('total') / median(base)).toFixed(1)}×`);
} finally {
  await db.drop();
  rmSync(work, { recursive: true, force: true });
}
