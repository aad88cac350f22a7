// Backpressure and a stuck destination on the JetStream intake: an API node (`sluice start
// --intake jetstream`) and a worker, each its own process, in front of PostgreSQL.
// 1. Behind a webhook that takes about 1,000 records a second, the sustainable rate is measured
//    (closed loop); then producers offer ten times that for 10 s. The worker parks what its
//    stream cannot hold up to `max_parked_bytes`, then stops taking messages, and the API node
//    answers 503 with Retry-After (`jetstream.max_lag_messages`) instead of growing: both
//    processes' RSS stays flat, and every acknowledged event reaches the webhook, once.
// 2. With the webhook down, the metrics stream fed by the same events delivers everything; the
//    webhook's records wait parked in the intake log and reach it, once, when it is back.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SluiceConfig } from '../../src/config/config.ts';
import { PostgresDriver } from '../../src/store/postgres-driver.ts';
import { createServerDatabase } from '../support/databases.ts';
import { startFakeWebhook, type FakeVendor } from '../support/fake-vendors.ts';
import { freePort } from '../support/free-port.ts';
import { startNats } from '../support/nats.ts';
import { runSluice, SLUICE_BIN, waitFor } from '../support/sluice-process.ts';
import { findings, findingsConfig } from '../support/test-sluice.ts';

const SECRET = 'whsec_overload_test_secret';
const PER_REQUEST = 50;
const rssMb = (pid: number): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

describe('JetStream intake at ten times the sustainable rate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sluice-js-overload-'));
  const children: ChildProcess[] = [];
  let db: Awaited<ReturnType<typeof createServerDatabase>>;
  let hook: FakeVendor;
  let api: ChildProcess;
  let worker: ChildProcess;
  let url: string;
  let key: string;
  let workerPort: number;
  let pg: PostgresDriver;

  const spawnSluice = (args: string[], env: NodeJS.ProcessEnv): ChildProcess => {
    const c = spawn(process.execPath, [SLUICE_BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    c.stderr!.on('data', (d: Buffer) => process.env.SLUICE_TEST_DEBUG && process.stderr.write(d));
    children.push(c);
    return c;
  };

  before(async () => {
    const natsPort = await freePort();
    children.push(await startNats(natsPort, join(dir, 'nats')));
    db = await createServerDatabase();
    pg = new PostgresDriver({ url: db.url, max: 1 });
    hook = await startFakeWebhook(SECRET);
    hook.answerAfter(100);
    const metrics = findingsConfig();
    const config: SluiceConfig = {
      rules: [
        { name: 'orders', pattern: { source: ['shop'] }, targets: [{ stream: 'hook', input_path: '$.detail' }] },
        { ...metrics.rules![0], targets: [...metrics.rules![0].targets, { stream: 'hook', input_path: '$.detail' }] },
      ],
      streams: {
        metrics: metrics.streams!.metrics,
        hook: {
          buffer: { max_records: 100, interval_seconds: 0, max_pending_bytes: 64 * 1024, max_parked_bytes: 1024 * 1024 },
          destination: { type: 'webhook', url: hook.url, secret: { env: 'TEST_OVERLOAD_HOOK_SECRET' }, max_request_records: 100, retry_seconds: 900 },
        },
      },
      // About one second of the workers' work may wait in JetStream.
      jetstream: { max_lag_messages: 20, ack_wait_seconds: 30 },
      ingest: { rate_limit: { events_per_second: 1_000_000, burst: 1_000_000 }, max_pending_bytes: 1024 * 1024 },
    };
    const configFile = join(dir, 'sluice.config.json');
    writeFileSync(configFile, JSON.stringify(config));
    const env = { DATABASE_URL: db.url, TEST_OVERLOAD_HOOK_SECRET: SECRET };
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    const nats = `nats://127.0.0.1:${natsPort}`;
    api = spawnSluice(['start', '--intake', 'jetstream', '--nats', nats, '--config', configFile, '--data-dir', join(dir, 'data'), '--port', String(port)], env);
    await waitFor('the API node', async () => ((await fetch(`${url}/readyz`)).ok ? true : undefined));
    const created = await runSluice(['keys', 'create', '--tenant', 'acme', '--kind', 'ingest', '--json'], { ...process.env, ...env });
    assert.equal(created.code, 0, created.err);
    key = (JSON.parse(created.out) as { key: string }).key;
    workerPort = await freePort();
    worker = spawnSluice(['worker', '--nats', nats, '--config', configFile, '--port', String(workerPort)], env);
    await waitFor('the worker', async () => ((await fetch(`http://127.0.0.1:${workerPort}/readyz`)).ok ? true : undefined));
  });
  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await hook?.close();
    await pg?.close();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const acked = new Set<string>();
  const statuses = new Map<number, number>();
  let seq = 0;
  /** One request of PER_REQUEST events; their ids are kept when it is acknowledged. */
  const send = async (): Promise<number> => {
    const ids = Array.from({ length: PER_REQUEST }, () => `e${seq++}`);
    return post(ids, ids.map((id) => ({ source: 'shop', 'detail-type': 'order', detail: { id, note: 'n'.repeat(100) } })), acked);
  };
  const post = async (ids: string[], events: unknown[], into: Set<string>): Promise<number> => {
    const res = await fetch(`${url}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(events),
    });
    await res.arrayBuffer();
    statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
    if (res.status === 200) for (const id of ids) into.add(id);
    else assert.ok(res.status === 503 && res.headers.get('retry-after'), `only 200 or 503 with Retry-After, got ${res.status}`);
    return res.status;
  };
  /** The processes' RSS, sampled every 100 ms while `during` runs: the largest seen, in MB. */
  const sampled = async (during: () => Promise<void>): Promise<{ api: number; worker: number }> => {
    const max = { api: 0, worker: 0 };
    const timer = setInterval(() => {
      max.api = Math.max(max.api, rssMb(api.pid!));
      max.worker = Math.max(max.worker, rssMb(worker.pid!));
    }, 100);
    try {
      await during();
    } finally {
      clearInterval(timer);
    }
    return max;
  };

  it('pushes back with 503 instead of growing, and delivers every acknowledged event once', async (t) => {
    // Sustainable: two producers in a closed loop, backing off as told.
    let end = Date.now() + 8_000;
    const before = acked.size;
    const baseline = await sampled(async () => {
      await Promise.all(
        [0, 1].map(async () => {
          while (Date.now() < end) if ((await send()) !== 200) await new Promise((r) => setTimeout(r, 1000));
        }),
      );
    });
    const sustainable = (acked.size - before) / 8;
    assert.ok(sustainable > 0, 'something was acknowledged at the sustainable rate');

    // Ten times that, open loop (at most 256 requests in flight), for 10 s.
    const rate = (10 * sustainable) / PER_REQUEST;
    const offeredBefore = seq;
    const started = Date.now();
    end = started + 10_000;
    const inflight = new Set<Promise<unknown>>();
    const overload = await sampled(async () => {
      for (let n = 0; Date.now() < end; ) {
        const due = Math.floor(((Date.now() - started) / 1000) * rate);
        while (n < due && inflight.size < 256) {
          n++;
          const p: Promise<unknown> = send().finally(() => inflight.delete(p));
          inflight.add(p);
        }
        await new Promise((r) => setTimeout(r, 5));
      }
      await Promise.all(inflight);
    });
    const offered = (seq - offeredBefore) / ((Date.now() - started) / 1000);
    t.diagnostic(`sustainable ${Math.round(sustainable)} events/s, offered ${Math.round(offered)}; answers ${JSON.stringify(Object.fromEntries(statuses))}; RSS MB api ${baseline.api.toFixed(0)} -> ${overload.api.toFixed(0)}, worker ${baseline.worker.toFixed(0)} -> ${overload.worker.toFixed(0)}`);
    assert.ok(offered >= 8 * sustainable, `offered ${Math.round(offered)} events/s against ${Math.round(sustainable)} sustainable`);
    assert.ok((statuses.get(503) ?? 0) > 0, 'the API node pushed back');
    // Flat: no more than the baseline's high-water mark plus a margin for the extra sockets.
    assert.ok(overload.api <= baseline.api * 1.25 + 40, `API node RSS ${overload.api.toFixed(0)} MB under overload, ${baseline.api.toFixed(0)} MB at the sustainable rate`);
    assert.ok(overload.worker <= baseline.worker * 1.25 + 40, `worker RSS ${overload.worker.toFixed(0)} MB under overload, ${baseline.worker.toFixed(0)} MB at the sustainable rate`);

    await waitFor('every acknowledged event at the destination', async () => (hook.unique.size >= acked.size ? true : undefined), 120_000);
    const delivered = new Set([...hook.unique.values()].map((v) => (v as { id: string }).id));
    const worker = await (await fetch(`http://127.0.0.1:${workerPort}/metrics`)).text();
    assert.match(worker, /sluice_stream_parked_records_total\{stream="hook"\} [1-9]/, 'the worker parked records before pushing back');
    const missing = [...acked].filter((id) => !delivered.has(id));
    assert.deepEqual(missing.slice(0, 5), [], `${missing.length} acknowledged events were lost`);
    assert.equal(delivered.size, acked.size, 'only acknowledged events were delivered');
    assert.equal(hook.accepted, hook.unique.size, 'nothing was delivered twice');
    assert.deepEqual(hook.violations, []);
  });

  it('with the webhook down, the other stream delivers everything; the webhook gets its records, once, when it is back', async () => {
    await waitFor('the parked records of the overload delivered', async () => ((await pg.query('select 1 from sluice.intake_log limit 1')).length === 0 ? true : undefined), 60_000);
    hook.answerAfter(0);
    hook.outage(3_600_000);
    const before = hook.accepted;
    const sent = new Set<string>();
    const at = new Date().toISOString();
    for (let r = 0; r < 30; r++) {
      const ids = Array.from({ length: PER_REQUEST }, (_, i) => `stuck-${r}-${i}`);
      while ((await post(ids, ids.map((id) => findings('acme', id, at, 1)), sent)) !== 200) await new Promise((res) => setTimeout(res, 500));
    }
    const points = async () => (await pg.query<{ n: number }>("select count(*)::int as n from sluice.metric_points where record_id like 'e:stuck-%'"))[0].n;
    await waitFor('every event in the metrics store while the webhook is down', async () => ((await points()) === sent.size ? true : undefined), 60_000);
    assert.equal(hook.accepted, before, 'the webhook took nothing while down');
    const [parked] = await pg.query<{ n: number }>("select coalesce(sum(count), 0)::int as n from sluice.intake_log where stream = 'hook' and owner is null");
    assert.ok(parked.n > 0, 'the webhook stream\'s records wait parked in the intake log');
    const held = Number(/sluice_stream_held_bytes\{stream="hook"\} (\d+)/.exec(await (await fetch(`http://127.0.0.1:${workerPort}/metrics`)).text())?.[1]);
    assert.ok(held > 0 && held <= 64 * 1024 + 1024, `the stuck stream holds ${held} bytes in memory`);

    hook.outage(0);
    const got = () => new Set([...hook.unique.values()].map((v) => (v as { event_id?: string }).event_id).filter((id) => id?.startsWith('stuck-')));
    await waitFor('every record at the webhook', async () => (got().size === sent.size ? true : undefined), 120_000);
    assert.equal(hook.accepted - before, sent.size, 'nothing delivered twice');
    assert.equal(await points(), sent.size);
    assert.deepEqual(hook.violations, []);
  });
});
