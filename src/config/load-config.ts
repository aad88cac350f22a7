/**
 * Loads `sluice.config.ts` (or `.js`, `.mjs`, `.json`) and validates it. This module and
 * {@link readEnvironment} are the only places Sluice reads its environment.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tsImport } from 'tsx/esm/api';
import type { ConfigIssue } from './check.ts';
import type { SluiceConfig } from './config.ts';
import { validateConfig } from './validate-config.ts';

export const DEFAULT_CONFIG_FILE = 'sluice.config.ts';

/** A configuration that could not be loaded; `issues` lists every problem. */
export class ConfigError extends Error {
  constructor(
    readonly file: string,
    readonly issues: ConfigIssue[],
  ) {
    super(`${file}: ${issues.length} problem${issues.length === 1 ? '' : 's'}\n` + issues.map(formatIssue).join('\n'));
    this.name = 'ConfigError';
  }
}

export function formatIssue(i: ConfigIssue): string {
  return i.path ? `${i.path}: ${i.message}` : i.message;
}

/**
 * Loads and validates a config file.
 *
 * @example const config = await loadConfig('examples/sluice.config.ts');
 * @throws ConfigError with every problem found
 */
export async function loadConfig(file = DEFAULT_CONFIG_FILE): Promise<SluiceConfig> {
  const path = resolve(file);
  if (!existsSync(path)) throw new ConfigError(file, [{ path: '', message: `config file not found (looked for ${path})` }]);
  let value: unknown;
  try {
    if (path.endsWith('.json')) value = JSON.parse(readFileSync(path, 'utf8'));
    else {
      // tsImport loads TypeScript whatever the surrounding package's module type is.
      const mod = (await tsImport(pathToFileURL(path).href, import.meta.url)) as { default?: unknown };
      value = mod.default;
      // Outside an ES-module package the file is compiled to CommonJS: its exports (flagged
      // __esModule) arrive as the default, and its own default export one level down.
      if (value !== null && typeof value === 'object' && (value as { __esModule?: boolean }).__esModule) {
        value = (value as { default?: unknown }).default;
      }
    }
  } catch (e) {
    throw new ConfigError(file, [{ path: '', message: `could not load: ${(e as Error).message.split('\n')[0]}` }]);
  }
  if (value === undefined) {
    throw new ConfigError(file, [{ path: '', message: 'the file has no default export; export default defineConfig({...})' }]);
  }
  const issues = validateConfig(value);
  if (issues.length > 0) throw new ConfigError(file, issues);
  return value as SluiceConfig;
}

/** The environment variables Sluice reads, in one place (secrets named by the config: secrets.ts). */
export function readEnvironment(env: NodeJS.ProcessEnv = process.env): { configFile?: string; databaseUrl?: string; dataDir?: string } {
  return { configFile: env.SLUICE_CONFIG || undefined, databaseUrl: env.DATABASE_URL || undefined, dataDir: env.SLUICE_DATA_DIR || undefined };
}
