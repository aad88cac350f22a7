/**
 * Retrying a store or network call: until it succeeds, with exponential backoff (250 ms
 * doubling, at most 30 s apart), for work that must not fail records because a dependency is
 * down; or a bounded number of times, for a call whose caller reports the failure.
 */
import { sqlState } from '../store/database.ts';

export const MAX_BACKOFF_MS = 30_000;

/**
 * Runs `call` until it resolves. `warn` hears each failure: only the error's class and the wait,
 * never its message (a database message can quote a value).
 *
 * @example await retryForever(() => db.query('…'), (cls, ms) => log.warn(`lookup failed (${cls}); retrying in ${ms} ms`));
 */
export async function retryForever<T>(call: () => Promise<T>, warn: (errorClass: string, waitMs: number) => void): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (e) {
      const wait = Math.min(MAX_BACKOFF_MS, 250 * 2 ** attempt);
      warn(sqlState(e) ?? (e as Error)?.name ?? 'error', wait);
      await new Promise((r) => setTimeout(r, wait));
    }
  }
}

/**
 * Runs `call` up to `attempts` times while `retryable` says its failure may pass, waiting
 * `waitMs(attempt)` (attempt 1, 2, …) before each retry; the last failure is thrown.
 *
 * @example await retryAttempts(() => fetch(url), { attempts: 3, waitMs: (a) => 500 * a });
 */
export async function retryAttempts<T>(call: () => Promise<T>, o: { attempts: number; waitMs: (attempt: number) => number; retryable?: (e: unknown) => boolean }): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (e) {
      if (attempt >= o.attempts || (o.retryable && !o.retryable(e))) throw e;
      await new Promise((r) => setTimeout(r, o.waitMs(attempt)));
    }
  }
}
