/**
 * The options every store-touching command shares: `--config`, `--data-dir`, and `DATABASE_URL`
 * from the environment.
 */
import { readEnvironment } from '../config/load-config.ts';
import { DEFAULT_DATA_DIR, type StoreLocation } from '../store/open-database.ts';

export const STORE_OPTIONS = {
  config: { type: 'string' },
  'data-dir': { type: 'string' },
} as const;

export const STORE_USAGE = '[--config FILE] [--data-dir DIR]   (DATABASE_URL selects a PostgreSQL server instead of the data dir)';

export function storeLocation(values: { 'data-dir'?: string }): StoreLocation & { dataDir: string } {
  const env = readEnvironment();
  return { databaseUrl: env.databaseUrl, dataDir: values['data-dir'] ?? env.dataDir ?? DEFAULT_DATA_DIR };
}
