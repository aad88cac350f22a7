/**
 * The SAM template `sluice build aws` writes beside the bundles: one function per handler, each
 * with a role of its own that grants only what that function touches; the DynamoDB stream
 * mapping (batch size, bisect on error, bounded retries, an SQS on-failure destination, partial
 * batch responses); the HTTP API; the ingest bucket; the Secrets Manager secrets that hold the
 * key rings; the Parameter Store settings of the environment; and the store migration, run at
 * every deploy as a custom resource before the event sources start.
 */
import { createHash } from 'node:crypto';
import type { SluiceConfig } from '../config/config.ts';
import { deployedKeySource } from '../lambda/deploy-config.ts';
import { MIGRATIONS } from '../store/migrations.ts';
import { pseudonymKeySources } from '../privacy/erasure.ts';
import { parseLocation } from '../destinations/archive/index.ts';
import type { HandlerName } from './bundle.ts';

export const DEPLOY_ENVS = ['dev', 'staging', 'prod'] as const;
export type DeployEnv = (typeof DEPLOY_ENVS)[number];

type Json = unknown;
const ref = (name: string): Json => ({ Ref: name });
const arnOf = (name: string): Json => ({ 'Fn::GetAtt': [name, 'Arn'] });
const sub = (text: string): Json => ({ 'Fn::Sub': text });

/** A function's logical id from its handler name (`firehose-transform` → FirehoseTransformFunction). */
export function functionId(name: HandlerName): string {
  return name.split('-').map((p) => (p === 'dynamodb' ? 'DynamoDB' : p === 's3' ? 'S3' : p[0].toUpperCase() + p.slice(1))).join('') + 'Function';
}

function statement(actions: string[], resources: Json[]): Json {
  return { Effect: 'Allow', Action: actions, Resource: resources };
}

export interface TemplateOptions {
  config: SluiceConfig;
  env: DeployEnv;
  /** A digest of the bundles: a new build runs the migration again. */
  buildId: string;
}

/** The template as a JSON-shaped object (written as YAML; CloudFormation reads either). */
export function samTemplate(o: TemplateOptions): Record<string, Json> {
  const { config } = o;
  const streams = Object.keys(config.streams ?? {});
  const resources: Record<string, Json> = {};

  // Key rings: an environment variable becomes a generated secret of the environment; a named
  // Secrets Manager secret is the operator's, granted by name.
  const secretIds: Json[] = [];
  for (const source of pseudonymKeySources(config)) {
    if ('env' in source) {
      const id = `KeyRing${source.env.replace(/[^A-Za-z0-9]/g, '')}Secret`;
      const deployed = deployedKeySource(source, '${Env}') as { aws_secret: string };
      resources[id] = {
        Type: 'AWS::SecretsManager::Secret',
        Properties: {
          Name: sub(deployed.aws_secret),
          Description: `Sluice pseudonymization key ring (${source.env}); JSON {"current":"id","id":"secret",…}, rotate by adding a key`,
          GenerateSecretString: { SecretStringTemplate: '{}', GenerateStringKey: 'k1', PasswordLength: 48, ExcludePunctuation: true },
        },
        DeletionPolicy: 'Retain',
        UpdateReplacePolicy: 'Retain',
      };
      secretIds.push(ref(id));
    } else if ('aws_secret' in source) {
      const id = source.aws_secret;
      // A name is matched with the six characters Secrets Manager appends to its ARN.
      secretIds.push(id.startsWith('arn:') ? id : sub(`arn:\${AWS::Partition}:secretsmanager:\${AWS::Region}:\${AWS::AccountId}:secret:${id}-??????`));
    }
  }

  resources.FirehoseStreamParameter = {
    Type: 'AWS::SSM::Parameter',
    Properties: { Name: sub('/sluice/${Env}/firehose-stream'), Type: 'String', Value: ref('FirehoseStream'), Description: 'The Sluice stream the Firehose transformation function runs' },
  };
  resources.DeadLetterQueue = {
    Type: 'AWS::SQS::Queue',
    Properties: { QueueName: sub('sluice-${Env}-dynamodb-failures'), MessageRetentionPeriod: 1_209_600, SqsManagedSseEnabled: true },
  };
  resources.IngestBucket = {
    Type: 'AWS::S3::Bucket',
    Properties: {
      BucketName: sub('sluice-${Env}-ingest-${AWS::AccountId}-${AWS::Region}'),
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] },
      PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
    },
  };
  resources.HttpApi = { Type: 'AWS::Serverless::HttpApi', Properties: { StageName: '$default' } };

  // Archive destinations in S3: the functions that deliver write objects under the archive's
  // prefix; the HTTP function's erasure also lists, reads, rewrites and deletes them.
  const archives = Object.values(config.streams ?? {}).flatMap((st) => {
    if (st.destination.type !== 'archive') return [];
    const where = parseLocation(st.destination.location);
    return 'bucket' in where ? [where] : [];
  });
  const objects = archives.map((a) => sub(`arn:\${AWS::Partition}:s3:::${a.bucket}/${a.prefix}*`));
  const archiveStatements = (name: HandlerName): Json[] => {
    if (archives.length === 0 || name === 'migrate' || name === 'firehose-transform') return [];
    if (name !== 'http') return [statement(['s3:PutObject'], objects)];
    return [
      statement(['s3:PutObject', 's3:GetObject', 's3:DeleteObject'], objects),
      ...archives.map((a) => ({ ...(statement(['s3:ListBucket'], [sub(`arn:\${AWS::Partition}:s3:::${a.bucket}`)]) as object), Condition: { StringLike: { 's3:prefix': [`${a.prefix}*`] } } })),
    ];
  };

  const common = (name: HandlerName): Json[] => [
    ...archiveStatements(name),
    // Its own log group only (created below, so no logs:CreateLogGroup).
    statement(['logs:CreateLogStream', 'logs:PutLogEvents'], [sub(`arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:/aws/lambda/sluice-\${Env}-${name}:*`)]),
    // The environment's settings, nothing else in Parameter Store.
    statement(['ssm:GetParametersByPath'], [sub('arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/sluice/${Env}'), sub('arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/sluice/${Env}/*')]),
    ...(secretIds.length > 0 ? [statement(['secretsmanager:GetSecretValue'], secretIds)] : []),
    {
      'Fn::If': [
        'InVpc',
        // Lambda's VPC attachment: these EC2 actions do not support resource-level permissions.
        statement(['ec2:CreateNetworkInterface', 'ec2:DescribeNetworkInterfaces', 'ec2:DeleteNetworkInterface', 'ec2:AssignPrivateIpAddresses', 'ec2:UnassignPrivateIpAddresses'], ['*']),
        ref('AWS::NoValue'),
      ],
    },
  ];

  const fn = (name: HandlerName, extra: { statements?: Json[]; events?: Record<string, Json>; condition?: string; timeout?: number; dependsOnMigration?: boolean; description: string }): void => {
    const id = functionId(name);
    resources[`${id}Role`] = {
      Type: 'AWS::IAM::Role',
      ...(extra.condition ? { Condition: extra.condition } : {}),
      Properties: {
        AssumeRolePolicyDocument: { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'lambda.amazonaws.com' }, Action: ['sts:AssumeRole'] }] },
        Policies: [{ PolicyName: `sluice-${name}`, PolicyDocument: { Version: '2012-10-17', Statement: [...common(name), ...(extra.statements ?? [])] } }],
      },
    };
    resources[`${id}LogGroup`] = {
      Type: 'AWS::Logs::LogGroup',
      ...(extra.condition ? { Condition: extra.condition } : {}),
      Properties: { LogGroupName: sub(`/aws/lambda/sluice-\${Env}-${name}`), RetentionInDays: { 'Fn::FindInMap': ['EnvSettings', ref('Env'), 'LogRetentionDays'] } },
    };
    resources[id] = {
      Type: 'AWS::Serverless::Function',
      ...(extra.condition ? { Condition: extra.condition } : {}),
      ...(extra.dependsOnMigration ? { DependsOn: ['MigrateStore', `${id}LogGroup`] } : { DependsOn: [`${id}LogGroup`] }),
      Properties: {
        FunctionName: sub(`sluice-\${Env}-${name}`),
        Description: extra.description,
        CodeUri: `${name}/`,
        Handler: 'index.handler',
        Role: arnOf(`${id}Role`),
        ...(extra.timeout ? { Timeout: extra.timeout } : {}),
        ...(extra.events ? { Events: extra.events } : {}),
      },
    };
  };

  fn('migrate', { description: 'Migrates the store and creates or evolves the BI tables, at deploy', timeout: 300 });
  resources.MigrateStore = {
    Type: 'AWS::CloudFormation::CustomResource',
    Properties: { ServiceToken: arnOf('MigrateFunction'), Migrations: MIGRATIONS.length, Build: o.buildId },
  };
  fn('dynamodb', {
    description: 'DynamoDB Streams records through the rules and streams',
    condition: 'HasTableStream',
    dependsOnMigration: true,
    statements: [
      statement(['dynamodb:DescribeStream', 'dynamodb:GetRecords', 'dynamodb:GetShardIterator', 'dynamodb:ListStreams'], [ref('TableStreamArn')]),
      statement(['sqs:SendMessage'], [arnOf('DeadLetterQueue')]),
    ],
    events: {
      TableStream: {
        Type: 'DynamoDB',
        Properties: {
          Stream: ref('TableStreamArn'),
          StartingPosition: 'TRIM_HORIZON',
          BatchSize: { 'Fn::FindInMap': ['EnvSettings', ref('Env'), 'StreamBatchSize'] },
          MaximumBatchingWindowInSeconds: 1,
          BisectBatchOnFunctionError: true,
          MaximumRetryAttempts: 5,
          MaximumRecordAgeInSeconds: 86_400,
          FunctionResponseTypes: ['ReportBatchItemFailures'],
          DestinationConfig: { OnFailure: { Destination: arnOf('DeadLetterQueue') } },
        },
      },
    },
  });
  fn('firehose-transform', { description: 'Data transformation of a Firehose delivery stream by a Sluice stream’s processors', dependsOnMigration: true });
  fn('s3', {
    description: 'NDJSON objects created in the ingest bucket, loaded once each',
    dependsOnMigration: true,
    timeout: 900,
    // By name, not by reference: the bucket's notification refers to the function.
    statements: [statement(['s3:GetObject', 's3:GetObjectVersion'], [sub('arn:${AWS::Partition}:s3:::sluice-${Env}-ingest-${AWS::AccountId}-${AWS::Region}/*')])],
    events: { Created: { Type: 'S3', Properties: { Bucket: ref('IngestBucket'), Events: ['s3:ObjectCreated:*'] } } },
  });
  fn('http', {
    description: 'The HTTP API: ingest (AWS JSON protocol, /v1/events), queries, erasure',
    dependsOnMigration: true,
    events: {
      Root: { Type: 'HttpApi', Properties: { ApiId: ref('HttpApi'), Path: '/', Method: 'ANY' } },
      Proxy: { Type: 'HttpApi', Properties: { ApiId: ref('HttpApi'), Path: '/{proxy+}', Method: 'ANY' } },
    },
  });
  fn('drain', {
    description: 'Delivers what HTTP invocations accepted but could not deliver before their deadline, and retries erasure requests to vendors',
    dependsOnMigration: true,
    events: { EveryMinute: { Type: 'Schedule', Properties: { Schedule: 'rate(1 minute)' } } },
  });

  return {
    AWSTemplateFormatVersion: '2010-09-09',
    Transform: 'AWS::Serverless-2016-10-31',
    Description: `Sluice (${o.env}): event analytics pipeline handlers, written by sluice build aws`,
    Parameters: {
      Env: { Type: 'String', Default: o.env, AllowedValues: [...DEPLOY_ENVS], Description: 'Names every resource and selects the settings under /sluice/<Env>/' },
      TableStreamArn: { Type: 'String', Default: '', Description: 'The DynamoDB stream to read (StreamViewType NEW_AND_OLD_IMAGES recommended); empty: no DynamoDB function' },
      FirehoseStream: { Type: 'String', Default: streams[0] ?? 'metrics', AllowedValues: streams.length > 0 ? streams : undefined, Description: 'The Sluice stream the Firehose transformation runs' },
      SubnetIds: { Type: 'CommaDelimitedList', Default: '', Description: 'Subnets that reach PostgreSQL (empty: no VPC)' },
      SecurityGroupIds: { Type: 'CommaDelimitedList', Default: '', Description: 'Security groups allowed to reach PostgreSQL' },
    },
    Mappings: {
      EnvSettings: {
        dev: { LogRetentionDays: 7, StreamBatchSize: 100, MemorySize: 512 },
        staging: { LogRetentionDays: 30, StreamBatchSize: 100, MemorySize: 1024 },
        prod: { LogRetentionDays: 90, StreamBatchSize: 100, MemorySize: 1024 },
      },
    },
    Conditions: {
      HasTableStream: { 'Fn::Not': [{ 'Fn::Equals': [ref('TableStreamArn'), ''] }] },
      InVpc: { 'Fn::Not': [{ 'Fn::Equals': [{ 'Fn::Join': ['', ref('SubnetIds')] }, ''] }] },
    },
    Globals: {
      Function: {
        Runtime: 'nodejs20.x',
        Architectures: ['x86_64'],
        MemorySize: { 'Fn::FindInMap': ['EnvSettings', ref('Env'), 'MemorySize'] },
        Timeout: 60,
        Environment: { Variables: { SLUICE_ENV: ref('Env'), SLUICE_SSM_PATH: sub('/sluice/${Env}/') } },
        VpcConfig: { 'Fn::If': ['InVpc', { SubnetIds: ref('SubnetIds'), SecurityGroupIds: ref('SecurityGroupIds') }, ref('AWS::NoValue')] },
      },
    },
    Resources: resources,
    Outputs: {
      ApiUrl: { Description: 'The HTTP API (point the AWS SDK endpoint or curl here)', Value: sub('https://${HttpApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/') },
      FirehoseTransformFunctionArn: { Description: 'For the delivery stream’s ProcessingConfiguration (Lambda processor)', Value: arnOf('FirehoseTransformFunction') },
      IngestBucketName: { Description: 'Objects created here are loaded', Value: ref('IngestBucket') },
      DeadLetterQueueUrl: { Description: 'DynamoDB stream batches that failed every retry', Value: ref('DeadLetterQueue') },
    },
  };
}

/** A short digest of the bundles' bytes. */
export function buildDigest(parts: Array<string | Buffer>): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex').slice(0, 16);
}
