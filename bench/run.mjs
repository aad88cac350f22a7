// Matching benchmark on the citylots workload (see bench/citylots/README.md).
//
//   npm run bench              # builds, then runs on 200,000 events
//   node bench/run.mjs --n 50000
//
// Runs the compiled engine (dist/), as production does. Every figure is printed beside its
// target and as a ratio to JSON.parse measured in this same run, so runs on noisy or different
// machines compare. Match counts are checked against what AWS's engine answers; a difference is
// reported loudly and makes the run exit 1.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compilePattern } from '../dist/core/pattern/compile-pattern.js';
import { matchesReference } from '../dist/core/pattern/match-reference.js';
import { RuleMachine } from '../dist/core/pattern/rule-machine.js';
import { parseJsonText } from '../dist/core/json/json-text.js';

const here = import.meta.dirname;
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const N = Number(arg('n', '200000'));
const WARMUP = 3;
const PASSES = 5;
// event-ruler (Java 17) on this machine kind, and JSON.parse alone, from the README.
const RULER = { 'rules-35': 129_000, 'rules-exact-1': 393_000, 'rules-exact-10000': 355_000 };
const README_JSON_PARSE = 199_000;
const PARSED_TARGET = 1_000_000;

const dataFile = join(tmpdir(), `sluice-citylots-${N}.ndjson`);
if (!existsSync(dataFile)) {
  console.log(`generating ${N} citylots events into ${dataFile} …`);
  execFileSync(process.execPath, [join(here, 'citylots/gen-citylots.mjs'), '--n', String(N), '--out', dataFile], { stdio: 'inherit' });
}
const lines = readFileSync(dataFile, 'utf8').split('\n').filter(Boolean).map((l) => Buffer.from(l).toString());
console.log(`${lines.length} events, ${Math.round(lines.reduce((a, l) => a + l.length, 0) / lines.length)} bytes each on average\n`);

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Events per second of `fn(item)` over `items`: warm-up passes, then the median of measured passes. */
function rate(items, fn) {
  let sink = 0;
  for (let p = 0; p < WARMUP; p++) for (const x of items) sink += fn(x);
  const rates = [];
  for (let p = 0; p < PASSES; p++) {
    const t = process.hrtime.bigint();
    for (const x of items) sink += fn(x);
    rates.push(items.length / (Number(process.hrtime.bigint() - t) / 1e9));
  }
  if (sink === -1) console.log('');
  return median(rates);
}

const fmt = (n) => Math.round(n).toLocaleString('en-US');
const jsonParse = rate(lines, (l) => (JSON.parse(l) ? 1 : 0));
console.log(`baseline  JSON.parse alone: ${fmt(jsonParse)} events/s (README measured ${fmt(README_JSON_PARSE)})\n`);

const expected = JSON.parse(readFileSync(join(here, 'citylots/expected.json'), 'utf8'));
let failures = 0;

function load(file) {
  return JSON.parse(readFileSync(join(here, 'citylots', file), 'utf8'));
}

/** Rules of our own: a mix of every operator over the citylots fields. */
function ownRules(count) {
  const rules = [];
  const streets = ['MASON', 'JEFFERSON', 'BEACH', 'HYDE', 'CHESTNUT', 'BUCHANAN', 'BRYANT', 'MISSION', 'MARKET', 'FOLSOM'];
  for (let i = 0; rules.length < count; i++) {
    const s = streets[i % streets.length];
    const kinds = [
      { properties: { STREET: [s + (i >= streets.length ? String(i) : '')] } },
      { properties: { BLKLOT: [{ prefix: String(1000 + i).slice(0, 3) }] } },
      { properties: { STREET: [{ suffix: s.slice(-2 - (i % 3)) }], ST_TYPE: ['ST'] } },
      { properties: { STREET: [{ 'equals-ignore-case': s.toLowerCase() }] } },
      { properties: { LOT_AREA: [{ numeric: ['>=', i * 10, '<', i * 10 + 500] }] } },
      { properties: { MAPBLKLOT: [{ wildcard: `${i % 10}*${(i * 7) % 10}` }] } },
      { properties: { ODD_EVEN: [{ 'anything-but': ['E'] }], FROM_ST: [String(i)] } },
    ];
    rules.push({ id: `own-${rules.length}`, pattern: kinds[i % kinds.length] });
  }
  return rules;
}

const parsed = lines.slice(0, Math.min(lines.length, 50_000)).map((l) => JSON.parse(l));
const rows = [];
for (const [name, rules] of [
  ['rules-35', load('rules-35.json')],
  ['rules-exact-1', load('rules-exact-1.json')],
  ['rules-exact-10000', load('rules-exact-10000.json')],
  ['own-100', ownRules(100)],
  ['own-1000', ownRules(1000)],
]) {
  const machine = new RuleMachine();
  for (const r of rules) machine.add(r.id, r.pattern);
  // Correctness first: counts against AWS's answers, or against the reference evaluator.
  const perRule = {};
  let eventsMatched = 0;
  let matches = 0;
  for (const l of lines) {
    const m = machine.matchJsonText(l);
    if (m.length) eventsMatched++;
    matches += m.length;
    for (const id of m) perRule[id] = (perRule[id] ?? 0) + 1;
  }
  const want = expected[name];
  if (want && N === 200_000) {
    const diffs = [];
    if (want.eventsMatched !== eventsMatched) diffs.push(`events matched ${eventsMatched}, expected ${want.eventsMatched}`);
    if (want.matches !== matches) diffs.push(`matches ${matches}, expected ${want.matches}`);
    for (const [id, n] of Object.entries(want.perRule ?? {})) if ((perRule[id] ?? 0) !== n) diffs.push(`${id}: ${perRule[id] ?? 0}, expected ${n}`);
    if (diffs.length) {
      failures++;
      console.log(`!!! ${name}: MATCH COUNTS DIFFER FROM AWS's ENGINE:\n!!!   ${diffs.join('\n!!!   ')}`);
    } else console.log(`${name}: match counts equal AWS's engine (${eventsMatched} events, ${matches} matches)`);
  } else {
    const compiled = rules.map((r) => compilePattern(r.pattern));
    let diff = 0;
    for (const l of lines.slice(0, 2000)) {
      const e = parseJsonText(l);
      const ref = rules.filter((r, i) => matchesReference(compiled[i], e)).map((r) => r.id);
      if (JSON.stringify(ref) !== JSON.stringify(machine.matchJsonText(l))) diff++;
    }
    if (diff) {
      failures++;
      console.log(`!!! ${name}: ${diff} of 2000 events differ from the reference evaluator`);
    } else console.log(`${name}: ${eventsMatched} events, ${matches} matches; first 2000 events agree with the reference evaluator`);
  }
  const text = rate(lines, (l) => machine.matchJsonText(l).length);
  const obj = rate(parsed, (e) => machine.matchEvent(e).length);
  rows.push({ name, rules: rules.length, text, obj });
}

console.log('\nsingle core, from JSON text to the list of matched rules:');
console.log('rule file            rules   events/s  ×JSON.parse   target (event-ruler)  target ×JSON.parse');
for (const r of rows) {
  const t = RULER[r.name];
  const ratio = r.text / jsonParse;
  const line = `${r.name.padEnd(20)} ${String(r.rules).padStart(5)} ${fmt(r.text).padStart(10)}  ${ratio.toFixed(2).padStart(10)}`;
  if (t) {
    const tRatio = t / README_JSON_PARSE;
    const ok = ratio >= tRatio * 0.95;
    console.log(`${line}   ${fmt(t).padStart(19)}  ${tRatio.toFixed(2).padStart(17)}  ${ok ? 'met' : 'NOT MET'}`);
  } else console.log(line);
}
console.log('\nsingle core, from already parsed events:');
for (const r of rows) {
  const extra = r.name === 'rules-35' ? `   target ${fmt(PARSED_TARGET)}  ${r.obj >= PARSED_TARGET * 0.95 ? 'met' : 'NOT MET'}` : '';
  console.log(`${r.name.padEnd(20)} ${String(r.rules).padStart(5)} ${fmt(r.obj).padStart(10)} events/s${extra}`);
}
if (failures) {
  console.log(`\n!!! ${failures} rule file(s) gave wrong match counts`);
  process.exitCode = 1;
}
