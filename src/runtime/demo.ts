/**
 * The demo of `sluice dev`: three tenants with an ingest and a read key each (kept in the data
 * dir so they survive restarts), a day of history at first start, then a findings upload every
 * couple of seconds per tenant — all sent through the public `/v1/events` door like any producer.
 */
import { DYNAMODB_DETAIL_TYPE } from '../sources/dynamodb/stream-record.ts';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ANY_TENANT, type KeyStore } from '../auth/api-keys.ts';
import { parseChart, type Dashboards } from '../dashboards/dashboards.ts';

export const DEMO_TENANTS = ['acme', 'globex', 'initech'] as const;

export interface DemoKeys {
  [tenant: string]: { ingest: string; read: string };
}

export interface Demo {
  keys: DemoKeys;
  /** An admin key for the web UI (kept in the data dir as admin-key). */
  adminKey: string;
  stop(): void;
}

/** The dashboard every demo tenant starts with. */
export const DEMO_DASHBOARD = {
  name: 'Findings',
  charts: [
    { title: 'Uploads', metric: 'findings_upload_completed', aggregation: 'count', type: 'line', unit: 'uploads' },
    { title: 'New findings', metric: 'findings_upload_completed', aggregation: 'sum:new_findings_count', type: 'area', unit: 'findings' },
    { title: 'New findings by scanner', metric: 'findings_upload_completed', aggregation: 'sum:new_findings_count', group_by: ['scanner'], type: 'bar', unit: 'findings' },
    { title: 'Existing findings per upload', metric: 'findings_upload_completed', aggregation: 'avg:existing_findings_count', type: 'line', unit: 'findings' },
  ],
};

async function demoAdminKey(keys: KeyStore, dataDir: string): Promise<string> {
  const file = join(dataDir, 'admin-key');
  if (existsSync(file)) {
    const saved = readFileSync(file, 'utf8').trim();
    if ((await keys.verifyBearer(saved))?.kind === 'admin') return saved;
  }
  const { key } = await keys.create(ANY_TENANT, 'admin');
  writeFileSync(file, key + '\n', { mode: 0o600 });
  return key;
}

async function demoDashboards(dashboards: Dashboards): Promise<void> {
  for (const t of DEMO_TENANTS) {
    if ((await dashboards.list(t)).length > 0) continue;
    await dashboards.create(t, { name: DEMO_DASHBOARD.name, charts: DEMO_DASHBOARD.charts.map((c, i) => parseChart(c, `charts[${i}]`)) });
  }
}

/** A findings upload of a tenant at a time, as Jit's services emit it. */
export function findingsEvent(tenant: string, at: Date, scale: number): Record<string, unknown> {
  const fresh = Math.round(Math.random() * 6 * scale);
  return {
    source: 'findings',
    'detail-type': 'findings-uploaded',
    time: at.toISOString(),
    detail: {
      tenant_id: tenant,
      event_id: randomUUID(),
      new_findings_count: fresh,
      scanner: pick(SCANNERS),
      existing_findings_count: Math.round(20 * scale + Math.random() * 30),
      created_at: at.toISOString(),
    },
  };
}

const SCANNERS = ['semgrep', 'gitleaks', 'trivy', 'checkov'];
const USERS = Array.from({ length: 40 }, (_, i) => `user-${1000 + i}@example.com`);
const MERCHANTS = [
  ['Corner Books', 'books'],
  ['Night Owl Coffee', 'food'],
  ['Rail Europe', 'travel'],
  ['Pixel Games', 'entertainment'],
] as const;
const COUNTRIES = ['DE', 'FR', 'NL', 'ES', 'IE'];
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)];

/** A transaction as a DynamoDB stream INSERT record (the BI pipeline's source). */
export function transactionEvent(at: Date): Record<string, unknown> {
  const [merchant, category] = pick(MERCHANTS);
  return {
    source: 'aws.dynamodb',
    'detail-type': DYNAMODB_DETAIL_TYPE,
    time: at.toISOString(),
    resources: ['arn:aws:dynamodb:eu-west-1:000000000000:table/transactions'],
    detail: {
      eventName: 'INSERT',
      NewImage: {
        transaction_id: randomUUID(),
        user_id: pick(USERS),
        amount: Math.round(Math.random() * 20000) / 100,
        currency: 'EUR',
        merchant,
        merchant_category: category,
        country: pick(COUNTRIES),
        ip_address: `203.0.113.${Math.floor(Math.random() * 250)}`,
        status: Math.random() < 0.95 ? 'settled' : 'declined',
        created_at: at.toISOString(),
      },
    },
  };
}

/** A user profile from the CRM (joined with transactions on the pseudonymized user id). */
function userEvent(user: string, i: number): Record<string, unknown> {
  return {
    source: 'crm',
    'detail-type': 'user-updated',
    detail: { user_id: user, email: `${user}@example.com`, country: COUNTRIES[i % COUNTRIES.length], plan: i % 4 === 0 ? 'pro' : 'free', birth_date: `${1960 + (i % 40)}-0${1 + (i % 9)}-15`, lifetime_value: Math.round(((i * 7919) % 6000) * 100) / 100 + 0.5, signed_up_at: new Date(Date.UTC(2025, i % 12, 1 + (i % 28))).toISOString() },
  };
}

async function demoKeys(keys: KeyStore, dataDir: string): Promise<{ keys: DemoKeys; created: boolean }> {
  const file = join(dataDir, 'demo-keys.json');
  if (existsSync(file)) {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as DemoKeys;
    const valid = await Promise.all(Object.values(saved).map(async (k) => (await keys.verifyBearer(k.ingest)) && (await keys.verifyBearer(k.read))));
    if (valid.every(Boolean)) return { keys: saved, created: false };
  }
  const made: DemoKeys = {};
  for (const t of DEMO_TENANTS) made[t] = { ingest: (await keys.create(t, 'ingest')).key, read: (await keys.create(t, 'read')).key };
  writeFileSync(file, JSON.stringify(made, null, 2) + '\n', { mode: 0o600 });
  return { keys: made, created: true };
}

async function send(url: string, key: string, events: unknown[]): Promise<void> {
  const res = await fetch(`${url}/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/x-ndjson' },
    body: events.map((e) => JSON.stringify(e)).join('\n'),
  });
  await res.arrayBuffer();
}

export async function startDemo(url: string, keys: KeyStore, dataDir: string, warn: (m: string) => void, dashboards: Dashboards): Promise<Demo> {
  const { keys: demo, created } = await demoKeys(keys, dataDir);
  const adminKey = await demoAdminKey(keys, dataDir);
  await demoDashboards(dashboards);
  const scale: Record<string, number> = { acme: 1, globex: 2.5, initech: 0.6 };
  if (created) {
    // A day of history, one upload every five minutes per tenant.
    const now = Date.now();
    for (const t of DEMO_TENANTS) {
      const events = [];
      for (let ago = 24 * 12; ago > 0; ago--) events.push(findingsEvent(t, new Date(now - ago * 300_000), scale[t]));
      for (let i = 0; i < events.length; i += 100) await send(url, demo[t].ingest, events.slice(i, i + 100));
    }
    // The BI pipeline: user profiles and a day of transactions.
    await send(url, demo.acme.ingest, USERS.map(userEvent));
    const sales = Array.from({ length: 300 }, (_, i) => transactionEvent(new Date(now - (300 - i) * 288_000)));
    for (let i = 0; i < sales.length; i += 100) await send(url, demo.acme.ingest, sales.slice(i, i + 100));
  }
  const timer = setInterval(() => {
    for (const t of DEMO_TENANTS) {
      send(url, demo[t].ingest, [findingsEvent(t, new Date(), scale[t])]).catch((e: Error) => warn(`demo: sending failed: ${e.name}`));
    }
    send(url, demo.acme.ingest, [transactionEvent(new Date())]).catch((e: Error) => warn(`demo: sending failed: ${e.name}`));
  }, 2000);
  timer.unref();
  return { keys: demo, adminKey, stop: () => clearInterval(timer) };
}
