/** The environment variables Sluice reads, in one place (secrets named by the config: secrets.ts). */

export interface Environment {
  configFile?: string;
  databaseUrl?: string;
  dataDir?: string;
  /** Lambda: a Parameter Store path whose parameters are settings (lambda/settings.ts). */
  ssmPath?: string;
  /** Parameter Store's endpoint, by the AWS SDKs' convention (AWS_ENDPOINT_URL_SSM, else AWS_ENDPOINT_URL). */
  ssmEndpoint?: string;
  /** Secrets Manager's endpoint, by the same convention (AWS_ENDPOINT_URL_SECRETS_MANAGER, else AWS_ENDPOINT_URL). */
  secretsManagerEndpoint?: string;
  /** Lambda: the Sluice stream the Firehose transformation runs. */
  firehoseStream?: string;
  /** Lambda: the deployment's environment (dev, staging, prod), set by the SAM template. */
  deployEnv?: string;
}

export function readEnvironment(env: NodeJS.ProcessEnv = process.env): Environment {
  return {
    configFile: env.SLUICE_CONFIG || undefined,
    databaseUrl: env.DATABASE_URL || undefined,
    dataDir: env.SLUICE_DATA_DIR || undefined,
    ssmPath: env.SLUICE_SSM_PATH || undefined,
    ssmEndpoint: env.AWS_ENDPOINT_URL_SSM || env.AWS_ENDPOINT_URL || undefined,
    secretsManagerEndpoint: env.AWS_ENDPOINT_URL_SECRETS_MANAGER || env.AWS_ENDPOINT_URL || undefined,
    firehoseStream: env.SLUICE_FIREHOSE_STREAM || undefined,
    deployEnv: env.SLUICE_ENV || undefined,
  };
}
