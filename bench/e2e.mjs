// End-to-end ingest benchmark: 100-event NDJSON requests on loopback through route, input
// transform, validate, pseudonymize and an idempotent metrics write, acknowledged only when
// durable, on the PostgreSQL server and on PGlite. Then the BI pipeline on the PostgreSQL server:
// transactions of about 20 fields, two of them pseudonymized, into a 20-column table.
//
// The baselines, measured in the same run, are two bare loops (bench/e2e-runs.mjs): DESIGN.md's
// (parse, route, transform, validate, HMAC, COPY), the loop the targets were set against
// at ~105,000 events/s (60,000 is 0.57× of it, 40,000 rows/s 0.38×); and the lighter
// parse-and-COPY loop, reported beside it. Each runs before and after every Sluice run, and each
// run's ratio is to the mean of the two around it: this machine's speed drifts within a minute,
// by as much as a baseline moves between one run and the next.
//
//   npm run build && node bench/e2e.mjs [--seconds 8] [--clients 8] [--rounds 1]
//
// With --rounds N the sequence runs N times and ends with each run's median ratios.
//
// Load comes from a worker thread (its own event loop), so the server's main thread is Sluice's.
//
// How rates are counted: bench/e2e-runs.mjs. Where the rest of the time goes, and what even a
// free store would leave: bench/ceiling.mjs.
import { BARE_STEPS, bareLoop, sluiceRun } from './e2e-runs.mjs';
import { arg, median } from './support.mjs';

const SECONDS = arg('seconds', 8);
const CLIENTS = arg('clients', 8);
const WARMUP = arg('warmup', 2);
const ROUNDS = arg('rounds', 1);
const TARGETS = { PostgreSQL: 60_000, PGlite: 25_000 };

const opts = { seconds: SECONDS, warmup: WARMUP, clients: CLIENTS };
const sluice = (store, kind = 'findings') => sluiceRun(store, kind, opts);
/** Both baselines, DESIGN.md's loop first. */
async function baselines() {
  const rates = {};
  for (const steps of BARE_STEPS) rates[steps] = await bareLoop({ ...opts, steps });
  return rates;
}

const detail = (r) => `acknowledged ${Math.round(r.acked).toLocaleString('en')}/s, delivered ${Math.round(r.delivered).toLocaleString('en')}/s, drained in ${r.drain.toFixed(2)} s`;
const fmt = (n) => Math.round(n).toLocaleString('en');
const showBaselines = (b, note = '') =>
  console.log(`bare loops (PostgreSQL): DESIGN.md's ${fmt(b.design)} events/s · parse-and-COPY ${fmt(b.copy)} events/s${note}`);

console.log(`end to end, ${CLIENTS} clients × 100-event NDJSON requests, ${WARMUP} s warm-up, then ${SECONDS} s measured`);
console.log(`baselines: DESIGN.md's bare loop (parse, route, transform, validate, HMAC, COPY; ~105,000 events/s when the targets were set) and the parse-and-COPY loop\n`);
let before = await baselines();
showBaselines(before, ' (before the first run)');
/** Runs one Sluice measurement, then the baselines again; its ratios are to the mean of each baseline around it. */
async function bracketed(run) {
  const r = await run();
  const after = await baselines();
  const baseline = { design: (before.design + after.design) / 2, copy: (before.copy + after.copy) / 2 };
  before = after;
  return { ...r, baseline, ratio: r.rate / baseline.design, copyRatio: r.rate / baseline.copy, after };
}
const TARGET_RATIO = { PostgreSQL: 0.57, PGlite: 0.24, table: 0.38 };
const ratios = { PostgreSQL: [], PGlite: [], table: [] };
const copyRatios = { PostgreSQL: [], PGlite: [], table: [] };
const ratioText = (r, target) => `${r.ratio.toFixed(2)}× DESIGN.md's loop (target ${target}×, ${r.ratio >= target ? 'met' : 'not met'}) · ${r.copyRatio.toFixed(2)}× parse-and-COPY`;
for (let round = 1; round <= ROUNDS; round++) {
  if (ROUNDS > 1) console.log(`\nround ${round} of ${ROUNDS}`);
  for (const store of ['PostgreSQL', 'PGlite']) {
    const r = await bracketed(() => sluice(store));
    ratios[store].push(r.ratio);
    copyRatios[store].push(r.copyRatio);
    console.log(
      `Sluice on ${store.padEnd(10)}  ${fmt(r.rate)} events/s sustained (target ${TARGETS[store].toLocaleString('en')}) · ${ratioText(r, TARGET_RATIO[store])} · refused requests ${r.failed} · RSS ${Math.round(r.rss / 2 ** 20)} MiB\n    (${detail(r)})`,
    );
    showBaselines(r.after);
  }
  const t = await bracketed(() => sluice('PostgreSQL', 'transactions'));
  ratios.table.push(t.ratio);
  copyRatios.table.push(t.copyRatio);
  console.log(
    `Sluice table on PostgreSQL: ${fmt(t.rate)} rows/s sustained (20 columns, 2 pseudonymized; target 40,000) · ${ratioText(t, TARGET_RATIO.table)} · refused requests ${t.failed}\n    (${detail(t)})`,
  );
  showBaselines(t.after);
}
if (ROUNDS > 1) {
  const line = (name, key) =>
    `  ${name.padEnd(11)} median ${median(ratios[key]).toFixed(2)}× (${ratios[key].map((x) => x.toFixed(2)).join(', ')}) · target ${TARGET_RATIO[key]}× · parse-and-COPY: median ${median(copyRatios[key]).toFixed(2)}×`;
  console.log(`\nratios to DESIGN.md's bare loop over ${ROUNDS} rounds:\n${line('PostgreSQL', 'PostgreSQL')}\n${line('PGlite', 'PGlite')}\n${line('BI table', 'table')}`);
}
