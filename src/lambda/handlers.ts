/**
 * The Lambda handlers of one config, with what a container keeps between invocations: the
 * settings from Parameter Store, the store connection, the key rings from Secrets Manager and
 * the assembled pipeline, all loaded once, on the first invocation (a failed load is retried by
 * the next). `sluice/lambda` makes them from the config file; the bundles `sluice build aws`
 * writes make them from the config compiled in.
 */
import type { SluiceConfig } from '../config/config.ts';
import { readEnvironment } from '../config/environment.ts';
import type { DynamoDBStreamEvent } from '../sources/dynamodb/stream-record.ts';
import type { S3Event } from '../sources/s3/object-source.ts';
import { LambdaRuntime, type BatchResponse, type FirehoseTransformationEvent, type FirehoseTransformationResult, type LambdaContext, type LambdaHttpEvent, type LambdaHttpResult, type S3LoadResult } from './runtime.ts';
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

export interface Handlers {
  dynamodb(event: DynamoDBStreamEvent, context?: LambdaContext): Promise<BatchResponse>;
  firehoseTransform(event: FirehoseTransformationEvent, context?: LambdaContext): Promise<FirehoseTransformationResult>;
  s3(event: S3Event, context?: LambdaContext): Promise<S3LoadResult>;
  http(event: LambdaHttpEvent, context?: LambdaContext): Promise<LambdaHttpResult>;
  drain(event?: unknown, context?: LambdaContext): Promise<{ delivered: number; remaining: number }>;
  migrate(event?: Partial<CustomResourceEvent>, context?: LambdaContext): Promise<{ status: 'SUCCESS' | 'FAILED'; reason?: string }>;
}

/**
 * @example
 *   const handlers = createHandlers(async () => config);
 *   export const handler = handlers.dynamodb;
 */
export function createHandlers(loadConfig: () => Promise<SluiceConfig>): Handlers {
  let container: Promise<{ rt: LambdaRuntime; settings: Settings }> | null = null;
  const open = () =>
    (container ??= (async () => {
      const env = readEnvironment();
      const fromStore = env.ssmPath ? await loadSettings(env.ssmPath) : {};
      const settings: Settings = { ...fromStore, ...(env.databaseUrl ? { databaseUrl: env.databaseUrl } : {}), ...(env.firehoseStream ? { firehoseStream: env.firehoseStream } : {}) };
      const config = await loadConfig();
      const rt = await LambdaRuntime.open({ config, databaseUrl: settings.databaseUrl, dataDir: env.dataDir ?? '/tmp/sluice' });
      return { rt, settings };
    })().catch((e) => {
      container = null;
      throw e;
    }));

  return {
    async dynamodb(event, context) {
      return (await open()).rt.dynamodb(event, context);
    },
    async firehoseTransform(event) {
      const { rt, settings } = await open();
      return rt.firehoseTransform(event, settings.firehoseStream);
    },
    async s3(event, context) {
      return (await open()).rt.s3(event, context);
    },
    async http(event, context) {
      return (await open()).rt.httpInvoke(event, context);
    },
    async drain(_event, context) {
      return (await open()).rt.drain(context);
    },
    async migrate(event, context) {
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
    },
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
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch(event.ResponseURL, { method: 'PUT', body, headers: { 'content-type': '' }, signal: AbortSignal.timeout(Math.max(1000, Math.min(10_000, left / 4))) });
      if (res.ok) return;
      throw new Error(`the response URL answered ${res.status}`);
    } catch (e) {
      if (attempt >= 3) throw e;
      await new Promise((r) => setTimeout(r, 500 * attempt));
    }
  }
}
