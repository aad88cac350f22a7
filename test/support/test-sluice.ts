/**
 * A Sluice process in the test's own process, on PGlite (a temporary data dir) or on a fresh
 * PostgreSQL database, with helpers to send events and to wait for delivery.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SluiceConfig } from '../../src/config/config.ts';
import { validateConfig } from '../../src/config/validate-config.ts';
import { createLogger } from '../../src/runtime/logger.ts';
import { startSluice, type RunningSluice } from '../../src/runtime/sluice-node.ts';
import { createServerDatabase } from './databases.ts';

export const STORES = ['PGlite', 'PostgreSQL'] as const;

export interface TestSluice extends RunningSluice {
  /** Where its data lives (the embedded database's socket too). */
  dataDir: string;
  warnings: string[];
  stdout: string[];
  close(): Promise<void>;
}

/** A metrics pipeline like the example's: findings events through an input transformer. */
export function findingsConfig(extra: Partial<SluiceConfig> = {}): SluiceConfig {
  return {
    rules: [
      {
        name: 'findings',
        pattern: { source: ['findings'], 'detail-type': ['findings-uploaded'] },
        targets: [
          {
            stream: 'metrics',
            input_transformer: {
              input_paths_map: { t: '$.detail.tenant_id', e: '$.detail.event_id', at: '$.detail.created_at', n: '$.detail.new_findings_count', x: '$.detail.existing_findings_count' },
              input_template:
                '{"metric_name":"findings_upload_completed","metadata":{"tenant_id":<t>,"event_id":<e>,"event_time":<at>},"data":{"new_findings_count":<n>,"existing_findings_count":<x>}}',
            },
          },
        ],
      },
    ],
    streams: { metrics: { buffer: { max_records: 500, interval_seconds: 0 }, processors: [{ type: 'validate' }], destination: { type: 'metrics' } } },
    ...extra,
  };
}

export async function startTestSluice(store: (typeof STORES)[number], config: SluiceConfig, opts: { leaseSeconds?: number; vendorRetrySeconds?: number; vendorStatusSeconds?: number } = {}): Promise<TestSluice> {
  const issues = validateConfig(config);
  if (issues.length > 0) throw new Error(JSON.stringify(issues));
  const dataDir = mkdtempSync(join(tmpdir(), 'sluice-test-'));
  const server = store === 'PostgreSQL' ? await createServerDatabase() : null;
  const warnings: string[] = [];
  const stdout: string[] = [];
  const log = createLogger('text', (s) => warnings.push(s));
  const s = await startSluice({ mode: 'start', config, port: 0, dataDir, databaseUrl: server?.url, log, stdout: (l) => stdout.push(l), leaseSeconds: opts.leaseSeconds, vendorRetrySeconds: opts.vendorRetrySeconds, vendorStatusSeconds: opts.vendorStatusSeconds });
  return {
    ...s,
    dataDir,
    warnings,
    stdout,
    close: async () => {
      await s.stop();
      await server?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A findings event as producers send it. */
export function findings(tenant: string, eventId: string, at: Date | string, n: number, existing = 0): Record<string, unknown> {
  const time = typeof at === 'string' ? at : at.toISOString();
  return { source: 'findings', 'detail-type': 'findings-uploaded', time, detail: { tenant_id: tenant, event_id: eventId, new_findings_count: n, existing_findings_count: existing, created_at: time } };
}

// Test answers are read field by field; their shapes are asserted, not typed.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function postJson(url: string, key: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const payload = typeof body === 'string' ? body : body instanceof Uint8Array ? new Blob([new Uint8Array(body)]) : JSON.stringify(body);
  const res = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...headers }, body: payload });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed, headers: res.headers };
}
