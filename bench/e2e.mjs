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
// How rates are counted: bench/e2e-runs.mjs. Where the rest of the time goes, and what even a
// free store would leave: bench/ceiling.mjs.
import { bareLoop as bare, sluiceRun } from './e2e-runs.mjs';
import { arg, median } from './support.mjs';

const SECONDS = arg('seconds', 8);
const CLIENTS = arg('clients', 8);
const WARMUP = arg('warmup', 2);
const ROUNDS = arg('rounds', 1);
const TARGETS = { PostgreSQL: 60_000, PGlite: 25_000 };

const opts = { seconds: SECONDS, warmup: WARMUP, clients: CLIENTS };
const bareLoop = () => bare(opts);
const sluice = (store, kind = 'findings') => sluiceRun(store, kind, opts);

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
