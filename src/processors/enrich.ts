/**
 * `enrich`: an async function over the batch that returns the records enriched, in order. A
 * lookup per distinct key per batch, behind {@link cached}, keeps it batch-oriented.
 */
import { fail, ok } from '../core/outcome.ts';
import type { EnrichProcessorConfig } from '../config/config.ts';
import type { Processor } from './processor.ts';

export function createEnrich(config: EnrichProcessorConfig): Processor {
  const step = config.name ?? 'enrich';
  return {
    step,
    async process(records) {
      let out: unknown[];
      try {
        out = await config.fn(records);
      } catch (e) {
        // The function's message may quote a record; keep only its class of error.
        return records.map(() => fail('enrich_error', `${step} threw ${(e as Error)?.name ?? 'an error'}`));
      }
      if (!Array.isArray(out) || out.length !== records.length) {
        return records.map(() => fail('enrich_error', `${step} must return an array of ${records.length} records`));
      }
      return out.map((r) => ok(r));
    },
  };
}

/**
 * Wraps a batch lookup (keys → values) with a bounded cache with expiry: only missing keys are
 * looked up, once per batch.
 *
 * @example
 *   const tenantName = cached(async (ids) => new Map(await db.names(ids)), { ttl_seconds: 300 });
 *   const names = await tenantName(['acme', 'globex']); // Map { 'acme' => 'Acme Corp', … }
 */
export function cached<V>(
  lookup: (keys: string[]) => Promise<Map<string, V>>,
  opts: { ttl_seconds?: number; max_entries?: number } = {},
): (keys: string[]) => Promise<Map<string, V | undefined>> {
  const ttl = (opts.ttl_seconds ?? 300) * 1000;
  const max = opts.max_entries ?? 10_000;
  const cache = new Map<string, { at: number; value: V | undefined }>();
  return async (keys) => {
    const now = Date.now();
    const result = new Map<string, V | undefined>();
    const missing: string[] = [];
    for (const k of new Set(keys)) {
      const hit = cache.get(k);
      if (hit && now - hit.at < ttl) result.set(k, hit.value);
      else missing.push(k);
    }
    if (missing.length > 0) {
      const found = await lookup(missing);
      for (const k of missing) {
        const value = found.get(k);
        if (cache.size >= max) cache.delete(cache.keys().next().value as string);
        cache.set(k, { at: now, value });
        result.set(k, value);
      }
    }
    return result;
  };
}
