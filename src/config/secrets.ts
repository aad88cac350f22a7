/**
 * Reads secrets named by the config (`{ env: NAME }`, `{ file: PATH }` or `{ aws_secret: ID }`),
 * once, at start. With the config loader this is the only place Sluice reads its environment.
 */
import { readFile } from 'node:fs/promises';
import type { AwsSecretSource, SecretSource } from './config.ts';

export class SecretError extends Error {}

/**
 * The secret's text, or null when the variable is unset or the file is missing. A Secrets
 * Manager secret that does not exist, or cannot be read, is an error (never null): a deployment
 * that names one expects it.
 */
export async function readSecret(source: SecretSource, env: NodeJS.ProcessEnv = process.env): Promise<string | null> {
  if ('env' in source) return env[source.env] || null;
  if ('aws_secret' in source) return readAwsSecret(source);
  try {
    return await readFile(source.file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new SecretError(`cannot read the secret file ${source.file}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

/** Describes where a secret comes from, for messages (never the secret). */
export function describeSecret(source: SecretSource): string {
  if ('env' in source) return `environment variable ${source.env}`;
  if ('aws_secret' in source) return `AWS Secrets Manager secret ${source.aws_secret}${source.json_key ? ` (key ${source.json_key})` : ''}`;
  return `file ${source.file}`;
}

/**
 * GetSecretValue through the AWS SDK (region, credentials and endpoint from the usual chain
 * unless the source names them). The SDK is loaded only when a config names such a secret.
 */
async function readAwsSecret(source: AwsSecretSource): Promise<string> {
  const where = describeSecret(source);
  const { SecretsManagerClient, GetSecretValueCommand } = await import('@aws-sdk/client-secrets-manager');
  const client = new SecretsManagerClient({
    ...(source.region ? { region: source.region } : {}),
    ...(source.endpoint ? { endpoint: source.endpoint } : {}),
    maxAttempts: 3,
  });
  let out;
  try {
    out = await client.send(new GetSecretValueCommand({ SecretId: source.aws_secret, ...(source.version_stage ? { VersionStage: source.version_stage } : {}) }));
  } catch (e) {
    const err = e as { name?: string; message?: string };
    // AWS's messages name the secret, never its value.
    throw new SecretError(`cannot read the ${where}: ${err.name ?? 'Error'}: ${err.message ?? 'failed'}`);
  } finally {
    client.destroy();
  }
  const text = out.SecretString ?? (out.SecretBinary ? Buffer.from(out.SecretBinary).toString('utf8') : undefined);
  if (text === undefined) throw new SecretError(`the ${where} has no value`);
  if (!source.json_key) return text;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new SecretError(`the ${where} is not a JSON object, so json_key cannot pick from it`);
  }
  const v = parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>)[source.json_key] : undefined;
  if (typeof v !== 'string') throw new SecretError(`the ${where} has no string under key ${source.json_key}`);
  return v;
}
