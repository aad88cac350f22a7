/**
 * The shape of `sluice.config.ts`. Options use snake_case with units in their names
 * (`interval_seconds`, `max_bytes`), as in every Sluice config file.
 */
import type { Loose } from '../core/json/json-text.ts';
import type { TransformContext } from '../core/transform/input-transformer.ts';

/** An EventBridge event envelope, as every source produces it. */
export interface EventEnvelope {
  version: string;
  id: string;
  source: string;
  'detail-type': string;
  time: string;
  account: string;
  region: string;
  resources: string[];
  detail: Loose;
}

/** A TypeScript transform, for what input templates cannot express. Return `undefined` to drop. */
export type TransformFunction = (event: EventEnvelope, ctx: TransformContext) => unknown;

/** Where a rule sends a matched event, and in what form. At most one of the three forms. */
export interface TargetConfig {
  /** Name of a stream in `streams`. */
  stream: string;
  /** EventBridge InputTransformer. */
  input_transformer?: { input_paths_map?: Record<string, string>; input_template: string };
  /** EventBridge InputPath: send this part of the event. */
  input_path?: string;
  /** A function of the event. */
  transform?: TransformFunction;
}

/** An EventBridge rule: an event pattern and its targets. */
export interface RuleConfig {
  name: string;
  description?: string;
  /** An EventBridge event pattern, as a value or as JSON text. */
  pattern: Record<string, unknown> | string;
  targets: TargetConfig[];
}

/** Firehose-style buffering: a batch is flushed when any limit is reached. */
export interface BufferConfig {
  max_records?: number;
  max_bytes?: number;
  interval_seconds?: number;
}

/** Writes each record as a JSON line to standard output (for development). */
export interface StdoutDestinationConfig {
  type: 'stdout';
}

export type DestinationConfig = StdoutDestinationConfig;

/** A Firehose-style delivery stream. */
export interface StreamConfig {
  buffer?: BufferConfig;
  destination: DestinationConfig;
}

/** The whole configuration. */
export interface SluiceConfig {
  rules?: RuleConfig[];
  streams?: Record<string, StreamConfig>;
}

/**
 * Declares a Sluice configuration with types; validated when loaded.
 *
 * @example
 *   export default defineConfig({
 *     rules: [{ name: 'ec2', pattern: { source: ['aws.ec2'] }, targets: [{ stream: 'out' }] }],
 *     streams: { out: { destination: { type: 'stdout' } } },
 *   });
 */
export function defineConfig(config: SluiceConfig): SluiceConfig {
  return config;
}
