// Raw personal data is never written anywhere durable but the transient intake log. A real
// `sluice start` process takes events carrying known raw ids, emails, IP addresses and birth
// dates, through metrics and a BI table, with failures sent to the error output; then every
// byte it wrote is searched: its logs, every table of the database (and pg_statistic), and on
// PGlite every file of the data dir, the intake log's included: drained, it is truncated, so
// only the WAL (recycled as the database checkpoints) may still hold the raw values.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { socketPath } from '../../src/store/open-database.ts';
import { PgliteDriver } from '../../src/store/pglite-driver.ts';
import { PostgresDriver } from '../../src/store/postgres-driver.ts';
import type { Queryable } from '../../src/store/database.ts';
import { createServerDatabase, storeEnv } from '../support/databases.ts';
import { freePort } from '../support/free-port.ts';
import { runSluice, SLUICE_BIN as BIN, waitFor } from '../support/sluice-process.ts';

const config = {
  rules: [
    {
      name: 'findings',
      pattern: { source: ['findings'] },
      targets: [
        {
          stream: 'metrics',
          input_transformer: {
            input_paths_map: { t: '$.detail.tenant_id', e: '$.detail.event_id', at: '$.detail.created_at', n: '$.detail.new_findings_count', u: '$.detail.uploaded_by', ip: '$.detail.ip' },
            input_template: '{"metric_name":"findings_upload_completed","metadata":{"tenant_id":<t>,"event_id":<e>,"event_time":<at>,"user_id":<u>,"ip":<ip>},"data":{"new_findings_count":<n>}}',
          },
        },
      ],
    },
    { name: 'shop', pattern: { source: ['shop'] }, targets: [{ stream: 'transactions', input_path: '$.detail' }] },
  ],
  streams: {
    metrics: {
      buffer: { max_records: 40, interval_seconds: 1 },
      processors: [{ type: 'validate' }, { type: 'pseudonymize', key: { env: 'SLUICE_PSEUDONYM_KEYS' }, fields: { 'metadata.user_id': 'hash', 'metadata.ip': 'truncate-ip' } }],
      destination: { type: 'metrics', rollup_dimensions: [] },
    },
    transactions: {
      buffer: { max_records: 40, interval_seconds: 1 },
      processors: [
        { type: 'validate', schema: { type: 'object', required: ['id'], properties: { id: { type: 'string' }, user_id: { type: 'string' }, email: { type: 'string' }, ip: { type: 'string' }, birth_date: { type: 'string' }, amount: {} } } },
        { type: 'pseudonymize', key: { env: 'SLUICE_PSEUDONYM_KEYS' }, fields: { user_id: 'hash', email: 'drop', ip: 'truncate-ip', birth_date: 'coarsen-date' } },
      ],
      destination: {
        type: 'table',
        table: 'transactions',
        columns: { id: 'text', user_id: { type: 'text', subject: 'user_id' }, ip: 'text', birth_month: { type: 'date', from: '$.birth_date' }, amount: 'numeric(12,2)' },
        primary_key: ['id'],
      },
    },
  },
};

/** Everything raw the events carry, each value unique to this run. */
function subjects(): Array<{ id: string; email: string; ip: string; birth: string }> {
  const run = randomBytes(4).toString('hex');
  return Array.from({ length: 12 }, (_, i) => ({
    id: `rawsubject-${run}-${i}`,
    email: `person.${run}.${i}@mail.example`,
    ip: `198.51.${100 + i}.${77 + i}`,
    birth: `19${70 + i}-0${1 + (i % 9)}-2${i % 8}`,
  }));
}

/** Every row of every table but the intake log, and the planner's statistics, as text. */
async function everyRow(db: Queryable): Promise<Map<string, string>> {
  const tables = await db.query<{ t: string }>(
    `select format('%I.%I', n.nspname, c.relname) as t from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p', 'm') and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname not like 'pg_toast%'
        and format('%I.%I', n.nspname, c.relname) <> 'sluice.intake_log'`,
  );
  const out = new Map<string, string>();
  for (const { t } of tables) out.set(t, (await db.query<{ r: string }>(`select x::text as r from ${t} x`)).map((r) => r.r).join('\n'));
  out.set('pg_statistic', (await db.query<{ r: string }>('select s::text as r from pg_statistic s')).map((r) => r.r).join('\n'));
  return out;
}

/** Files under dir, except the WAL. */
function files(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const rel = relative(dir, p);
      if (rel.endsWith('pg_wal')) continue;
      if (statSync(p).isDirectory()) walk(p);
      else out.push(p);
    }
  };
  walk(dir);
  return out;
}

for (const store of ['PGlite', 'PostgreSQL'] as const) {
  describe(`raw personal data on ${store}`, () => {
    it('is in no log, table, error output or data-dir file once processed', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sluice-privacy-'));
      const server = store === 'PostgreSQL' ? await createServerDatabase() : null;
      try {
        const configFile = join(dir, 'sluice.config.json');
        writeFileSync(configFile, JSON.stringify(config));
        const dataDir = join(dir, 'data');
        const env = storeEnv(server, { SLUICE_PSEUDONYM_KEYS: 'k1:privacy-test-secret-0123456789' });
        const logs: string[] = [];

        const keys = await runSluice(['keys', 'create', '--tenant', 'acme', '--kind', 'ingest', '--json', '--data-dir', dataDir], env);
        assert.equal(keys.code, 0, keys.err);
        logs.push(keys.out, keys.err);
        const key = JSON.parse(keys.out).key as string;

        const port = await freePort();
        const url = `http://127.0.0.1:${port}`;
        const child = spawn(process.execPath, [BIN, 'start', '--config', configFile, '--data-dir', dataDir, '--port', String(port)], { env });
        let out = '';
        let err = '';
        child.stdout.on('data', (d) => (out += d));
        child.stderr.on('data', (d) => (err += d));
        const exited = new Promise<number | null>((r) => child.once('exit', r));
        await waitFor('healthz', async () => ((await fetch(`${url}/healthz`)).ok ? true : undefined));

        const people = subjects();
        const now = new Date().toISOString();
        const events = people.flatMap((p, i) => [
          { source: 'findings', 'detail-type': 'findings-uploaded', detail: { tenant_id: 'acme', event_id: `f-${i}`, created_at: now, new_findings_count: i, uploaded_by: p.id, ip: p.ip } },
          // fails validation: to the error output, pseudonymized
          { source: 'findings', 'detail-type': 'findings-uploaded', detail: { tenant_id: 'acme', event_id: `bad-${i}`, created_at: 'yesterday', new_findings_count: i, uploaded_by: p.id, ip: p.ip } },
          { source: 'shop', 'detail-type': 'order-placed', detail: { id: `t-${i}`, user_id: p.id, email: p.email, ip: p.ip, birth_date: p.birth, amount: 10 + i } },
          // does not fit its column: to the error output with the column named
          { source: 'shop', 'detail-type': 'order-placed', detail: { id: `tbad-${i}`, user_id: p.id, email: p.email, ip: p.ip, birth_date: p.birth, amount: `${10 + i} euros` } },
        ]);
        const post = (body: string) => fetch(`${url}/v1/events`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/x-ndjson' }, body });
        // One small request each: stored inline (not compressed) in the intake log's pages.
        for (const e of events) {
          const res = await post(JSON.stringify(e));
          assert.equal(res.status, 200, await res.text());
        }
        // a malformed line with a raw id: refused, and the answer does not echo it
        const bad = await post(`{"source":"shop","detail":{"user_id":"${people[0].id}"`);
        assert.ok(bad.status >= 400 && bad.status < 500);
        assert.doesNotMatch(await bad.text(), new RegExp(people[0].id));

        const connect = () => (server ? new PostgresDriver({ url: server.url, max: 1 }) : new PostgresDriver({ path: socketPath(dataDir), max: 1 }));
        await waitFor('delivery', async () => {
          const db = connect();
          try {
            const [r] = await db.query<{ log: number; points: number; rows: number; errors: number }>(
              `select (select count(*) from sluice.intake_log)::int as log, (select count(*) from sluice.metric_points)::int as points,
                      (select count(*) from bi.transactions)::int as rows, (select count(*) from sluice.stream_errors)::int + (select count(*) from sluice.dead_letters)::int as errors`,
            );
            return r.log === 0 && r.points === 12 && r.rows === 12 && r.errors === 24 ? true : undefined;
          } finally {
            await db.close();
          }
        });
        child.kill('SIGTERM');
        assert.equal(await exited, 0, err);
        logs.push(out, err);

        const db = server ? new PostgresDriver({ url: server.url, max: 1 }) : await PgliteDriver.open(join(dataDir, 'pgdata'));
        let rows: Map<string, string>;
        try {
          if (server) await db.query('analyze'); // as autovacuum would: statistics must not sample raw payloads
          rows = await everyRow(db);
          assert.equal((await db.query<{ n: number }>('select count(*)::int as n from sluice.intake_log'))[0].n, 0);
          // the pseudonymized forms did arrive
          assert.match(rows.get('bi.transactions')!, /k1:[0-9a-f]{32}/);
          assert.match(rows.get('bi.transactions')!, /198\.51\.100\.0/);
          assert.match(rows.get('sluice.dead_letters')!, /column_invalid/);
        } finally {
          await db.close();
        }

        const needles = people.flatMap((p) => [p.id, p.email, p.ip, p.birth]);
        const found: string[] = [];
        const search = (where: string, text: string | Buffer) => {
          for (const n of needles) if (text.indexOf(n) !== -1) found.push(`${n} in ${where}`);
        };
        logs.forEach((l, i) => search(`log ${i}`, l));
        for (const [t, text] of rows) search(`table ${t}`, text);
        // On PostgreSQL the data dir holds nothing unless Sluice wrote something there.
        const scanned = existsSync(dataDir) ? files(dataDir) : [];
        if (!server) assert.ok(scanned.length > 100, `scanned only ${scanned.length} files`);
        for (const f of scanned) search(`file ${relative(dataDir, f)}`, readFileSync(f));
        assert.deepEqual(found, []);
      } finally {
        await server?.drop();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
