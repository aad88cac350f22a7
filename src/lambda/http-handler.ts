/**
 * The HTTP API on Lambda (API Gateway REST v1, HTTP API v2, or a function URL) through Hono's
 * aws-lambda adapter: the same app as on Node. Accepted requests are in the intake log before
 * the answer, exactly as on Node; the invocation then delivers them before it returns (a frozen
 * container delivers nothing). What the deadline cuts off stays in the log for `drain`.
 */
import { handle } from 'hono/aws-lambda';
import { createApp } from '../api/app.ts';
import { KeyStore } from '../auth/api-keys.ts';
import { onceUntilFailed, type Once } from '../core/once.ts';
import { MetricsStore } from '../destinations/metrics/metrics-store.ts';
import { Intake } from '../pipeline/intake.ts';
import { RateLimiter } from '../pipeline/rate-limiter.ts';
import { Eraser, pseudonymKeySources, erasureTargets } from '../privacy/erasure.ts';
import { DEFAULT_MAX_PENDING_BYTES, DEFAULT_RATE } from '../runtime/limits.ts';
import type { OpenContainer } from './container.ts';
import type { LambdaContext, LambdaRuntime } from './runtime.ts';
import { Dashboards } from '../dashboards/dashboards.ts';
import { EmbedKeys } from '../embed/embed-tokens.ts';
import { DeadLetters } from '../pipeline/dead-letters.ts';

export type LambdaHttpEvent = Parameters<ReturnType<typeof handle>>[0];
export type LambdaHttpResult = Awaited<ReturnType<ReturnType<typeof handle>>>;

/** The app through its adapter, made once per runtime (container). */
const handlers = new WeakMap<LambdaRuntime, Once<ReturnType<typeof handle>>>();

function handlerOf(rt: LambdaRuntime): Promise<ReturnType<typeof handle>> {
  let made = handlers.get(rt);
  if (!made) {
    made = onceUntilFailed(async () => {
      const { config, db } = rt;
      const rate = { ...DEFAULT_RATE, ...config.ingest?.rate_limit };
      const intake = new Intake(await rt.intakeLog(), rt.pipeline, new RateLimiter(rate, config.ingest?.tenants), config.ingest?.max_pending_bytes ?? DEFAULT_MAX_PENDING_BYTES);
      const { keyRing, counters, queries, metricsConfig } = rt.assembled;
      const eraser = new Eraser(db, erasureTargets(config, pseudonymKeySources(config).map(keyRing)), new MetricsStore(db, { rollupDimensions: metricsConfig?.rollup_dimensions }), (pairs) => queries.invalidate(pairs));
      const embed = await EmbedKeys.open(db, config.embed);
      return handle(createApp({ config, keys: new KeyStore(db), intake, queries, counters, eraser, deadLetters: new DeadLetters(db), dashboards: new Dashboards(db), embed, log: rt.log, stopping: () => false }));
    });
    handlers.set(rt, made);
  }
  return made();
}

/** An API Gateway (v1, v2) or function URL event through the app; what it accepted is delivered before it returns. */
export async function invokeHttp(rt: LambdaRuntime, event: LambdaHttpEvent, context?: LambdaContext): Promise<LambdaHttpResult> {
  const response = await (await handlerOf(rt))(event, context as never);
  await rt.settle(context);
  return response;
}

/** The HTTP API behind API Gateway (REST v1, HTTP v2) or a function URL. */
export function httpHandler(open: OpenContainer): (event: LambdaHttpEvent, context?: LambdaContext) => Promise<LambdaHttpResult> {
  return async (event, context) => invokeHttp((await open()).rt, event, context);
}
