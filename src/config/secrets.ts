/**
 * Reads secrets named by the config (`{ env: NAME }` or `{ file: PATH }`), once, at start. With
 * the config loader this is the only place Sluice reads its environment.
 */
import { readFileSync } from 'node:fs';
import type { SecretSource } from './config.ts';

export class SecretError extends Error {}

/** The secret's text, or null when the variable is unset or the file is missing. */
export function readSecret(source: SecretSource, env: NodeJS.ProcessEnv = process.env): string | null {
  if ('env' in source) return env[source.env] || null;
  try {
    return readFileSync(source.file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new SecretError(`cannot read the secret file ${source.file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/** Describes where a secret comes from, for messages (never the secret). */
export function describeSecret(source: SecretSource): string {
  return 'env' in source ? `environment variable ${source.env}` : `file ${source.file}`;
}
