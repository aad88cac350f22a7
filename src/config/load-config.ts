/**
 * Loads `sluice.config.ts` (or `.js`, `.mjs`, `.json`) and validates it. With environment.ts
 * and the secret and settings loaders, the only places Sluice reads its environment.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tsImport } from 'tsx/esm/api';
import type { SluiceConfig } from './config.ts';
import { ConfigError, validConfig } from './config-error.ts';

export { ConfigError, formatIssue, validConfig } from './config-error.ts';
export { readEnvironment } from './environment.ts';

export const DEFAULT_CONFIG_FILE = 'sluice.config.ts';

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
  return validConfig(value, file);
}
