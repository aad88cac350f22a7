/**
 * What an operator's tools read from every long-running Sluice process (API node, single node,
 * worker): `GET /healthz` (the process serves), `GET /readyz` (the store and the intake log
 * answer) and `GET /metrics` (Prometheus text, with the process's resident memory).
 */
import type { Hono } from 'hono';
import type { StreamCounters } from '../pipeline/stream-counters.ts';

export interface OpsContext {
  counters: StreamCounters;
  /** Whether the store and the intake log answer now. */
  ready?: () => Promise<{ store: boolean; log: boolean }>;
  stopping: () => boolean;
}

/** How long /readyz waits for the store and the intake log before it answers 503. */
export const READY_WAIT_MS = 2_000;

export function opsRoutes(app: Hono, ctx: OpsContext): void {
  ctx.counters.gauge('process_resident_memory_bytes', 'Resident memory of the process in bytes.', () => process.memoryUsage.rss());
  app.get('/healthz', (c) => c.json({ ok: !ctx.stopping() }, ctx.stopping() ? 503 : 200));
  // Ready only when the store and the intake log answer, within READY_WAIT_MS: a load balancer
  // sends traffic elsewhere meanwhile, and a probe is answered even when the store hangs.
  app.get('/readyz', async (c) => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<{ store: boolean; log: boolean; waited_ms: number }>((resolve) => {
      timer = setTimeout(() => resolve({ store: false, log: false, waited_ms: READY_WAIT_MS }), READY_WAIT_MS);
    });
    const r = ctx.ready ? await Promise.race([ctx.ready(), late]).finally(() => clearTimeout(timer)) : { store: true, log: true };
    const ok = r.store && r.log && !ctx.stopping();
    return c.json({ ok, ...r }, ok ? 200 : 503);
  });
  app.get('/metrics', (c) => c.text(ctx.counters.render(), 200, { 'content-type': 'text/plain; version=0.0.4' }));
}
