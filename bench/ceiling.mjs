// What the end-to-end rates would be with less of the store, on the PostgreSQL server: the same
// load as e2e.mjs through Sluice as it is (`full`), with the destination table's indexes dropped
// after start (`no-indexes`: no primary key, so writes are no longer idempotent, and no subject
// indexes, so erasure would scan), and with no store at all (`discard`: the stream's records are
// serialized by a stdout destination and thrown away). Intake log, routing, transform,
// validation and pseudonymization stay in every variant.
//
// `discard` is the most any design of the metrics store or the table could reach: what it leaves
// below a target is the intake and the pipeline's own cost, not the store's.
//
//   npm run build && node bench/ceiling.mjs [--rounds 3] [--seconds 8] [--clients 8]
//
// Each round measures DESIGN.md's bare loop (bench/e2e-runs.mjs), then every kind and variant (in
// an order that turns each round, so that the machine's drift does not favour one), then the bare
// loop again;
// ratios are to the mean of the round's two baselines. The summary is the median over rounds.
import { VARIANTS, bareLoop, sluiceRun } from './e2e-runs.mjs';
import { arg, median } from './support.mjs';

const ROUNDS = arg('rounds', 3);
const opts = { seconds: arg('seconds', 8), warmup: arg('warmup', 2), clients: arg('clients', 8) };
const KINDS = [
  { kind: 'findings', label: 'metrics', unit: 'events/s', target: 60_000, ratio: 0.57 },
  { kind: 'transactions', label: 'BI table', unit: 'rows/s', target: 40_000, ratio: 0.38 },
];
const fmt = (n) => Math.round(n).toLocaleString('en');

console.log(`ceiling on the PostgreSQL server, ${opts.clients} clients × 100-event NDJSON requests, ${ROUNDS} rounds of ${opts.seconds} s runs\n`);
const results = new Map(); // `${kind} ${variant}` → { rates, ratios }
let before = await bareLoop(opts);
for (let round = 0; round < ROUNDS; round++) {
  const runs = [];
  for (const { kind } of KINDS) for (const variant of VARIANTS) runs.push({ kind, variant });
  // Turn the order each round.
  const order = runs.map((_, i) => runs[(i + round * VARIANTS.length + round) % runs.length]);
  const measured = [];
  for (const run of order) measured.push({ ...run, r: await sluiceRun('PostgreSQL', run.kind, { ...opts, variant: run.variant }) });
  const after = await bareLoop(opts);
  const baseline = (before + after) / 2;
  before = after;
  console.log(`round ${round + 1}: baseline ${fmt(baseline)} events/s`);
  for (const { kind, variant, r } of measured) {
    const key = `${kind} ${variant}`;
    if (!results.has(key)) results.set(key, { rates: [], ratios: [] });
    results.get(key).rates.push(r.rate);
    results.get(key).ratios.push(r.rate / baseline);
    console.log(`  ${kind.padEnd(12)} ${variant.padEnd(10)} ${fmt(r.rate).padStart(7)}/s  ${(r.rate / baseline).toFixed(2)}×  (refused ${r.failed}, drained in ${r.drain.toFixed(2)} s)`);
  }
}

console.log(`\nmedians over ${ROUNDS} rounds:`);
for (const { kind, label, unit, target, ratio } of KINDS) {
  const full = median(results.get(`${kind} full`).rates);
  console.log(`${label} (target ${fmt(target)} ${unit}, ${ratio}× the baseline):`);
  for (const variant of VARIANTS) {
    const { rates, ratios } = results.get(`${kind} ${variant}`);
    const rate = median(rates);
    console.log(`  ${variant.padEnd(10)} ${fmt(rate).padStart(7)} ${unit}  ${median(ratios).toFixed(2)}× baseline  ${(rate / full).toFixed(2)}× full`);
  }
}
