/**
 * Settings of a deployed Sluice from SSM Parameter Store: every parameter under one path
 * (`SLUICE_SSM_PATH`, e.g. `/sluice/prod/`), read with GetParametersByPath (recursive,
 * SecureStrings decrypted), once per container. A parameter's last path segment names the
 * setting; a setting the function's environment also sets keeps the environment's value.
 */
import { retryAttempts } from '../pipeline/retry.ts';
import { AWS_RETRY, awsJsonCall, describeAwsError } from '../config/aws-json-call.ts';

/** The settings a deployment can keep in Parameter Store, by parameter name. */
export const SETTING_NAMES = {
  'database-url': 'databaseUrl',
  'firehose-stream': 'firehoseStream',
} as const;

export type Settings = Partial<Record<(typeof SETTING_NAMES)[keyof typeof SETTING_NAMES], string>>;

export class SettingsError extends Error {}

/** Parameter Store answers at most 10 parameters per page. */
const MAX_PAGES = 100;

/**
 * @example const settings = await loadSettings('/sluice/prod/'); // { databaseUrl: 'postgres://…' }
 */
export async function loadSettings(path: string, opts: { endpoint?: string; region?: string } = {}): Promise<Settings> {
  if (!path.startsWith('/')) throw new SettingsError(`SLUICE_SSM_PATH must be a Parameter Store path starting with "/", got ${JSON.stringify(path)}`);
  const settings: Settings = {};
  let token: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    let out: { Parameters?: Array<{ Name?: string; Value?: string }>; NextToken?: string };
    try {
      out = await retryAttempts(
        () => awsJsonCall({ service: 'ssm', target: 'AmazonSSM.GetParametersByPath', region: opts.region, endpoint: opts.endpoint, body: { Path: path, Recursive: true, WithDecryption: true, ...(token ? { NextToken: token } : {}) } }),
        AWS_RETRY,
      );
    } catch (e) {
      throw new SettingsError(`cannot read the Parameter Store path ${path}: ${describeAwsError(e)}`);
    }
    for (const p of out.Parameters ?? []) {
      const name = (p.Name ?? '').split('/').at(-1) as keyof typeof SETTING_NAMES;
      const key = SETTING_NAMES[name];
      if (key && p.Value !== undefined) settings[key] = p.Value;
    }
    token = out.NextToken;
    if (!token) return settings;
  }
  throw new SettingsError(`the Parameter Store path ${path} has more than ${MAX_PAGES * 10} parameters; give Sluice a path of its own`);
}
