// `sluice dev` as a new user runs it (npm start): demo tenants, printed keys and a curl that
// answers with data; and `sluice keys` working beside the running process on its data dir.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '../support/free-port.ts';
import { after, before, describe, it } from 'node:test';
import postgres from 'postgres';

const root = join(import.meta.dirname, '../..');
const bin = join(root, 'bin/sluice.js');

describe('sluice dev with the example config, and sluice keys beside it', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sluice-dev-'));
  let child: ChildProcess;
  let output = '';
  let url = '';
  let pgPort = 0;

  const keys = (...args: string[]) => {
    const r = spawnSync(process.execPath, [bin, 'keys', ...args, '--data-dir', dataDir], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  before(async () => {
    const port = await freePort();
    pgPort = await freePort();
    url = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, [bin, 'dev', '--config', 'examples/sluice.config.ts', '--data-dir', dataDir, '--port', String(port), '--pg-port', String(pgPort)], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const end = Date.now() + 60_000;
    while (!output.includes('query a metric:')) {
      if (Date.now() > end || child.exitCode !== null) throw new Error(`sluice dev did not start:\n${output}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  });
  after(async () => {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('prints the URL, the demo keys of three tenants and a curl that answers with demo data', async () => {
    assert.match(output, new RegExp(`API: +${url}`));
    for (const t of ['acme', 'globex', 'initech']) assert.match(output, new RegExp(`${t} +ingest sl_ingest_`));
    const curl = /curl -s (\S+) -H 'authorization: Bearer (\S+)' \\\n\s+-d '(.+)'/.exec(output);
    assert.ok(curl, output);
    let count = 0;
    const end = Date.now() + 30_000;
    while (count === 0 && Date.now() < end) {
      const res: Response = await fetch(curl[1], { method: 'POST', headers: { authorization: `Bearer ${curl[2]}` }, body: curl[3] });
      assert.equal(res.status, 200);
      const body = (await res.json()) as { results: Array<{ tenant: string; series: Array<{ values: { count: number[] } }> }> };
      assert.equal(body.results[0].tenant, 'acme');
      count = body.results[0].series.reduce((a, s) => a + s.values.count.reduce((x, y) => x + y, 0), 0);
      if (count === 0) await new Promise((r) => setTimeout(r, 500));
    }
    // A day of history at one upload every five minutes, plus live ones.
    assert.ok(count >= 200, `expected the demo history, got ${count} points`);
  });

  it('keys create/list/revoke work while dev holds the data dir', async () => {
    const created = keys('create', '--tenant', 'umbrella', '--kind', 'ingest', '--json');
    assert.equal(created.status, 0, created.stderr);
    const k = JSON.parse(created.stdout);
    assert.deepEqual(Object.keys(k).sort(), ['accessKeyId', 'key', 'kind', 'secretAccessKey', 'tenant']);
    assert.equal(k.tenant, 'umbrella');
    // A kept-alive connection the server closed while the CLI ran can fail once: send again.
    const send = async (): Promise<Response> => {
      const post = () => fetch(`${url}/v1/events`, { method: 'POST', headers: { authorization: `Bearer ${k.key}` }, body: '{"source":"x","detail-type":"y","detail":{}}' });
      try {
        return await post();
      } catch {
        return post();
      }
    };
    assert.equal((await send()).status, 200);
    const read = JSON.parse(keys('create', '--tenant', 'umbrella', '--kind', 'read', '--json').stdout);
    assert.deepEqual(Object.keys(read).sort(), ['key', 'kind', 'tenant']);
    const listed = JSON.parse(keys('list', '--tenant', 'umbrella', '--json').stdout) as Array<{ kind: string; revoked_at: string | null }>;
    assert.deepEqual(listed.map((x) => x.kind).sort(), ['ingest', 'read']);
    // A key is sl_<kind>_<id>_<secret>; the secret is base64url, so it may hold "_" itself.
    const secrets = [k.key, read.key].map((key: string) => key.split('_').slice(3).join('_'));
    assert.ok(secrets.every((x) => x.length >= 40), 'whole secrets');
    const listing = keys('list').stdout;
    assert.ok(secrets.every((x) => !listing.includes(x)), 'secrets are never listed');
    assert.equal(keys('revoke', k.accessKeyId).status, 0);
    // Revocation reaches the running process within its key cache time (10 s).
    const end = Date.now() + 15_000;
    let status = 200;
    while (status === 200 && Date.now() < end) {
      status = (await send()).status;
      if (status === 200) await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(status, 401);
  });

  it('serves the BI tables on --pg-port: demo transactions joinable with users on the pseudonym', async () => {
    assert.match(output, new RegExp(`BI tools: +host 127.0.0.1 port ${pgPort}`));
    const sql = postgres({ host: '127.0.0.1', port: pgPort, database: 'postgres', username: 'postgres', max: 1, onnotice: () => {} });
    try {
      let rows: Array<{ n: number; users: number; joined: number; raw: number }> = [];
      const end = Date.now() + 30_000;
      while (Date.now() < end) {
        rows = await sql<Array<{ n: number; users: number; joined: number; raw: number }>>`
          select count(*)::int as n, count(distinct t.user_id)::int as users, count(u.user_id)::int as joined,
                 count(*) filter (where t.user_id like '%@%' or u.user_id like '%@%')::int as raw
            from bi.transactions t left join bi.users u using (user_id)`;
        if (rows[0].n >= 300 && rows[0].joined === rows[0].n) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      assert.ok(rows[0].n >= 300, JSON.stringify(rows));
      assert.equal(rows[0].joined, rows[0].n, 'every transaction joins its user on the pseudonym');
      assert.equal(rows[0].raw, 0, 'no raw e-mail address as a user id');
    } finally {
      await sql.end();
    }
  });

  it('sluice erase works beside the running dev, and sluice bi-role refuses the embedded database', () => {
    const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args, '--config', 'examples/sluice.config.ts', '--data-dir', dataDir], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    const dry = run('erase', '--subject', 'user-1000@example.com', '--dry-run', '--json');
    assert.equal(dry.status, 0, dry.stderr);
    const result = JSON.parse(dry.stdout);
    assert.equal(result.dry_run, true);
    assert.ok(result.counts['bi.transactions'] > 0 && result.counts['bi.users'] === 1, dry.stdout);
    assert.ok(!dry.stdout.includes('user-1000'), 'the raw subject is not echoed');
    const missing = run('erase');
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /--subject \(or --subjects-file\) is required/);
    // Several subjects: repeated --subject and a file (blank lines skipped), one JSON line each, in order.
    const list = join(dataDir, 'subjects.txt');
    writeFileSync(list, 'user-1001@example.com\n\nnobody@example.com\n');
    const many = run('erase', '--subject', 'user-1000@example.com', '--subjects-file', list, '--dry-run', '--json');
    assert.equal(many.status, 0, many.stderr);
    const results = many.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(results.length, 3);
    assert.deepEqual(results[0].pseudonyms, result.pseudonyms, 'in the order given');
    assert.ok(results[0].counts['bi.transactions'] > 0 && results[1].counts['bi.users'] === 1, many.stdout);
    assert.deepEqual(Object.values(results[2].counts), Object.values(results[2].counts).map(() => 0), 'an unknown subject erases nothing');
    const unreadable = run('erase', '--subjects-file', join(dataDir, 'no-such-file'));
    assert.equal(unreadable.status, 2);
    assert.match(unreadable.stderr, /--subjects-file \S+no-such-file: ENOENT/);
    // The embedded database runs every connection as its one user: a BI role there would restrict nothing.
    const role = run('bi-role', 'create', '--name', 'metabase', '--json');
    assert.equal(role.status, 2, role.stderr);
    assert.match(role.stderr, /enforces no roles/);
    assert.equal(role.stdout, '');
    const bad = run('bi-role', 'create', '--name', 'Robert; drop table');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--name: expected a role name/);
  });

  it('a second sluice dev on a port in use exits 1 at once, naming the port (HTTP, then --pg-port)', async () => {
    const other = mkdtempSync(join(tmpdir(), 'sluice-dev-other-'));
    try {
      const dev = (...args: string[]) => spawnSync(process.execPath, [bin, 'dev', '--config', 'examples/sluice.config.ts', '--data-dir', join(other, 'data'), ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
      const port = new URL(url).port;
      const http = dev('--port', port);
      assert.equal(http.status, 1, http.stderr);
      assert.match(http.stderr, new RegExp(`could not start: port ${port} on 127\\.0\\.0\\.1 is in use .*give --port`));
      assert.ok(!existsSync(join(other, 'data')), 'the port is taken before the data dir is made');
      // Before, a --pg-port in use left the process running with its recovery failing forever.
      const pg = dev('--port', String(await freePort()), '--pg-port', String(pgPort));
      assert.equal(pg.status, 1, pg.stderr);
      assert.match(pg.stderr, new RegExp(`could not start: --pg-port ${pgPort} on 127\\.0\\.0\\.1 is in use`));
      assert.doesNotMatch(pg.stderr, /recovery failed/);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('bad keys arguments exit 2 with what is allowed', () => {
    const r = keys('create', '--tenant', 'acme', '--kind', 'superuser');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--kind: expected one of ingest, read, admin/);
    const missing = keys('create', '--tenant', 'acme');
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /--kind is required: one of ingest, read, admin/);
    const t = keys('create', '--tenant', 'Not A Tenant', '--kind', 'read');
    assert.equal(t.status, 2);
    assert.match(t.stderr, /--tenant: expected a tenant name/);
    const first = keys('--tenant', 'acme', 'create');
    assert.equal(first.status, 2);
    assert.match(first.stderr, /the action comes before the options: one of create, list, revoke \(got --tenant first\)/);
    const unknown = keys('make', '--tenant', 'acme');
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /the action must be one of create, list, revoke, got "make"/);
  });
});
