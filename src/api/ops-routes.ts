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

export function opsRoutes(app: Hono, ctx: OpsContext): void {
  ctx.counters.gauge('process_resident_memory_bytes', 'Resident memory of the process in bytes.', () => process.memoryUsage.rss());
  app.get('/healthz', (c) => c.json({ ok: !ctx.stopping() }, ctx.stopping() ? 503 : 200));
  // Ready only when the store and the intake log answer: a load balancer sends traffic elsewhere meanwhile.
  app.get('/readyz', async (c) => {
    const r = ctx.ready ? await ctx.ready() : { store: true, log: true };
    const ok = r.store && r.log && !ctx.stopping();
    return c.json({ ok, ...r }, ok ? 200 : 503);
  });
  app.get('/metrics', (c) => c.text(ctx.counters.render(), 200, { 'content-type': 'text/plain; version=0.0.4' }));
}
