/**
 * The HTTP API on Lambda (API Gateway REST v1, HTTP API v2, or a function URL) through Hono's
 * aws-lambda adapter: the same app as on Node. Accepted requests are in the intake log before
 * the answer, exactly as on Node; the invocation then delivers them before it returns (a frozen
 * container delivers nothing). What the deadline cuts off stays in the log for `drain`.
 */
import type { Hono } from 'hono';
import { handle } from 'hono/aws-lambda';
import { createApp } from '../api/app.ts';
import { KeyStore } from '../auth/api-keys.ts';
import { MetricsStore } from '../destinations/metrics/metrics-store.ts';
import { Intake } from '../pipeline/intake.ts';
import { RateLimiter } from '../pipeline/rate-limiter.ts';
import { Eraser, pseudonymKeySources, tableSubjects } from '../privacy/erasure.ts';
import { DEFAULT_MAX_PENDING_BYTES, DEFAULT_RATE } from '../runtime/limits.ts';
import type { OpenContainer } from './container.ts';
import type { LambdaContext, LambdaRuntime } from './runtime.ts';

export type LambdaHttpEvent = Parameters<ReturnType<typeof handle>>[0];
export type LambdaHttpResult = Awaited<ReturnType<ReturnType<typeof handle>>>;

/** The app and its adapter, made once per runtime (container). */
const apps = new WeakMap<LambdaRuntime, Promise<{ app: Hono; handler: ReturnType<typeof handle> }>>();

function build(rt: LambdaRuntime): Promise<{ app: Hono; handler: ReturnType<typeof handle> }> {
  let made = apps.get(rt);
  if (!made) {
    made = (async () => {
      const { config, db } = rt;
      const rate = { ...DEFAULT_RATE, ...config.ingest?.rate_limit };
      const intake = new Intake(await rt.intakeLog(), rt.pipeline, new RateLimiter(rate.events_per_second, rate.burst), config.ingest?.max_pending_bytes ?? DEFAULT_MAX_PENDING_BYTES);
      const { keyRing, counters, queries, metricsConfig } = rt.assembled;
      const eraser = new Eraser(db, { rings: pseudonymKeySources(config).map(keyRing), tables: tableSubjects(config) }, new MetricsStore(db, { rollupDimensions: metricsConfig?.rollup_dimensions }));
      const app = createApp({ config, keys: new KeyStore(db), intake, queries, counters, eraser, stopping: () => false });
      return { app, handler: handle(app) };
    })();
    made.catch(() => apps.delete(rt));
    apps.set(rt, made);
  }
  return made;
}

/** The HTTP app of this runtime. */
export async function httpApp(rt: LambdaRuntime): Promise<Hono> {
  return (await build(rt)).app;
}

/** An API Gateway (v1, v2) or function URL event through the app; what it accepted is delivered before it returns. */
export async function invokeHttp(rt: LambdaRuntime, event: LambdaHttpEvent, context?: LambdaContext): Promise<LambdaHttpResult> {
  const response = await (await build(rt)).handler(event, context as never);
  await rt.settle(context);
  return response;
}

/** The HTTP API behind API Gateway (REST v1, HTTP v2) or a function URL. */
export function httpHandler(open: OpenContainer): (event: LambdaHttpEvent, context?: LambdaContext) => Promise<LambdaHttpResult> {
  return async (event, context) => invokeHttp((await open()).rt, event, context);
}
