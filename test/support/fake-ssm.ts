/**
 * A local SSM Parameter Store that answers GetParametersByPath as AWS documents it (JSON 1.1,
 * target AmazonSSM.GetParametersByPath, SigV4 for "ssm"; see fake-aws-json.ts): parameters
 * under the path (directly, or at any depth with Recursive), at most MaxResults (≤ 10) a page
 * with NextToken. SecureStrings come back decrypted only WithDecryption.
 */
import { startFakeAwsJson, type FakeAwsService } from './fake-aws-json.ts';

export function startFakeSsm(parameters: Record<string, { value: string; secure?: boolean }>): Promise<FakeAwsService> {
  return startFakeAwsJson({
    signingName: 'ssm',
    targetPrefix: 'AmazonSSM',
    operations: {
      GetParametersByPath(input) {
        const known = ['Path', 'Recursive', 'ParameterFilters', 'WithDecryption', 'MaxResults', 'NextToken'];
        const unknown = Object.keys(input).filter((k) => !known.includes(k));
        if (unknown.length > 0) return { violation: `unknown members ${unknown.join(', ')}` };
        const path = input.Path;
        if (typeof path !== 'string' || !path.startsWith('/') || path.length > 2048) return { violation: 'Path must start with / (at most 2048 characters)' };
        const max = input.MaxResults === undefined ? 10 : input.MaxResults;
        if (typeof max !== 'number' || max < 1 || max > 10) return { violation: 'MaxResults must be 1 to 10' };
        const base = path.endsWith('/') ? path : `${path}/`;
        const names = Object.keys(parameters)
          .filter((n) => n.startsWith(base) && (input.Recursive === true || !n.slice(base.length).includes('/')))
          .sort();
        const start = input.NextToken === undefined ? 0 : Number(input.NextToken);
        if (!Number.isInteger(start) || start < 0) return { status: 400, type: 'InvalidNextToken', message: 'The specified token is not valid.' };
        const page = names.slice(start, start + max);
        return {
          ok: {
            Parameters: page.map((n) => ({
              Name: n,
              Type: parameters[n].secure ? 'SecureString' : 'String',
              Value: parameters[n].secure && input.WithDecryption !== true ? 'AQICAHh…encrypted' : parameters[n].value,
              Version: 1,
              ARN: `arn:aws:ssm:eu-west-1:123456789012:parameter${n}`,
              DataType: 'text',
            })),
            ...(start + max < names.length ? { NextToken: String(start + max) } : {}),
          },
        };
      },
    },
  });
}
