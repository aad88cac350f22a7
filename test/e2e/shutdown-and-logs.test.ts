// A real `sluice start`: its log is pino JSON, one line per request with the request's id (and
// no key or event content); SIGTERM exits within --shutdown-timeout even while a destination is
// down, and what it could not deliver is delivered after the restart (on the embedded database,
// and on the PostgreSQL server, where the restart claims it after the cut-off process's lease);
// bad settings exit 2.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SluiceConfig } from '../../src/config/config.ts';
import { createServerDatabase, storeEnv } from '../support/databases.ts';
import { startFakeWebhook, type FakeVendor } from '../support/fake-vendors.ts';
import { STORES } from '../support/test-sluice.ts';
import { freePort } from '../support/free-port.ts';
import { runSluice, SLUICE_BIN as BIN, waitFor } from '../support/sluice-process.ts';

const SECRET = 'whsec_shutdown_test_secret';
const NOTE = 'private-note-7f3a';

for (const store of STORES) describe(`sluice start on ${store}: JSON logs with request ids, bounded shutdown`, () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-shutdown-'));
  const dataDir = join(dir, 'data');
  const configFile = join(dir, 'sluice.config.json');
  const children: ChildProcess[] = [];
  let env: NodeJS.ProcessEnv;
  let server: Awaited<ReturnType<typeof createServerDatabase>> | undefined;
  let hook: FakeVendor;
  let key: string;
  let port: number;

  before(async () => {
    if (store === 'PostgreSQL') server = await createServerDatabase();
    env = storeEnv(server, { TEST_SHUTDOWN_HOOK_SECRET: SECRET, SLUICE_LOG_LEVEL: 'debug' });
    hook = await startFakeWebhook(SECRET);
    const config: SluiceConfig = {
      rules: [{ name: 'orders', pattern: { source: ['shop'] }, targets: [{ stream: 'fast', input_path: '$.detail' }, { stream: 'hook', input_path: '$.detail' }] }],
      streams: {
        fast: { buffer: { max_records: 100, interval_seconds: 0 }, destination: { type: 'stdout' } },
        hook: { buffer: { max_records: 100, interval_seconds: 0 }, destination: { type: 'webhook', url: hook.url, secret: { env: 'TEST_SHUTDOWN_HOOK_SECRET' }, timeout_seconds: 2, retry_seconds: 900 } },
      },
    };
    writeFileSync(configFile, JSON.stringify(config));
    const created = await runSluice(['keys', 'create', '--tenant', 'acme', '--kind', 'ingest', '--json', '--data-dir', dataDir], env);
    assert.equal(created.code, 0, created.err);
    key = (JSON.parse(created.out) as { key: string }).key;
    port = await freePort();
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await hook.close();
    rmSync(dir, { recursive: true, force: true });
    await server?.drop();
  });

  const start = (...extra: string[]) => {
    const child = spawn(process.execPath, [BIN, 'start', '--config', configFile, '--data-dir', dataDir, '--port', String(port), ...extra], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    const out = { stdout: '', stderr: '' };
    child.stdout!.on('data', (d) => (out.stdout += d));
    child.stderr!.on('data', (d) => (out.stderr += d));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    return { child, out, exited };
  };
  const url = () => `http://127.0.0.1:${port}`;
  const healthy = () => waitFor('healthz', async () => ((await fetch(`${url()}/healthz`)).ok ? true : undefined));
  const events = Array.from({ length: 20 }, (_, i) => ({ source: 'shop', 'detail-type': 'order', detail: { order: `o-${i}`, note: NOTE } }));

  it('logs pino JSON with request ids, and SIGTERM exits within the timeout while a destination is down', async () => {
    hook.outage(3_600_000);
    const first = start('--shutdown-timeout', '3');
    await healthy();
    const ok = await fetch(`${url()}/v1/events`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-request-id': 'test-req-1' }, body: JSON.stringify(events) });
    assert.equal(ok.status, 200, await ok.text());
    assert.equal(ok.headers.get('x-request-id'), 'test-req-1');
    const refused = await fetch(`${url()}/v1/events`, { method: 'POST', headers: { authorization: 'Bearer sk_wrong_key_9d2e', 'content-type': 'application/json', 'x-request-id': 'bad id with spaces' }, body: '[]' });
    assert.equal(refused.status, 401);
    const generated = refused.headers.get('x-request-id') ?? '';
    assert.match(generated, /^[0-9a-f-]{36}$/, 'an unusable client id is replaced by a UUID');
    await refused.arrayBuffer();

    await waitFor('the other stream delivered', async () => (first.out.stdout.split('\n').filter(Boolean).length === 20 ? true : undefined));
    await waitFor('the webhook tried', async () => (hook.requests.length > 0 ? true : undefined));
    const signalled = Date.now();
    first.child.kill('SIGTERM');
    const code = await Promise.race([first.exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 30_000))]);
    assert.equal(code, 1, `exited ${code} after ${Date.now() - signalled} ms:\n${first.out.stderr}`);

    const lines = first.out.stderr.split('\n').filter(Boolean);
    const logged = lines.map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        assert.fail(`a log line is not JSON: ${l}`);
      }
    });
    for (const l of logged) {
      assert.ok(['debug', 'info', 'warn', 'error'].includes(l.level as string), JSON.stringify(l));
      assert.match(l.time as string, /^\d{4}-\d\d-\d\dT/);
      assert.equal(typeof l.msg, 'string');
    }
    const line = logged.find((l) => l.req_id === 'test-req-1');
    assert.deepEqual(line && { level: line.level, msg: line.msg, method: line.method, path: line.path, status: line.status }, { level: 'debug', msg: 'request', method: 'POST', path: '/v1/events', status: 200 });
    const bad = logged.find((l) => l.req_id === generated);
    assert.equal(bad?.status, 401);
    assert.equal(bad?.level, 'info');
    assert.ok(logged.some((l) => l.level === 'warn' && /stream hook: write failed/.test(l.msg as string)), 'the failing destination is named');
    assert.ok(logged.some((l) => l.level === 'error' && /shutdown did not finish within 3 s/.test(l.msg as string)));
    assert.ok(!first.out.stderr.includes(NOTE), 'no event content in the log');
    assert.ok(!first.out.stderr.includes(key) && !first.out.stderr.includes('sk_wrong_key_9d2e'), 'no key in the log');
  });

  it('after the restart, what the cut-off shutdown left is delivered, and SIGTERM exits 0', async () => {
    hook.outage(0);
    const second = start();
    await healthy();
    await waitFor('every record at the webhook', async () => (hook.unique.size === 20 ? true : undefined), 90_000);
    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0, second.out.stderr);
    const last = JSON.parse(second.out.stderr.trim().split('\n').at(-1)!) as { level: string; msg: string };
    assert.equal(last.level, 'info');
    assert.match(last.msg, /^stopped after \d+\.\d s: delivering what was accepted is done; exiting 0$/);
    assert.equal(hook.accepted, 20, 'nothing delivered twice');
    assert.deepEqual(hook.violations, []);
  });

  it('a bad log level or shutdown timeout exits 2 naming what is allowed', async () => {
    const level = await runSluice(['start', '--config', configFile, '--data-dir', dataDir], { ...env, SLUICE_LOG_LEVEL: 'loud' });
    assert.equal(level.code, 2);
    assert.match(level.err, /SLUICE_LOG_LEVEL must be one of debug, info, warn, error, got "loud"/);
    const timeout = await runSluice(['start', '--config', configFile, '--data-dir', dataDir, '--shutdown-timeout', '0'], env);
    assert.equal(timeout.code, 2);
    assert.match(timeout.err, /--shutdown-timeout must be an integer number of seconds from 1 to 3600, got "0"/);
  });
});
