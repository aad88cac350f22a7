/**
 * What a Lambda container keeps between invocations: the settings from Parameter Store, the
 * store connection, the key rings from Secrets Manager and the assembled pipeline, all loaded
 * once, on the first invocation (a failed load is retried by the next); and the handlers that
 * need nothing more. The S3 and HTTP handlers are in their own modules, so a bundle holds only
 * its handler's dependencies.
 */
import type { SluiceConfig } from '../config/config.ts';
import { readEnvironment } from '../config/environment.ts';
import { onceUntilFailed } from '../core/once.ts';
import { retryAttempts } from '../pipeline/retry.ts';
import type { DynamoDBStreamEvent } from '../sources/dynamodb/stream-record.ts';
import { LambdaRuntime, type BatchResponse, type DrainResult, type FirehoseTransformationEvent, type FirehoseTransformationResult, type LambdaContext } from './runtime.ts';
import { deployedConfig } from './deploy-config.ts';
import { loadSettings, type Settings } from './settings.ts';

/** What CloudFormation sends a custom resource (the migration function runs as one at deploy). */
export interface CustomResourceEvent {
  RequestType: 'Create' | 'Update' | 'Delete';
  ResponseURL: string;
  StackId: string;
  RequestId: string;
  LogicalResourceId: string;
  PhysicalResourceId?: string;
  ResourceProperties?: Record<string, unknown>;
}

/** Opens the container's runtime once; every handler of the container calls it. */
export type OpenContainer = () => Promise<{ rt: LambdaRuntime; settings: Settings }>;

/**
 * @example
 *   const open = lambdaContainer(async () => config);
 *   export const handler = dynamodbHandler(open);
 */
export function lambdaContainer(loadConfig: () => Promise<SluiceConfig>): OpenContainer {
  return onceUntilFailed(async () => {
    const env = readEnvironment();
    const fromStore = env.ssmPath ? await loadSettings(env.ssmPath, { endpoint: env.ssmEndpoint }) : {};
    const settings: Settings = { ...fromStore, ...(env.databaseUrl ? { databaseUrl: env.databaseUrl } : {}), ...(env.firehoseStream ? { firehoseStream: env.firehoseStream } : {}) };
    const config = deployedConfig(await loadConfig(), env.deployEnv);
    const rt = await LambdaRuntime.open({ config, databaseUrl: settings.databaseUrl, dataDir: env.dataDir ?? '/tmp/sluice' });
    return { rt, settings };
  });
}

/** DynamoDB Streams (ReportBatchItemFailures). */
export function dynamodbHandler(open: OpenContainer): (event: DynamoDBStreamEvent, context?: LambdaContext) => Promise<BatchResponse> {
  return async (event, context) => (await open()).rt.dynamodb(event, context);
}

/** Firehose data transformation; the Sluice stream is the firehose-stream setting or the delivery stream's name. */
export function firehoseTransformHandler(open: OpenContainer): (event: FirehoseTransformationEvent, context?: LambdaContext) => Promise<FirehoseTransformationResult> {
  return async (event) => {
    const { rt, settings } = await open();
    return rt.firehoseTransform(event, settings.firehoseStream);
  };
}

/** Scheduled: delivers what HTTP invocations accepted and could not deliver in time. */
export function drainHandler(open: OpenContainer): (event?: unknown, context?: LambdaContext) => Promise<DrainResult> {
  return async (_event, context) => (await open()).rt.drain(context);
}

/** CloudFormation custom resource (or a direct invoke): migrates the store and creates or evolves the tables. */
export function migrateHandler(open: OpenContainer): (event?: Partial<CustomResourceEvent>, context?: LambdaContext) => Promise<{ status: 'SUCCESS' | 'FAILED'; reason?: string }> {
  return async (event, context) => {
    let status: 'SUCCESS' | 'FAILED' = 'SUCCESS';
    let reason: string | undefined;
    // Delete keeps the data: the store outlives the stack unless the operator drops it.
    if (event?.RequestType !== 'Delete') {
      try {
        await open(); // opening migrates the store and creates or evolves the tables
      } catch (e) {
        status = 'FAILED';
        reason = `${(e as Error).name}: ${(e as Error).message}`.slice(0, 2000);
      }
    }
    if (event?.ResponseURL) await answerCloudFormation(event as CustomResourceEvent, status, reason, context);
    return reason ? { status, reason } : { status };
  };
}

/** The custom-resource response: a PUT of JSON to the pre-signed URL, with no content type (it is not signed). */
async function answerCloudFormation(event: CustomResourceEvent, status: 'SUCCESS' | 'FAILED', reason: string | undefined, context?: LambdaContext): Promise<void> {
  const body = JSON.stringify({
    Status: status,
    Reason: reason ?? (status === 'SUCCESS' ? 'store migrated' : 'failed'),
    PhysicalResourceId: event.PhysicalResourceId ?? `sluice-store-migration`,
    StackId: event.StackId,
    RequestId: event.RequestId,
    LogicalResourceId: event.LogicalResourceId,
    Data: {},
  });
  const left = context?.getRemainingTimeInMillis?.() ?? 30_000;
  await retryAttempts(
    async () => {
      const res = await fetch(event.ResponseURL, { method: 'PUT', body, headers: { 'content-type': '' }, signal: AbortSignal.timeout(Math.max(1000, Math.min(10_000, left / 4))) });
      if (!res.ok) throw new Error(`the response URL answered ${res.status}`);
    },
    { attempts: 3, waitMs: (attempt) => 500 * attempt },
  );
}
