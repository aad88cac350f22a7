/**
 * `sluice/testing`: builders of the events AWS hands to Lambda, for your own tests of your
 * config, and the in-process Lambda runtime to run them against.
 */
export { apiGatewayEvent, dynamodbStreamEvent, EventBuilderError, firehoseTransformationEvent, NumberValue, s3Event, type DynamoDBStreamEventOptions } from './events.ts';
export { LambdaRuntime } from '../lambda/runtime.ts';
