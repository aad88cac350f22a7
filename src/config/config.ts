/**
 * The shape of `sluice.config.ts`. Options use snake_case with units in their names
 * (`interval_seconds`, `max_bytes`), as in every Sluice config file.
 */
import type { Loose } from '../core/json/json-text.ts';
import type { TransformContext } from '../core/transform/input-transformer.ts';
import type { Outcome } from '../core/outcome.ts';
import type { FieldPolicy } from '../core/privacy/pseudonymizer.ts';

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
  /**
   * The stream's own share of memory: records buffered or being delivered, in bytes. Past it (a
   * slow or failing destination), the stream's new records wait in the intake log instead, and
   * the other streams go on. Default: half of `ingest.max_pending_bytes`, at least `max_bytes`.
   */
  max_pending_bytes?: number;
  /**
   * How much of the stream's records may wait parked in the intake log (bytes as stored). Past
   * it they stay in memory, and the process's `ingest.max_pending_bytes` pushes back on producers
   * (503), as with no parking. Default 256 MiB.
   */
  max_parked_bytes?: number;
}

/** Writes each record as a JSON line to standard output (for development). */
export interface StdoutDestinationConfig {
  type: 'stdout';
}

/**
 * The metrics store: unified metric records become points (dimensions, measures, time) of their
 * tenant, idempotent on the record id.
 */
export interface MetricsDestinationConfig {
  type: 'metrics';
  /** Points older than this are dropped, a day partition at a time. Default 400. */
  retention_days?: number;
  /**
   * Dimensions the hourly rollups keep, for long-range queries grouped or filtered by them.
   * List low-cardinality ones (plan, country), never a user id. Default: none. Changing the list
   * rebuilds the rollups from the points at the next start.
   */
  rollup_dimensions?: string[];
}

/** One column of a `table` destination. */
export interface TableColumnConfig {
  /** A PostgreSQL type: text, varchar(n), smallint, integer, bigint, numeric(p,s), real, double precision, boolean, date, timestamptz, jsonb, uuid. */
  type: string;
  /** A JSON path into the record (`$.amount`); default `$.<column name>`. */
  from?: string;
  /** Or a function of the record, for what a path cannot say. */
  value?: (record: unknown) => unknown;
  /**
   * The column holds pseudonyms of this subject field (e.g. `user_id`): `sluice erase --field
   * user_id` deletes the rows whose value is one of the subject's pseudonyms.
   */
  subject?: string;
}

/**
 * A SQL table (in schema `bi`) for BI tools: Sluice creates it, adds columns and widens types as
 * the config changes (never drops or narrows), and writes batches idempotently on the key.
 */
export interface TableDestinationConfig {
  type: 'table';
  table: string;
  /** Column name → type (the value is read from `$.<name>`) or a full column. */
  columns: Record<string, string | TableColumnConfig>;
  primary_key: string[];
  /** A row whose key exists: `keep` the first (immutable facts; default) or `update` it. */
  on_conflict?: 'keep' | 'update';
}

/** How an HTTP forwarder sends: requests in flight, timeout, and how long it retries before dead-lettering. */
export interface DeliveryOptions {
  /** Requests in flight at once for one batch. Default 4. */
  concurrency?: number;
  /** Seconds without an answer before a request is abandoned and retried. Default 30. */
  timeout_seconds?: number;
  /** Seconds a failing request is retried (network errors, timeouts, 408, 429, 5xx) before its records become dead letters. Default 300, as Firehose. */
  retry_seconds?: number;
}

/**
 * Segment's HTTP Tracking API (`POST /v1/batch`): each record becomes a `track` call. The paths
 * default to the unified metric record; `messageId` is the record id, so Segment dedups retries.
 */
export interface SegmentDestinationConfig extends DeliveryOptions {
  type: 'segment';
  write_key: SecretSource;
  /** Default https://api.segment.io (https://events.eu1.segmentapis.com for the EU workspace region). */
  endpoint?: string;
  /** The event name; default `$.metric_name`. */
  event?: string;
  /** Default `$.metadata.user_id` (pseudonymized by the stream's policy). A record needs this or `anonymous_id`. */
  user_id?: string;
  anonymous_id?: string;
  /** Default `$.metadata.event_time`. */
  timestamp?: string;
  /** Default `$.data`. */
  properties?: string;
  /** Ask Segment to delete an erased subject's data too (docs/bi.md, "Erasure at the vendors"). */
  erasure?: SegmentErasureConfig;
}

/**
 * Segment's Public API regulations: an erasure asks Segment to delete (and by default suppress)
 * the subject's `userId`s, that is its pseudonyms. `POST /regulations` for the whole workspace,
 * or `POST /regulations/sources/{source_id}` for one source.
 */
export interface SegmentErasureConfig {
  /** A Public API token allowed to create regulations (Workspace Owner). */
  token: SecretSource;
  /** Default https://api.segmentapis.com (https://eu1.api.segmentapis.com for the EU region). */
  endpoint?: string;
  /** Default `SUPPRESS_WITH_DELETE`: delete what Segment holds and block what still arrives. */
  regulation_type?: 'SUPPRESS_WITH_DELETE' | 'DELETE_ONLY' | 'SUPPRESS_WITH_DELETE_INTERNAL' | 'DELETE_INTERNAL';
  /** Regulate one source instead of the workspace. */
  source_id?: string;
}

/**
 * Mixpanel's GDPR and CCPA API (v3): an erasure creates a deletion task for the subject's
 * `distinct_id`s, that is its pseudonyms (`POST /api/app/data-deletions/v3.0/?token=…`).
 */
export interface MixpanelErasureConfig {
  /** The GDPR API OAuth token (Mixpanel's Data & Privacy settings; it expires after a year). */
  token: SecretSource;
  /** The project token the task names; default the destination's `project_token` (required with a service account). */
  project_token?: SecretSource;
  /** Default https://mixpanel.com (https://eu.mixpanel.com, https://in.mixpanel.com for other residencies). */
  endpoint?: string;
  /** Default `GDPR`. */
  compliance_type?: 'GDPR' | 'CCPA';
}

/**
 * Mixpanel's `/import` API: gzip, strict mode, `$insert_id` from the record id (Mixpanel dedups on
 * it). Authenticates with a project token or a service account (with the project id).
 */
export interface MixpanelDestinationConfig extends DeliveryOptions {
  type: 'mixpanel';
  project_token?: SecretSource;
  service_account?: { username: string; secret: SecretSource; project_id: string };
  /** Default https://api.mixpanel.com (https://api-eu.mixpanel.com, https://api-in.mixpanel.com for other residencies). */
  endpoint?: string;
  /** Per-event validation with per-event errors (default true). */
  strict?: boolean;
  /** Default `$.metric_name`. */
  event?: string;
  /** Default `$.metadata.user_id`; an absent one is sent as "" (Mixpanel's "no user"). */
  distinct_id?: string;
  /** Default `$.metadata.event_time` (ISO 8601 or epoch seconds/milliseconds). */
  time?: string;
  /** Default `$.data`. */
  properties?: string;
  /** Ask Mixpanel to delete an erased subject's data too (docs/bi.md, "Erasure at the vendors"). */
  erasure?: MixpanelErasureConfig;
}

/**
 * JSON batches to any URL, signed: `Sluice-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`
 * with `Sluice-Timestamp: <unix seconds>` (see docs/destinations.md to verify it).
 */
export interface WebhookDestinationConfig extends DeliveryOptions {
  type: 'webhook';
  url: string;
  secret: SecretSource;
  /** Extra request headers (not secrets: those belong in `secret`). */
  headers?: Record<string, string>;
  /** Records per request; default 500. */
  max_request_records?: number;
  /** Bytes per request body; default 1 MiB. */
  max_request_bytes?: number;
  /** Tell the receiver of an erased subject's pseudonyms, so it deletes them too (docs/bi.md, "Erasure at the vendors"). */
  erasure?: WebhookErasureConfig;
}

/**
 * Erasure requests to a webhook's receiver: `POST <url>` with `{ "type": "erasure", "id",
 * "stream", "pseudonyms" }`, signed like the batches (same secret and headers).
 */
export interface WebhookErasureConfig {
  /** Where erasure requests go (not the batches' URL: a receiver tells them apart by where they arrive). */
  url: string;
}

/**
 * Every batch as a gzip NDJSON object in a folder or an S3-compatible bucket, under Firehose's
 * prefixes: `Data/YYYY/MM/DD/HH/` and, for the batch's failed records, `Error/<code>/YYYY/MM/DD/HH/`.
 * An object's name derives from its records, so a retried upload overwrites itself.
 */
export interface ArchiveDestinationConfig {
  type: 'archive';
  /** `s3://bucket/prefix/` or a folder (path or `file:///dir`). */
  location: string;
  /** An S3-compatible endpoint (MinIO, s3rver); default AWS. */
  endpoint?: string;
  region?: string;
  /** Default true when `endpoint` is set. */
  force_path_style?: boolean;
  /**
   * Index each object's pseudonyms in the database (default true), so an erasure reads only the
   * objects holding its subjects; without, every erasure reads the whole archive.
   */
  subject_index?: boolean;
}

export type DestinationConfig =
  | StdoutDestinationConfig
  | MetricsDestinationConfig
  | TableDestinationConfig
  | SegmentDestinationConfig
  | MixpanelDestinationConfig
  | WebhookDestinationConfig
  | ArchiveDestinationConfig;

/** Validates each record against a JSON Schema (Ajv); the unified metric schema is built in. */
export interface ValidateProcessorConfig {
  type: 'validate';
  /** `"unified_metric"` (the default) or a JSON Schema of the whole record. */
  schema?: 'unified_metric' | Record<string, unknown>;
  /** Per-metric JSON Schemas of `data`, keyed by `metric_name`. */
  metric_schemas?: Record<string, Record<string, unknown>>;
  /** What happens to a record that does not conform: `fail` (to the error output; default) or `drop`. */
  on_invalid?: 'fail' | 'drop';
}

/** An async function over a batch returning the enriched records, in order (see `cached`). */
export interface EnrichProcessorConfig {
  type: 'enrich';
  name?: string;
  fn: (records: unknown[]) => Promise<unknown[]> | unknown[];
}

/**
 * Where a secret comes from, read once at start: an environment variable, a file, or AWS Secrets
 * Manager (GetSecretValue with the default credential chain; `json_key` picks one key of a
 * secret stored as a JSON object; `endpoint` for a VPC endpoint or a local stand-in).
 */
export type SecretSource = { env: string } | { file: string } | AwsSecretSource;

export interface AwsSecretSource {
  aws_secret: string;
  region?: string;
  endpoint?: string;
  version_stage?: string;
  json_key?: string;
}

/**
 * Pseudonymizes personal data: HMAC-SHA256 under a key ring (`k2:secret,k1:secret`, the first is
 * current), with a policy per field path (`metadata.user_id: 'hash'`).
 */
export interface PseudonymizeProcessorConfig {
  type: 'pseudonymize';
  key: SecretSource;
  fields: Record<string, FieldPolicy>;
}

/** Your own step: returns one outcome per record (`ok(record)`, `drop(reason)`, `fail(code, reason)`). */
export interface CustomProcessorConfig {
  type: 'custom';
  name: string;
  process: (records: unknown[]) => Promise<Outcome[]> | Outcome[];
}

export type ProcessorConfig = ValidateProcessorConfig | EnrichProcessorConfig | PseudonymizeProcessorConfig | CustomProcessorConfig;

/** A Firehose-style delivery stream: buffer, processors in order, one destination. */
export interface StreamConfig {
  buffer?: BufferConfig;
  processors?: ProcessorConfig[];
  destination: DestinationConfig;
}

/** A tenant's ingest quota (token buckets). */
export interface RateLimits {
  events_per_second?: number;
  burst?: number;
  /** Bytes of events per second; unlimited unless set. */
  bytes_per_second?: number;
  /** Bytes at once; default twice bytes_per_second. */
  burst_bytes?: number;
}

/** Limits on what producers may send. */
export interface IngestConfig {
  /**
   * Per tenant: sustained events per second and burst, and optionally bytes per second and a byte
   * burst (token buckets). Over either: 429 with Retry-After.
   */
  rate_limit?: RateLimits;
  /** Limits of particular tenants, over `rate_limit` (`{ acme: { events_per_second: 500 } }`). */
  tenants?: Record<string, RateLimits>;
  /** Accepted but not yet delivered bytes before intake answers 503 (backpressure). Default 16 MiB. */
  max_pending_bytes?: number;
}

/** Embedded charts (docs/ui.md, "Embedding a chart in your product"). */
export interface EmbedConfig {
  /**
   * The HS256 secret embed tokens are signed with, for backends that sign their own (at least 32
   * bytes). Without it Sluice keeps a generated one and only tokens from POST /v1/embed-tokens work.
   */
  secret?: SecretSource;
  /** Ed25519 public keys (PEM, SPKI) that EdDSA-signed embed tokens may be verified with. */
  public_keys?: SecretSource[];
}

/** The whole configuration. */
export interface SluiceConfig {
  rules?: RuleConfig[];
  streams?: Record<string, StreamConfig>;
  ingest?: IngestConfig;
  sources?: SourcesConfig;
  embed?: EmbedConfig;
  jetstream?: JetStreamConfig;
}

/**
 * The JetStream intake (`sluice start --intake jetstream`, `sluice worker`): the stream and the
 * durable consumer Sluice creates or updates at start. API nodes and workers share one config.
 */
export interface JetStreamConfig {
  /** Stream name (`--nats-stream` overrides). Default SLUICE_INTAKE. */
  stream?: string;
  /** Stream replicas: 1 on a single server, 3 or 5 on a cluster. Default 1. */
  replicas?: number;
  /** Bytes the stream may hold before JetStream refuses publishes (the API answers 503). Default 1 GiB. */
  max_bytes?: number;
  /** A message a worker has not acknowledged after this long goes to another (`--ack-wait` overrides). Default 30. */
  ack_wait_seconds?: number;
  /** Messages delivered to workers and not yet acknowledged, across all of them. Default 20,000. */
  max_ack_pending?: number;
  /** Messages waiting for a worker before API nodes answer 503 `overloaded`. Default 100,000. */
  max_lag_messages?: number;
}

/** How the Lambda sources turn their records into events. */
export interface SourcesConfig {
  dynamodb?: {
    /** Removals DynamoDB makes when an item's TTL expires: `ignore` them (default) or `route` them like other REMOVEs. */
    ttl_removals?: 'ignore' | 'route';
  };
  /** S3 object-created notifications: NDJSON (or gzip NDJSON) objects loaded line by line. */
  s3?: {
    /** The stream that unified metric records (lines with `metric_name`) go to; default `metrics`. EventBridge envelopes are routed by the rules. */
    stream?: string;
    /** An S3-compatible endpoint (MinIO, s3rver), or `file:///dir` to read `dir/<bucket>/<key>` locally; default AWS. */
    endpoint?: string;
    /** Path-style addressing, which most S3-compatible servers need; default true when `endpoint` is set. */
    force_path_style?: boolean;
  };
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
