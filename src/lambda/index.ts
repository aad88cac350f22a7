/**
 * `sluice/lambda`: one handler per source, for AWS Lambda. The config comes from SLUICE_CONFIG
 * (default `sluice.config.ts` beside the function), the store from DATABASE_URL; both, and the
 * key rings (Secrets Manager), are loaded once per container on the first invocation.
 *
 * @example
 *   // handler: node_modules/sluice/src/lambda/index.dynamodb
 *   export { dynamodb as handler } from 'sluice/lambda';
 */
import { loadConfig, readEnvironment } from '../config/load-config.ts';
import { LambdaRuntime, type BatchResponse, type FirehoseTransformationEvent, type FirehoseTransformationResult, type LambdaContext } from './runtime.ts';
import type { DynamoDBStreamEvent } from '../sources/dynamodb/stream-record.ts';

export { LambdaRuntime } from './runtime.ts';
export type { BatchResponse, FirehoseTransformationEvent, FirehoseTransformationResult, LambdaContext, LambdaOptions } from './runtime.ts';

let container: Promise<LambdaRuntime> | null = null;

/** The container's runtime, opened on first use (a failed open is retried by the next invocation). */
function runtime(): Promise<LambdaRuntime> {
  container ??= (async () => {
    const env = readEnvironment();
    const config = await loadConfig(env.configFile);
    return LambdaRuntime.open({ config, databaseUrl: env.databaseUrl, dataDir: env.dataDir ?? '/tmp/sluice' });
  })().catch((e) => {
    container = null;
    throw e;
  });
  return container;
}

/** DynamoDB Streams (ReportBatchItemFailures). */
export async function dynamodb(event: DynamoDBStreamEvent, context?: LambdaContext): Promise<BatchResponse> {
  return (await runtime()).dynamodb(event, context);
}

/** Firehose data transformation; the Sluice stream is SLUICE_FIREHOSE_STREAM or the delivery stream's name. */
export async function firehoseTransform(event: FirehoseTransformationEvent): Promise<FirehoseTransformationResult> {
  return (await runtime()).firehoseTransform(event, process.env.SLUICE_FIREHOSE_STREAM || undefined);
}
