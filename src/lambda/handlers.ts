/**
 * Every Lambda handler of one config, sharing one container (see container.ts). `sluice/lambda`
 * makes them from the config file; the bundles `sluice build aws` writes take one each.
 */
import type { SluiceConfig } from '../config/config.ts';
import { dynamodbHandler, drainHandler, firehoseTransformHandler, lambdaContainer, migrateHandler } from './container.ts';
import { httpHandler } from './http-handler.ts';
import { s3Handler } from './s3-handler.ts';

export type { CustomResourceEvent, OpenContainer } from './container.ts';

/**
 * @example
 *   const handlers = createHandlers(async () => config);
 *   export const handler = handlers.dynamodb;
 */
export function createHandlers(loadConfig: () => Promise<SluiceConfig>) {
  const open = lambdaContainer(loadConfig);
  return {
    dynamodb: dynamodbHandler(open),
    firehoseTransform: firehoseTransformHandler(open),
    s3: s3Handler(open),
    http: httpHandler(open),
    drain: drainHandler(open),
    migrate: migrateHandler(open),
  };
}

export type Handlers = ReturnType<typeof createHandlers>;
