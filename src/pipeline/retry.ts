/**
 * Retrying a store or network call until it succeeds, with exponential backoff (250 ms doubling,
 * at most 30 s apart). For work that must not fail records because a dependency is down.
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
