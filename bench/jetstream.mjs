// Scale-out benchmark: the JetStream intake (the machine's nats-server on 127.0.0.1:4222, a
// stream of this run's own) with an API node (this process) and 1, 2 and 4 `sluice worker`
// processes writing to one PostgreSQL; beside it, the same run's single-node figure. 100-event
// NDJSON requests from 8 clients. Reported: events/s delivered, p99 acknowledgement latency,
// and the CPU each part spent per event (µs), from which a larger machine can be sized.
//   npm run build && node bench/jetstream.mjs [--seconds 8] [--clients 8]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startSluice } from '../dist/runtime/sluice-node.js';
import { createLogger } from '../dist/runtime/logger.js';
import config, { BENCH_KEYS } from './findings.mjs';
import { arg, freshDatabase, load } from './support.mjs';

const SECONDS = arg('seconds', 8);
const CLIENTS = arg('clients', 8);
const NATS = process.env.SLUICE_NATS ?? 'nats://127.0.0.1:4222';
process.env.SLUICE_BENCH_KEYS = BENCH_KEYS;
const root = join(import.meta.dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'sluice-js-bench-'));
writeFileSync(join(work, 'config.mjs'), `export { default } from ${JSON.stringify(join(root, 'bench/findings.mjs'))};\n`);

/** CPU seconds (user + system) of a process so far, from /proc. */
function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

async function run(workers) {
  const db = await freshDatabase('sluice_js');
  const dataDir = mkdtempSync(join(tmpdir(), 'sluice-js-'));
  const stream = `SLUICE_BENCH_${Date.now()}`;
  const jetstream = workers > 0 ? { servers: NATS, stream } : undefined;
  const s = await startSluice({ mode: 'start', config, port: 0, dataDir, databaseUrl: db.url, log: createLogger('text', () => {}), jetstream });
  const procs = [];
  for (let i = 0; i < workers; i++) {
    const p = spawn(process.execPath, [join(root, 'bin/sluice.js'), 'worker', '--nats', NATS, '--nats-stream', stream, '--config', join(work, 'config.mjs')], {
      env: { ...process.env, DATABASE_URL: db.url },
      stdio: 'ignore',
    });
    procs.push(p);
  }
  await new Promise((r) => setTimeout(r, workers > 0 ? 3000 : 0)); // workers load and connect
  const key = (await s.keys.create('acme', 'ingest')).key;
  const cpu0 = { api: process.cpuUsage(), workers: procs.map((p) => cpuSeconds(p.pid)) };
  const t0 = performance.now();
  const { acked, p99 } = await load({ url: `${s.url}/v1/events`, key, seconds: SECONDS, clients: CLIENTS, prefix: `w${workers}` });
  const count = async () => (await s.db.query('select count(*)::int as n from sluice.metric_points'))[0].n;
  if (workers === 0) await s.pipeline.whenIdle();
  else while ((await count()) < acked && performance.now() - t0 < (SECONDS + 120) * 1000) await new Promise((r) => setTimeout(r, 100));
  const secs = (performance.now() - t0) / 1000;
  const api = process.cpuUsage(cpu0.api);
  const workerCpu = procs.reduce((a, p, i) => a + cpuSeconds(p.pid) - cpu0.workers[i], 0);
  const n = await count();
  for (const p of procs) p.kill('SIGTERM');
  await s.stop();
  await db.drop();
  rmSync(dataDir, { recursive: true, force: true });
  if (n !== acked) console.log(`  !! ${acked} acknowledged but ${n} stored`);
  return { rate: acked / secs, p99, apiUs: ((api.user + api.system) / acked), workerUs: (workerCpu * 1e6) / acked };
}

console.log(`scale-out on JetStream, ${CLIENTS} clients × 100-event NDJSON requests for ${SECONDS} s, one PostgreSQL, 2 cores\n`);
const single = await run(0);
console.log(`single node (SQL intake log)   ${Math.round(single.rate).toLocaleString('en')} events/s · p99 ack ${single.p99} ms · ${single.apiUs.toFixed(1)} µs CPU/event in the process (load generator included)`);
for (const w of [1, 2, 4]) {
  const r = await run(w);
  console.log(
    `JetStream, ${w} worker${w > 1 ? 's' : ' '}          ${Math.round(r.rate).toLocaleString('en')} events/s · ${(r.rate / single.rate).toFixed(2)}× single node · p99 ack ${r.p99} ms · API node ${r.apiUs.toFixed(1)} µs/event (load generator included) · workers ${r.workerUs.toFixed(1)} µs/event`,
  );
}
rmSync(work, { recursive: true, force: true });
