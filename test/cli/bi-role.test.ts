// `sluice bi-role create` on the PostgreSQL server: the role reads the BI tables (also tables
// created after it) and nothing else: not the intake log, the keys, the metrics store or the
// error output. On the embedded database, which enforces no roles, it refuses.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import postgres from 'postgres';
import { createTableDestination } from '../../src/destinations/table/index.ts';
import { migrate } from '../../src/store/migrations.ts';
import { PostgresDriver } from '../../src/store/postgres-driver.ts';
import { createServerDatabase, SERVER_URL, storeEnv } from '../support/databases.ts';

const root = join(import.meta.dirname, '../..');
const role = `bi_test_${process.pid}_${Date.now() % 100000}`;

describe('sluice bi-role on PostgreSQL', () => {
  let server: { url: string; drop: () => Promise<void> };
  let db: PostgresDriver;
  before(async () => {
    server = await createServerDatabase();
    db = new PostgresDriver({ url: server.url });
    await migrate(db);
    await createTableDestination({ type: 'table', table: 'orders', columns: { id: 'text', total: 'numeric(10,2)' }, primary_key: ['id'] }, { db }).open!();
    await db.query("insert into bi.orders values ('o1', 9.5)");
  });
  after(async () => {
    await db.close();
    await server.drop();
    const admin = postgres(SERVER_URL, { max: 1, onnotice: () => {} });
    await admin.unsafe(`drop role if exists ${role}`);
    await admin.end();
  });

  it('creates a login role that reads schema bi and nothing else', async () => {
    const r = spawnSync(process.execPath, [join(root, 'bin/sluice.js'), 'bi-role', 'create', '--name', role, '--json'], { cwd: root, encoding: 'utf8', env: storeEnv(server), timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const created = JSON.parse(r.stdout);
    assert.equal(created.name, role);
    assert.ok(created.password.length >= 24);
    // A table created after the role is readable too (default privileges).
    await createTableDestination({ type: 'table', table: 'refunds', columns: { id: 'text' }, primary_key: ['id'] }, { db }).open!();

    const url = new URL(server.url);
    url.username = role;
    url.password = created.password;
    const bi = postgres(url.toString(), { max: 1, onnotice: () => {} });
    try {
      assert.deepEqual([...(await bi`select id, total::text as total from bi.orders`)], [{ id: 'o1', total: '9.50' }]);
      assert.deepEqual([...(await bi`select count(*)::int as n from bi.refunds`)], [{ n: 0 }]);
      for (const table of ['sluice.intake_log', 'sluice.api_keys', 'sluice.metric_points', 'sluice.stream_errors', 'sluice.settings', 'sluice.erasures']) {
        await assert.rejects(bi.unsafe(`select * from ${table} limit 1`), /permission denied/, table);
      }
      await assert.rejects(bi`insert into bi.orders values ('o2', 1)`, /permission denied/);
    } finally {
      await bi.end();
    }
    const again = spawnSync(process.execPath, [join(root, 'bin/sluice.js'), 'bi-role', 'create', '--name', role], { cwd: root, encoding: 'utf8', env: storeEnv(server), timeout: 60_000 });
    assert.equal(again.status, 1);
    assert.match(again.stderr, /already exists/);
  });
});

describe('sluice bi-role on the embedded database', () => {
  it('refuses with exit 2, since the embedded database enforces no roles, and opens nothing', () => {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'sluice-bi-role-')), 'data');
    const env = storeEnv(null);
    try {
      const r = spawnSync(process.execPath, [join(root, 'bin/sluice.js'), 'bi-role', 'create', '--name', 'metabase', '--data-dir', dataDir], { cwd: root, encoding: 'utf8', env, timeout: 60_000 });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /enforces no roles/);
      assert.match(r.stderr, /DATABASE_URL/);
      assert.equal(r.stdout, '', 'no password is printed');
      assert.equal(existsSync(dataDir), false, 'the embedded database was not opened');
    } finally {
      rmSync(dirname(dataDir), { recursive: true, force: true });
    }
  });
});
