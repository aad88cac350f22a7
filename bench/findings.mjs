// What the end-to-end benchmarks send and how Sluice is configured for them: the seed's findings
// rule through an InputTransformer, validate, pseudonymize the user id, the metrics store. It is
// also a config file (`sluice start --config bench/findings.mjs`); the key ring comes from
// SLUICE_BENCH_KEYS.
export const BENCH_KEYS = 'b1:bench-secret-0123456789abcdef';

const config = {
  rules: [
    {
      name: 'findings',
      pattern: { source: ['findings'], 'detail-type': ['findings-uploaded'] },
      targets: [
        {
          stream: 'metrics',
          input_transformer: {
            input_paths_map: { t: '$.detail.tenant_id', e: '$.detail.event_id', at: '$.detail.created_at', u: '$.detail.user_id', n: '$.detail.new_findings_count', x: '$.detail.existing_findings_count' },
            input_template: '{"metric_name":"findings_upload_completed","metadata":{"tenant_id":<t>,"event_id":<e>,"event_time":<at>,"user_id":<u>},"data":{"new_findings_count":<n>,"existing_findings_count":<x>}}',
          },
        },
      ],
    },
  ],
  streams: {
    metrics: {
      buffer: { max_records: 5000, interval_seconds: 1 },
      processors: [{ type: 'validate' }, { type: 'pseudonymize', key: { env: 'SLUICE_BENCH_KEYS' }, fields: { 'metadata.user_id': 'hash' } }],
      destination: { type: 'metrics' },
    },
  },
  ingest: { rate_limit: { events_per_second: 10_000_000, burst: 10_000_000 } },
};
export default config;

/**
 * The BI pipeline the table benchmark runs: transactions of about 20 fields into a 20-column
 * table, with two pseudonymized fields (user and card), immutable rows keyed on the id.
 */
export const tableConfig = {
  rules: [{ name: 'transactions', pattern: { source: ['shop'] }, targets: [{ stream: 'transactions', input_path: '$.detail' }] }],
  streams: {
    transactions: {
      buffer: { max_records: 5000, interval_seconds: 1 },
      processors: [{ type: 'pseudonymize', key: { env: 'SLUICE_BENCH_KEYS' }, fields: { user_id: 'hash', card_fingerprint: 'hash' } }],
      destination: {
        type: 'table',
        table: 'transactions',
        columns: {
          transaction_id: 'text',
          user_id: { type: 'text', subject: 'user_id' },
          card_fingerprint: { type: 'text', subject: 'card' },
          amount: 'numeric(12,2)',
          currency: 'varchar(3)',
          merchant: 'text',
          merchant_category: 'text',
          country: 'varchar(2)',
          city: 'text',
          channel: 'text',
          status: 'text',
          decline_reason: 'text',
          installments: 'smallint',
          fee: 'numeric(8,2)',
          exchange_rate: 'double precision',
          risk_score: 'integer',
          is_recurring: 'boolean',
          device_type: 'text',
          app_version: 'text',
          created_at: 'timestamptz',
        },
        primary_key: ['transaction_id'],
      },
    },
  },
  ingest: config.ingest,
};

// The load generator, run in a worker thread (its own event loop). Closed loop: `clients`
// requests in flight, each sent when the last was answered. Open loop (`rate` requests of 100
// events per second): sent on schedule whatever the answers, at most 256 in flight.
export const LOAD = `
const { workerData, parentPort } = require('node:worker_threads');
const { url, key, seconds, clients, rate, prefix } = workerData;
let acked = 0, seq = 0, failed = 0, skipped = 0, inflight = 0;
const statuses = {};
const latencies = []; // ms per acknowledged request
const end = Date.now() + seconds * 1000;
const CURRENCIES = ['EUR', 'USD', 'GBP', 'CHF'];
const COUNTRIES = ['DE', 'FR', 'US', 'GB', 'NL', 'CH'];
function event(id, now) {
  if (workerData.kind !== 'transactions') {
    return { source: 'findings', 'detail-type': 'findings-uploaded', time: now, detail: { tenant_id: 'acme', event_id: id, user_id: 'user-' + (seq % 5000), new_findings_count: seq % 7, existing_findings_count: 10, created_at: now } };
  }
  // A card transaction of about 20 fields, as the BI pipeline's DynamoDB stream carries them.
  const u = seq % 5000;
  return { source: 'shop', 'detail-type': 'transaction-created', time: now, detail: {
    transaction_id: id, user_id: 'user-' + u, card_fingerprint: 'card-' + (u * 7 % 9973), amount: (seq % 50000) / 100, currency: CURRENCIES[seq % 4],
    merchant: 'merchant-' + (seq % 300), merchant_category: 'mcc-' + (5000 + seq % 40), country: COUNTRIES[seq % 6], city: 'city-' + (seq % 80),
    channel: seq % 3 ? 'card_present' : 'online', status: seq % 50 ? 'approved' : 'declined', decline_reason: seq % 50 ? null : 'insufficient_funds',
    installments: seq % 4, fee: (seq % 300) / 100, exchange_rate: 1 + (seq % 100) / 1000, risk_score: seq % 100, is_recurring: seq % 9 === 0,
    device_type: seq % 2 ? 'ios' : 'android', app_version: '4.' + (seq % 20), created_at: now } };
}
function body() {
  const now = new Date().toISOString();
  let s = '';
  for (let i = 0; i < 100; i++) s += JSON.stringify(event(prefix + '-' + (seq++), now)) + '\\n';
  return s;
}
async function send() {
  inflight++;
  const t = Date.now();
  try {
    const res = await fetch(url, { method: 'POST', headers: { authorization: 'Bearer ' + key, 'content-type': 'application/x-ndjson' }, body: body() });
    await res.arrayBuffer();
    statuses[res.status] = (statuses[res.status] || 0) + 1;
    if (res.status === 200) {
      acked += 100;
      latencies.push(Date.now() - t);
    } else failed++;
    return res.status;
  } catch (e) {
    statuses.error = (statuses.error || 0) + 1;
    failed++;
    return 0;
  } finally {
    inflight--;
  }
}
async function client() {
  while (Date.now() < end) if ((await send()) !== 200) await new Promise((r) => setTimeout(r, 50));
}
async function open() {
  const sent = [];
  const t0 = Date.now();
  for (let n = 0; Date.now() < end; n++) {
    const due = t0 + (n * 1000) / rate;
    if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
    if (inflight >= 256) { skipped++; continue; }
    sent.push(send());
  }
  await Promise.all(sent);
}
(rate ? open() : Promise.all(Array.from({ length: clients }, client))).then(() => {
  latencies.sort((a, b) => a - b);
  const p99 = latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))] : null;
  parentPort.postMessage({ acked, failed, skipped, statuses, p99 });
});
`;
