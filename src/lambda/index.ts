/**
 * `sluice/lambda`: one handler per source, for AWS Lambda. The config comes from SLUICE_CONFIG
 * (default `sluice.config.ts` beside the function), the store from DATABASE_URL or the
 * `database-url` parameter under SLUICE_SSM_PATH; all of it, and the key rings (Secrets
 * Manager), are loaded once per container on the first invocation. `sluice build aws` writes
 * self-contained bundles of the same handlers with the config compiled in.
 *
 * @example
 *   // handler: index.dynamodb
 *   export { dynamodb } from 'sluice/lambda';
 */
import { loadConfig, readEnvironment } from '../config/load-config.ts';
import { createHandlers } from './handlers.ts';

export { LambdaRuntime } from './runtime.ts';
export { createHandlers, type CustomResourceEvent, type Handlers } from './handlers.ts';
export type { BatchResponse, DrainResult, FirehoseTransformationEvent, FirehoseTransformationResult, LambdaContext, LambdaOptions } from './runtime.ts';
export type { S3LoadResult } from './s3-handler.ts';
export type { LambdaHttpEvent, LambdaHttpResult } from './http-handler.ts';

const handlers = createHandlers(() => loadConfig(readEnvironment().configFile));

/** DynamoDB Streams (ReportBatchItemFailures). */
export const dynamodb = handlers.dynamodb;
/** Firehose data transformation; the Sluice stream is SLUICE_FIREHOSE_STREAM or the delivery stream's name. */
export const firehoseTransform = handlers.firehoseTransform;
/** S3 object created (NDJSON, gzip NDJSON). */
export const s3 = handlers.s3;
/** The HTTP API behind API Gateway (REST v1, HTTP v2) or a function URL. */
export const http = handlers.http;
/** Scheduled: delivers what HTTP invocations accepted and could not deliver in time. */
export const drain = handlers.drain;
/** CloudFormation custom resource: migrates the store at deploy. */
export const migrate = handlers.migrate;
