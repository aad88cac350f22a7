/**
 * A local AWS Secrets Manager that answers GetSecretValue as AWS documents it (JSON 1.1, target
 * secretsmanager.GetSecretValue, SigV4 for "secretsmanager"; see fake-aws-json.ts). It counts
 * the calls, so tests can show a secret is read once.
 */
import { startFakeAwsJson, type FakeAwsService } from './fake-aws-json.ts';

export { TEST_CREDENTIALS } from './fake-aws-json.ts';
export type FakeSecretsManager = FakeAwsService;

/**
 * Serves `secrets` (name → SecretString, or `{ binary }` for a SecretBinary, which the JSON
 * protocol carries as base64); a name may also be given as an ARN ending in it.
 */
export function startFakeSecretsManager(secrets: Record<string, string | { binary: Buffer }>): Promise<FakeSecretsManager> {
  return startFakeAwsJson({
    signingName: 'secretsmanager',
    targetPrefix: 'secretsmanager',
    operations: {
      GetSecretValue(input) {
        const unknown = Object.keys(input).filter((k) => !['SecretId', 'VersionStage', 'VersionId'].includes(k));
        if (unknown.length > 0) return { violation: `unknown members ${unknown.join(', ')}` };
        const id = input.SecretId;
        if (typeof id !== 'string' || id.length < 1 || id.length > 2048) return { violation: 'SecretId must be a string of 1 to 2048 characters' };
        if (input.VersionStage !== undefined && input.VersionStage !== 'AWSCURRENT') {
          return { status: 400, type: 'ResourceNotFoundException', message: `Secrets Manager can't find the specified secret value for staging label: ${String(input.VersionStage)}` };
        }
        const name = Object.keys(secrets).find((n) => id === n || id.endsWith(`:secret:${n}`));
        if (name === undefined) return { status: 400, type: 'ResourceNotFoundException', message: "Secrets Manager can't find the specified secret." };
        return {
          ok: {
            ARN: `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}-AbCdEf`,
            Name: name,
            VersionId: '8f0c3c1e-0000-4000-8000-000000000001',
            ...(typeof secrets[name] === 'string' ? { SecretString: secrets[name] } : { SecretBinary: secrets[name].binary.toString('base64') }),
            VersionStages: ['AWSCURRENT'],
            CreatedDate: 1.7e9,
          },
        };
      },
    },
  });
}
