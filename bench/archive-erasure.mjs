// Archive erasure: one subject out of an archive of many objects, through removeLines as the
// Eraser calls it, with the archive's subject index on the PostgreSQL server and, as the
// baseline measured in the same run, without it (every object read). A folder archive of
// `--objects` objects of `--lines` lines each, users drawn from `--users`, written by the archive
// destination (which indexes them). Dry runs, so every repetition sees the same archive.
//
//   npm run build && node bench/archive-erasure.mjs [--objects 1000] [--lines 1000] [--users 100000] [--runs 5]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { archiveStore, createArchiveDestination, removeLines } from '../dist/destinations/archive/index.js';
import { batchInfo } from '../dist/pipeline/stream.js';
import { openDatabase } from '../dist/store/open-database.js';
import { arg, freshDatabase, median } from './support.mjs';

const OBJECTS = arg('objects', 1000);
const LINES = arg('lines', 1000);
const USERS = arg('users', 100_000);
const RUNS = arg('runs', 5);

const server = await freshDatabase();
const db = await openDatabase({ databaseUrl: server.url }, { exclusive: false });
const dir = mkdtempSync(join(tmpdir(), 'sluice-bench-archive-'));
const pseudonym = (u) => `k1:${u.toString(16).padStart(32, '0')}`;
try {
  console.log(`writing ${OBJECTS.toLocaleString('en')} objects of ${LINES.toLocaleString('en')} lines (${USERS.toLocaleString('en')} users) …`);
  // What indexing costs a write: the same batches also go, alternately, to an archive without it.
  const archive = createArchiveDestination({ type: 'archive', location: dir }, db);
  const plainDir = mkdtempSync(join(tmpdir(), 'sluice-bench-archive-plain-'));
  const plain = createArchiveDestination({ type: 'archive', location: plainDir });
  let seq = 0;
  let withIndex = 0;
  let without = 0;
  for (let o = 0; o < OBJECTS; o++) {
    const records = Array.from({ length: LINES }, () => {
      const u = (seq * 7919) % USERS;
      seq++;
      return { id: `r-${seq}`, source_tenant: 'acme', at: '2026-12-07T06:00:00.000Z', value: { metric_name: 'm', metadata: { tenant_id: 'acme', event_id: `e-${seq}`, user_id: pseudonym(u) }, data: { n: seq % 7 } } };
    });
    const batch = batchInfo('raw', records);
    let t = performance.now();
    await archive.write(records, batch);
    withIndex += performance.now() - t;
    t = performance.now();
    await plain.write(records, batch);
    without += performance.now() - t;
  }
  rmSync(plainDir, { recursive: true, force: true });
  console.log(`a batch's write: ${(without / OBJECTS).toFixed(1)} ms without the index, ${(withIndex / OBJECTS).toFixed(1)} ms with it (${(withIndex / without).toFixed(2)}×)`);

  const store = archiveStore({ location: dir });
  let reads = 0;
  const counted = { ...store, keys: () => store.keys(), get: (key) => (reads++, store.get(key)) };
  const subject = [[pseudonym(4242)]];
  const time = async (index) => {
    reads = 0;
    const t = performance.now();
    const [lines] = await removeLines(counted, subject, true, index);
    return { ms: performance.now() - t, reads, lines };
  };
  const full = [];
  const indexed = [];
  for (let r = 0; r < RUNS; r++) {
    full.push(await time(undefined));
    indexed.push(await time({ db, stream: 'raw' }));
  }
  if (full[0].lines !== indexed[0].lines) throw new Error(`the index found ${indexed[0].lines} lines, the full read ${full[0].lines}`);
  const f = median(full.map((x) => x.ms));
  const i = median(indexed.map((x) => x.ms));
  console.log(`one subject (${full[0].lines} lines in ${indexed[0].reads} objects):`);
  console.log(`  every object read (baseline): ${f.toFixed(0)} ms, ${full[0].reads.toLocaleString('en')} objects read`);
  console.log(`  with the subject index:       ${i.toFixed(0)} ms, ${indexed[0].reads.toLocaleString('en')} objects read · ${(f / i).toFixed(1)}× faster`);
} finally {
  await db.close();
  await server.drop();
  rmSync(dir, { recursive: true, force: true });
}
