/** Reading a forwarder's fields from a record: a configured JSON path or the default one. */
import { pathReader } from '../../core/transform/json-path.ts';

/**
 * Readers for each field, from the configured path or the default.
 *
 * @example const read = fieldReaders({ event: undefined }, { event: '$.metric_name' }); read.event(record)
 */
export function fieldReaders<K extends string>(configured: object, defaults: Record<K, string | null>): Record<K, (v: unknown) => unknown> {
  const out = {} as Record<K, (v: unknown) => unknown>;
  for (const k of Object.keys(defaults) as K[]) {
    const own = (configured as Record<string, unknown>)[k];
    const source = typeof own === 'string' ? own : defaults[k];
    out[k] = source ? pathReader(source) : () => undefined;
  }
  return out;
}

/** The record's time as epoch milliseconds: ISO 8601, or epoch seconds or milliseconds; NaN otherwise. */
export function epochMs(v: unknown): number {
  if (typeof v === 'number' && Number.isFinite(v)) return v < 1e11 ? Math.round(v * 1000) : Math.round(v);
  if (typeof v === 'string') return Date.parse(v);
  return NaN;
}

/** Reads the secret a forwarder needs at open, or says which one is missing. */
export async function requiredSecret(read: () => Promise<string | null>, what: string): Promise<string> {
  const value = (await read())?.trim();
  if (!value) throw new Error(`${what} is not set`);
  return value;
}
