// Kill -9 under load, restart: every acknowledged event is delivered, none counted twice.
// A real `sluice start` process on a PGlite data dir, and on the PostgreSQL server (where the
// restarted process claims the dead one's entries once its heartbeat is 30 s old), producers on
// loopback, bounded in time.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../support/free-port.ts';
import { after, describe, it } from 'node:test';
import type { Database } from '../../src/store/database.ts';
import { PgliteDriver } from '../../src/store/pglite-driver.ts';
import { PostgresDriver } from '../../src/store/postgres-driver.ts';
import { socketPath } from '../../src/store/open-database.ts';
import { createServerDatabase, storeEnv } from '../support/databases.ts';
import { findings, findingsConfig, STORES } from '../support/test-sluice.ts';
import { runSluice, SLUICE_BIN as BIN, waitFor } from '../support/sluice-process.ts';

for (const store of STORES) describe(`crash safety on ${store}`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-crash-'));
  const children: ChildProcess[] = [];
  let server: Awaited<ReturnType<typeof createServerDatabase>> | undefined;
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    await server?.drop();
  });

  it('kill -9 mid-load, restart: every acknowledged event is stored exactly once', { timeout: 180_000 }, async () => {
    if (store === 'PostgreSQL') server = await createServerDatabase();
    const env = storeEnv(server);
    const config = findingsConfig();
    config.streams!.metrics.buffer = { max_records: 2000, interval_seconds: 1 };
    const configFile = join(dir, 'sluice.config.json');
    writeFileSync(configFile, JSON.stringify(config));
    const dataDir = join(dir, 'data');
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const start = () => {
      const child = spawn(process.execPath, [BIN, 'start', '--config', configFile, '--data-dir', dataDir, '--port', String(port)], { stdio: ['ignore', 'ignore', 'pipe'], env });
      let err = '';
      child.stderr!.on('data', (d) => (err += d));
      children.push(child);
      return { child, err: () => err };
    };
    const healthy = () => waitFor('healthz', async () => ((await fetch(`${url}/healthz`)).ok ? true : undefined));

    // Keys are made before the server holds the data dir.
    const created = await runSluice(['keys', 'create', '--tenant', 'acme', '--kind', 'ingest', '--json', '--data-dir', dataDir], env);
    assert.equal(created.code, 0, created.err);
    const key = JSON.parse(created.out).key as string;

    const first = start();
    await healthy();
    const acked = new Set<string>();
    let sent = 0;
    let stop = false;
    const producer = async (p: number) => {
      for (let b = 0; !stop; b++) {
        const ids = Array.from({ length: 50 }, (_, i) => `p${p}-b${b}-${i}`);
        sent += ids.length;
        try {
          const res = await fetch(`${url}/v1/events`, {
            method: 'POST',
            headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
            body: JSON.stringify(ids.map((id) => findings('acme', id, new Date(), 1))),
          });
          if (res.status === 200) for (const id of ids) acked.add(id);
          else await res.arrayBuffer();
        } catch {
          return; // the server died mid-request: not acknowledged
        }
      }
    };
    const producers = [0, 1, 2, 3].map(producer);
    await waitFor('load', async () => (acked.size >= 3000 ? true : undefined), 30_000);
    const exited = new Promise((r) => first.child.once('exit', r));
    first.child.kill('SIGKILL');
    stop = true;
    await Promise.all(producers);
    await exited;
    assert.ok(acked.size >= 3000);

    const second = start();
    await healthy();
    // While the second process runs: the embedded database through its socket, or the server.
    const connect = () => new PostgresDriver(server ? { url: server.url, max: 1 } : { path: socketPath(dataDir), max: 1 });
    await waitFor('the intake log to drain', async () => {
      const db = connect();
      try {
        const rows = await db.query<{ n: number }>('select count(*)::int as n from sluice.intake_log');
        return rows[0].n === 0 ? true : undefined;
      } finally {
        await db.close();
      }
    });
    // The recovery is logged twice, when it starts and when nothing is left to claim, however
    // many rounds of 200 entries it took.
    await waitFor('the end of the recovery in the log', async () => (second.err().includes('recovery done') ? true : undefined));
    const messages = second
      .err()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => (JSON.parse(l) as { msg: string }).msg);
    assert.equal(messages.filter((m) => m.startsWith('recovering intake log entries')).length, 1, second.err());
    assert.match(messages.find((m) => m.startsWith('recovery done'))!, /^recovery done: claimed \d+ intake log entr(y|ies) in \d+\.\d s$/);
    const code = new Promise((r) => second.child.once('exit', r));
    second.child.kill('SIGTERM');
    assert.equal(await code, 0, second.err());

    const db: Database = server ? connect() : await PgliteDriver.open(join(dataDir, 'pgdata'));
    try {
      const ids = new Set((await db.query<{ record_id: string }>("select record_id from sluice.metric_points where tenant = 'acme'")).map((r) => r.record_id.slice(2)));
      const missing = [...acked].filter((id) => !ids.has(id));
      assert.deepEqual(missing, [], `${missing.length} acknowledged events were lost`);
      assert.ok(ids.size <= sent);
      // The rollups add up what was inserted: a double delivery would count twice there.
      const [roll] = await db.query<{ n: number }>("select coalesce(sum(count), 0)::int as n from sluice.metric_rollups where tenant = 'acme' and measure = ''");
      assert.equal(roll.n, ids.size);
    } finally {
      await db.close();
    }
  });
});
