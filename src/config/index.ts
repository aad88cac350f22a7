/** Configuration: `defineConfig`, its types, and loading with validation. */
export * from './config.ts';
export { loadConfig, ConfigError, DEFAULT_CONFIG_FILE } from './load-config.ts';
export { validateConfig } from './validate-config.ts';
export type { ConfigIssue } from './check.ts';
