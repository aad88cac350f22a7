// Scale-out on NATS JetStream (a private nats-server on loopback) in front of PostgreSQL: an API
// node appends, two `sluice worker` processes share the durable consumer; kill -9 of a worker
// mid-run loses nothing and counts nothing twice; with NATS stopped for 10 s the API answers 503
// with Retry-After (never a 2xx it could not store) and recovers by itself.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitUntil } from '../support/sluice-process.ts';
import { after, before, describe, it } from 'node:test';
import { connect } from '@nats-io/transport-node';
import { jetstream as jetstreamClient, jetstreamManager } from '@nats-io/jetstream';
import { createLogger } from '../../src/runtime/logger.ts';
import { startSluice, type RunningSluice } from '../../src/runtime/sluice-node.ts';
import { createServerDatabase, storeEnv } from '../support/databases.ts';
import { freePort } from '../support/free-port.ts';
import { startTcpProxy } from '../support/tcp-proxy.ts';
import { startNats } from '../support/nats.ts';
import { findings, findingsConfig, postJson } from '../support/test-sluice.ts';

const root = new URL('../..', import.meta.url).pathname;

describe('JetStream intake with workers', () => {
  let dir: string;
  let natsPort: number;
  let nats: ChildProcess;
  let db: Awaited<ReturnType<typeof createServerDatabase>>;
  let api: RunningSluice;
  const workers: ChildProcess[] = [];
  let key: string;
  const jetstream = () => ({ servers: `nats://127.0.0.1:${natsPort}`, ackWaitSeconds: 4 });

  const startWorker = (databaseUrl = db.url): ChildProcess => {
    const w = spawn(process.execPath, [join(root, 'bin/sluice.js'), 'worker', '--nats', `nats://127.0.0.1:${natsPort}`, '--ack-wait', '4', '--config', join(dir, 'sluice.config.json')], {
      env: storeEnv({ url: databaseUrl }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const show = (d: Buffer) => process.env.SLUICE_TEST_DEBUG && process.stderr.write(d);
    w.stderr!.on('data', show);
    w.stdout!.on('data', show);
    workers.push(w);
    return w;
  };
  /** A worker, once it says it is consuming. */
  const readyWorker = (databaseUrl?: string): Promise<ChildProcess> => {
    const w = startWorker(databaseUrl);
    return new Promise((ready, fail) => {
      let out = '';
      const watch = (d: Buffer) => {
        out += d;
        if (out.includes('sluice worker consuming')) ready(w);
      };
      w.stdout!.on('data', watch);
      w.stderr!.on('data', watch);
      w.once('exit', (code) => fail(new Error(`the worker exited ${code} before consuming`)));
    });
  };
  const points = async () => (await api.db.query<{ n: number }>('select count(*)::int as n from sluice.metric_points'))[0].n;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sluice-js-'));
    natsPort = await freePort();
    nats = await startNats(natsPort, join(dir, 'nats'));
    db = await createServerDatabase();
    const config = findingsConfig();
    writeFileSync(join(dir, 'sluice.config.json'), JSON.stringify(config));
    api = await startSluice({ mode: 'start', config, port: 0, dataDir: join(dir, 'data'), databaseUrl: db.url, log: createLogger('text', () => {}), jetstream: jetstream() });
    key = (await api.keys.create('acme', 'ingest')).key;
  });
  after(async () => {
    for (const w of workers) w.kill('SIGKILL');
    await api?.stop();
    nats?.kill('SIGKILL');
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('two workers deliver what the API node appended; kill -9 of one mid-run loses nothing and counts nothing twice; a poison message is set aside', async () => {
    // A message no API node wrote, first in line: it must not block what follows or come back forever.
    const nc = await connect({ servers: `nats://127.0.0.1:${natsPort}` });
    await jetstreamClient(nc).publish('sluice.intake.events', 'not an intake entry');
    startWorker();
    const victim = startWorker();
    const at = new Date().toISOString();
    let sent = 0;
    for (let r = 0; r < 30; r++) {
      const batch = Array.from({ length: 100 }, (_, i) => findings('acme', `js-${r}-${i}`, at, 1));
      const res = await postJson(`${api.url}/v1/events`, key, batch);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      sent += 100;
      if (r === 12) victim.kill('SIGKILL');
    }
    await waitUntil('every event in the metrics store', async () => (await points()) >= sent);
    await new Promise((r) => setTimeout(r, 5000)); // past the ack wait: a redelivery would show now
    assert.equal(await points(), sent);
    const [dup] = await api.db.query<{ n: number }>("select count(*)::int as n from (select record_id from sluice.metric_points group by 1 having count(*) > 1) d");
    assert.equal(dup.n, 0);
    // Everything, the poison message included, has left the work queue: nothing waits for redelivery.
    const jsm = await jetstreamManager(nc);
    let queue: number[] = [];
    await waitUntil(
      'the work queue to empty',
      async () => {
        const info = await jsm.consumers.info('SLUICE_INTAKE', 'sluice-workers');
        queue = [info.num_pending, info.num_ack_pending, info.num_redelivered];
        if (process.env.SLUICE_TEST_DEBUG) process.stderr.write(`queue ${JSON.stringify(queue)}\n`);
        return info.num_pending === 0 && info.num_ack_pending === 0;
      },
      20_000,
    ).catch(() => assert.fail(`messages still waiting in the work queue (pending, ack pending, redelivered): ${queue.join(', ')}`));
    await nc.close();
  });

  it('with NATS stopped for 10 s the API answers 503 with Retry-After, then recovers by itself', async () => {
    await readyWorker();
    nats.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 500));
    const at = new Date().toISOString();
    const down = await postJson(`${api.url}/v1/events`, key, [findings('acme', 'down-1', at, 1)]);
    assert.equal(down.status, 503);
    assert.equal(down.headers.get('retry-after'), '1');
    assert.equal(down.body.error.code, 'log_unavailable');
    const ready = await fetch(`${api.url}/readyz`);
    assert.equal(ready.status, 503);
    assert.deepEqual(await ready.json(), { ok: false, store: true, log: false });
    await new Promise((r) => setTimeout(r, 9_500));
    nats = await startNats(natsPort, join(dir, 'nats'));
    const before = await points();
    await waitUntil('the API accepting again', async () => (await postJson(`${api.url}/v1/events`, key, [findings('acme', 'after-1', at, 1)])).status === 200, 30_000);
    await waitUntil('the event after the outage delivered', async () => (await api.db.query("select 1 from sluice.metric_points where record_id = 'e:after-1'")).length === 1, 30_000);
    assert.ok((await points()) >= before + 1);
    assert.equal((await fetch(`${api.url}/readyz`)).status, 200);
    assert.equal((await api.db.query("select 1 from sluice.metric_points where record_id = 'e:down-1'")).length, 0, 'the refused event was not stored');
  });
  it('with PostgreSQL away for 30 s under load, the worker retries and catches up: nothing lost, nothing twice', async () => {
    for (const w of workers) w.kill('SIGKILL');
    let proxied: ChildProcess | undefined;
    const proxy = await startTcpProxy(Number(new URL(db.url).port || 5432));
    try {
      const viaProxy = new URL(db.url);
      viaProxy.port = String(proxy.port);
      proxied = await readyWorker(viaProxy.toString());
      const before = await points();
      const at = new Date().toISOString();
      let sent = 0;
      const send = async (tag: string) => {
        const res = await postJson(`${api.url}/v1/events`, key, Array.from({ length: 100 }, (_, i) => findings('acme', `pg-${tag}-${i}`, at, 1)));
        assert.equal(res.status, 200, 'the API node keeps accepting: JetStream holds the events');
        sent += 100;
      };
      for (let r = 0; r < 5; r++) await send(`a${r}`);
      await proxy.cut();
      const outage = Date.now() + 30_000;
      for (let r = 0; Date.now() < outage; r++) {
        await send(`b${r}`);
        await new Promise((res) => setTimeout(res, 1000));
      }
      await proxy.restore();
      for (let r = 0; r < 5; r++) await send(`c${r}`);
      await waitUntil('the worker catching up after the outage', async () => (await points()) >= before + sent, 120_000);
      await new Promise((r) => setTimeout(r, 5000));
      assert.equal(await points(), before + sent);
    } finally {
      proxied?.kill('SIGKILL');
      await proxy.close();
    }
  });

});
