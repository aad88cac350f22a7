/**
 * Reads secrets named by the config (`{ env: NAME }`, `{ file: PATH }` or `{ aws_secret: ID }`),
 * once, at start. With the config loader this is the only place Sluice reads its environment.
 */
import { readFile } from 'node:fs/promises';
import { retryAttempts } from '../pipeline/retry.ts';
import { readEnvironment } from './environment.ts';
import type { AwsSecretSource, SecretSource } from './config.ts';

export class SecretError extends Error {}

/**
 * The secret's text, or null when the variable is unset or the file is missing. A Secrets
 * Manager secret that does not exist, or cannot be read, is an error (never null): a deployment
 * that names one expects it.
 */
export async function readSecret(source: SecretSource, env: NodeJS.ProcessEnv = process.env): Promise<string | null> {
  if ('env' in source) return env[source.env] || null;
  if ('aws_secret' in source) return readAwsSecret(source, readEnvironment(env).secretsManagerEndpoint);
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

/** The region in a secret's ARN (`arn:aws:secretsmanager:<region>:…`), if it is one. */
const arnRegion = (id: string): string | undefined => /^arn:aws[a-z-]*:secretsmanager:([a-z0-9-]+):/.exec(id)?.[1];

/**
 * GetSecretValue, signed with the SDK's default credential chain. The region is the source's,
 * else the one in the secret's ARN, else AWS_REGION (or AWS_DEFAULT_REGION); the endpoint the
 * source's, else the AWS SDKs' environment override (`defaultEndpoint`), else AWS's. The signer
 * and the credential chain are loaded only when a config names such a secret.
 */
async function readAwsSecret(source: AwsSecretSource, defaultEndpoint: string | undefined): Promise<string> {
  const where = describeSecret(source);
  const { AWS_RETRY, awsJsonCall, describeAwsError } = await import('./aws-json-call.ts');
  let out: { SecretString?: string; SecretBinary?: string };
  try {
    out = await retryAttempts(
      () =>
        awsJsonCall({
          service: 'secretsmanager',
          target: 'secretsmanager.GetSecretValue',
          region: source.region ?? arnRegion(source.aws_secret),
          endpoint: source.endpoint ?? defaultEndpoint,
          body: { SecretId: source.aws_secret, ...(source.version_stage ? { VersionStage: source.version_stage } : {}) },
        }),
      AWS_RETRY,
    );
  } catch (e) {
    throw new SecretError(`cannot read the ${where}: ${describeAwsError(e)}`);
  }
  // The JSON protocol carries a binary secret as base64.
  const text = out.SecretString ?? (out.SecretBinary ? Buffer.from(out.SecretBinary, 'base64').toString('utf8') : undefined);
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
