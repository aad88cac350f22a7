/**
 * The config as a deployed function uses it. In AWS a key ring is never an environment variable
 * (Lambda shows those in its console): with SLUICE_ENV set (the SAM template sets it), a
 * pseudonymize step's `key: { env: NAME }` is read from the Secrets Manager secret
 * `sluice/<env>/<NAME>` that the template creates. Without SLUICE_ENV (a bundle run with
 * `node` locally) the config is used as written.
 */
import type { SecretSource, SluiceConfig } from '../config/config.ts';

/** The secret that holds an environment-variable key ring in a deployed environment. */
export function deployedSecretName(deployEnv: string, variable: string): string {
  return `sluice/${deployEnv}/${variable}`;
}

export function deployedKeySource(source: SecretSource, deployEnv: string): SecretSource {
  return 'env' in source ? { aws_secret: deployedSecretName(deployEnv, source.env) } : source;
}

export function deployedConfig(config: SluiceConfig, deployEnv: string | undefined): SluiceConfig {
  if (!deployEnv) return config;
  const streams = Object.fromEntries(
    Object.entries(config.streams ?? {}).map(([name, s]) => [
      name,
      { ...s, processors: s.processors?.map((p) => (p.type === 'pseudonymize' ? { ...p, key: deployedKeySource(p.key, deployEnv) } : p)) },
    ]),
  );
  return { ...config, streams };
}
