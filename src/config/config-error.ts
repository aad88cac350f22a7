/** A configuration that failed validation, wherever it came from (a file, or a Lambda bundle). */
import type { ConfigIssue } from './check.ts';
import type { SluiceConfig } from './config.ts';
import { validateConfig } from './validate-config.ts';

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
 * The value as a config, or a ConfigError with every problem.
 *
 * @example const config = validConfig((await import('./sluice.config.ts')).default, 'sluice.config.ts');
 */
export function validConfig(value: unknown, file: string): SluiceConfig {
  if (value === undefined) {
    throw new ConfigError(file, [{ path: '', message: 'the file has no default export; export default defineConfig({...})' }]);
  }
  const issues = validateConfig(value);
  if (issues.length > 0) throw new ConfigError(file, issues);
  return value as SluiceConfig;
}
