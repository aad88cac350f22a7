// Subject index benchmark: what an index on a pseudonym column costs an insert as subjects gather
// rows, on the PostgreSQL server. Erasure needs one such index per subject column (BI tables)
// and per hashed dimension (metrics store); Sluice makes them btrees.
//
// Rows of pseudonym-shaped keys ('b1:' + 64 hex) go into a table in rounds of ROUND rows drawn
// from SUBJECTS distinct keys, in random order, with no index (the baseline, same run), a btree
// on the pseudonym's hash (Sluice's), a btree on the pseudonym, and a hash index. The cost of an index is (time with it − time without) per row, printed for
// the first and the last round: a hash index keeps all entries of a key in one bucket chain that
// every insert walks to its end, so its cost grows with the rows a subject already has.
//
//   npm run build && node bench/subject-index.mjs [--rounds 6] [--round 200000]
import { performance } from 'node:perf_hooks';
import postgres from 'postgres';
import { subjectKey } from '../dist/store/subject-key.js';
import { arg, freshDatabase } from './support.mjs';

const ROUNDS = arg('rounds', 6);
const ROUND = arg('round', 200_000);
const KINDS = {
  none: '',
  key: `create index on t_key (${subjectKey('k')})`,
  btree: 'create index on t_btree (k)',
  hash: 'create index on t_hash using hash (k)',
};

const db = await freshDatabase('sluice_bench_index');
const sql = postgres(db.url, { max: 1, onnotice: () => {} });
try {
  for (const subjects of [5_000, 50]) {
    await sql.unsafe('drop table if exists src');
    await sql.unsafe(
      `create table src as select 'b1:' || md5((g % ${subjects})::text) || md5((g % ${subjects} + 1)::text) as k from generate_series(1, ${ROUND}) g order by random()`,
    );
    for (const kind of Object.keys(KINDS)) {
      await sql.unsafe(`drop table if exists t_${kind}`);
      await sql.unsafe(`create table t_${kind} (k text)`);
      if (KINDS[kind]) await sql.unsafe(KINDS[kind]);
    }
    const ms = Object.fromEntries(Object.keys(KINDS).map((k) => [k, []]));
    // Rounds alternate between the kinds, so a checkpoint or a noisy neighbour hits all three.
    for (let r = 0; r < ROUNDS; r++) {
      for (const kind of Object.keys(KINDS)) {
        const t0 = performance.now();
        await sql.unsafe(`insert into t_${kind} select k from src`);
        ms[kind].push(performance.now() - t0);
      }
    }
    const perRow = (kind, r) => ((ms[kind][r] - ms.none[r]) * 1000) / ROUND;
    const last = ROUNDS - 1;
    console.log(`${subjects.toLocaleString('en')} subjects, ${ROUND.toLocaleString('en')} rows a round (${(ROUND / subjects).toLocaleString('en')} more rows per subject each round)`);
    console.log(`  no index (baseline): ${((ms.none[0] * 1000) / ROUND).toFixed(2)} µs a row in round 1, ${((ms.none[last] * 1000) / ROUND).toFixed(2)} in round ${ROUNDS}`);
    for (const kind of ['key', 'btree', 'hash']) {
      console.log(
        `  ${kind.padEnd(5)} adds ${perRow(kind, 0).toFixed(2)} µs a row in round 1 (${(ms[kind][0] / ms.none[0]).toFixed(2)}× baseline), ${perRow(kind, last).toFixed(2)} in round ${ROUNDS} (${(ms[kind][last] / ms.none[last]).toFixed(2)}×)`,
      );
    }
  }
} finally {
  await sql.end();
  await db.drop();
}
