/**
 * Validates a configuration: structure first, then meaning (patterns compile, transformers are
 * ones AWS accepts, targets name existing streams, names are unique). Every problem is reported,
 * each with its path and what is allowed.
 */
import { PatternError, compilePattern } from '../core/pattern/compile-pattern.ts';
import { TransformConfigError } from '../core/transform/input-transformer.ts';
import { compileTargetTransform } from '../pipeline/router.ts';
import { any, array, boolean, choice, either, fn, integer, join, object, plainObject, record, show, string, tagged, type Check, type ConfigIssue } from './check.ts';
import { isRecord } from '../core/is-record.ts';
import { policyFieldIssues } from './policy-fields.ts';
import { vendorErasureIssues } from '../privacy/vendor-erasure.ts';
import { parseColumnType, TYPE_NAMES } from '../destinations/table/column-types.ts';
import { parseJsonPath } from '../core/transform/json-path.ts';
import { FIELD_POLICIES } from '../core/privacy/pseudonymizer.ts';
import type { MetricsDestinationConfig, SluiceConfig } from './config.ts';

const NAME = /^[A-Za-z0-9._-]{1,64}$/;
const DIMENSION = /^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$/;

const target = object({
  stream: { check: string(), required: true },
  input_transformer: {
    check: object({
      input_paths_map: { check: record(string(), /^.+$/) },
      input_template: { check: string(), required: true },
    }),
  },
  input_path: { check: string() },
  transform: { check: fn() },
});

const rule = object({
  name: { check: string({ pattern: NAME, what: 'a rule name (1 to 64 letters, digits, ".", "_" or "-")' }), required: true },
  description: { check: string({ max: 512 }) },
  pattern: { check: any(), required: true },
  targets: { check: array(target, { min: 1, max: 5 }), required: true },
});

const secretForms = {
  env: object({ env: { check: string({ pattern: /^[A-Za-z_][A-Za-z0-9_]*$/, what: 'an environment variable name' }), required: true } }),
  file: object({ file: { check: string(), required: true } }),
  aws_secret: object({
    aws_secret: { check: string({ pattern: /^[A-Za-z0-9/_+=.@:-]{1,2048}$/, what: 'a Secrets Manager secret name or ARN' }), required: true },
    region: { check: string({ pattern: /^[a-z]{2}(-[a-z]+)+-\d+$/, what: 'an AWS region such as eu-west-1' }) },
    endpoint: { check: string({ pattern: /^https?:\/\/\S+$/, what: 'an http(s) URL' }) },
    version_stage: { check: string({ pattern: /^[A-Za-z0-9_-]{1,256}$/, what: 'a version stage such as AWSCURRENT' }) },
    json_key: { check: string({ max: 256 }) },
  }),
};
/** `{ env }`, `{ file }` or `{ aws_secret }`; a problem is reported against the form the object names. */
const secret: Check = (v, path, issues) => {
  const form = isRecord(v) ? Object.keys(secretForms).find((k) => k in v) : undefined;
  if (!form) issues.push({ path, message: `expected { env: NAME }, { file: PATH } or { aws_secret: NAME_OR_ARN }, got ${show(v)}` });
  else secretForms[form as keyof typeof secretForms](v, path, issues);
};

/** A field policy: a name, or `{ bucket: width }` / `{ bucket: [ascending edges] }`. */
const fieldPolicy: Check = (v, path, issues) => {
  if (!isRecord(v)) {
    if (!FIELD_POLICIES.includes(v as never)) issues.push({ path, message: `expected ${FIELD_POLICIES.map((x) => JSON.stringify(x)).join(', ')} or { bucket: WIDTH | [EDGES] }, got ${show(v)}` });
    return;
  }
  object({
    bucket: {
      required: true,
      check: (b, at, found) => {
        const edges = Array.isArray(b) ? b : null;
        if (typeof b === 'number' && Number.isFinite(b) && b > 0) return;
        if (edges && edges.length >= 1 && edges.length <= 100 && edges.every((e, i) => typeof e === 'number' && Number.isFinite(e) && (i === 0 || e > (edges[i - 1] as number)))) return;
        found.push({ path: at, message: `expected a bucket width above 0 or 1 to 100 ascending bucket edges, got ${show(b)}` });
      },
    },
  })(v, path, issues);
};

const processor = tagged('type', {
  validate: object({
    type: { check: string() },
    schema: { check: either(choice(['unified_metric']), plainObject()) },
    metric_schemas: { check: record(plainObject(), /^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$/) },
    on_invalid: { check: choice(['fail', 'drop']) },
  }),
  enrich: object({ type: { check: string() }, name: { check: string({ pattern: NAME, what: 'a step name' }) }, fn: { check: fn(), required: true } }),
  pseudonymize: object({
    type: { check: string() },
    key: { check: secret, required: true },
    fields: { check: record(fieldPolicy, /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/), required: true },
  }),
  custom: object({ type: { check: string() }, name: { check: string({ pattern: NAME, what: 'a step name' }), required: true }, process: { check: fn(), required: true } }),
});

const SQL_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

const columnType: Check = (v, path, issues) => {
  if (typeof v !== 'string' || parseColumnType(v) === null) issues.push({ path, message: `expected a column type (${TYPE_NAMES}), got ${JSON.stringify(v)}` });
};

const jsonPath: Check = (v, path, issues) => {
  const parsed = typeof v === 'string' ? parseJsonPath(v) : 'expected a JSON path such as "$.detail.amount"';
  if (typeof parsed === 'string') issues.push({ path, message: parsed });
};

const url = string({ pattern: /^https?:\/\/[^\s/]+(\/\S*)?$/, what: 'an http(s) URL' });

/** How an HTTP forwarder sends (DeliveryOptions). */
const delivery = {
  concurrency: { check: integer({ min: 1, max: 64 }) },
  timeout_seconds: { check: integer({ min: 1, max: 300 }) },
  retry_seconds: { check: integer({ min: 0, max: 7200 }) },
};

const rateLimits = object({
  events_per_second: { check: integer({ min: 1 }) },
  burst: { check: integer({ min: 1 }) },
  bytes_per_second: { check: integer({ min: 1024 }) },
  burst_bytes: { check: integer({ min: 1024 }) },
});

const stream = object({
  buffer: {
    check: object({
      max_records: { check: integer({ min: 1, max: 100_000 }) },
      max_bytes: { check: integer({ min: 1, max: 128 * 1024 * 1024 }) },
      interval_seconds: { check: integer({ min: 0, max: 900 }) },
      max_pending_bytes: { check: integer({ min: 64 * 1024, max: 1024 * 1024 * 1024 }) },
      max_parked_bytes: { check: integer({ min: 0, max: 1024 ** 4 }) },
    }),
  },
  processors: { check: array(processor, { max: 20 }) },
  destination: {
    check: tagged('type', {
      stdout: object({ type: { check: string() } }),
      table: object({
        type: { check: string() },
        table: { check: string({ pattern: SQL_NAME, what: 'a table name (lower case letters, digits and _)' }), required: true },
        columns: { check: record(either(columnType, object({ type: { check: columnType, required: true }, from: { check: jsonPath }, value: { check: fn() }, subject: { check: string({ pattern: SQL_NAME, what: 'a field name' }) } })), SQL_NAME), required: true },
        primary_key: { check: array(string({ pattern: SQL_NAME, what: 'a column name' }), { min: 1, max: 8 }), required: true },
        on_conflict: { check: choice(['keep', 'update']) },
      }),
      segment: object({
        type: { check: string() },
        ...delivery,
        write_key: { check: secret, required: true },
        endpoint: { check: url },
        event: { check: jsonPath },
        user_id: { check: jsonPath },
        anonymous_id: { check: jsonPath },
        timestamp: { check: jsonPath },
        properties: { check: jsonPath },
        erasure: {
          check: object({
            token: { check: secret, required: true },
            endpoint: { check: url },
            regulation_type: { check: choice(['SUPPRESS_WITH_DELETE', 'DELETE_ONLY', 'SUPPRESS_WITH_DELETE_INTERNAL', 'DELETE_INTERNAL']) },
            source_id: { check: string({ pattern: /^[A-Za-z0-9_-]{1,64}$/, what: 'a Segment source id' }) },
          }),
        },
      }),
      mixpanel: object({
        type: { check: string() },
        ...delivery,
        project_token: { check: secret },
        service_account: {
          check: object({
            username: { check: string({ max: 256 }), required: true },
            secret: { check: secret, required: true },
            project_id: { check: string({ pattern: /^[0-9]{1,20}$/, what: 'a numeric Mixpanel project id' }), required: true },
          }),
        },
        endpoint: { check: url },
        strict: { check: boolean() },
        event: { check: jsonPath },
        distinct_id: { check: jsonPath },
        time: { check: jsonPath },
        properties: { check: jsonPath },
        erasure: {
          check: object({
            token: { check: secret, required: true },
            project_token: { check: secret },
            endpoint: { check: url },
            compliance_type: { check: choice(['GDPR', 'CCPA']) },
          }),
        },
      }),
      webhook: object({
        type: { check: string() },
        ...delivery,
        url: { check: url, required: true },
        secret: { check: secret, required: true },
        headers: { check: record(string({ max: 4096 }), /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,256}$/) },
        max_request_records: { check: integer({ min: 1, max: 10_000 }) },
        max_request_bytes: { check: integer({ min: 1024, max: 16 * 1024 * 1024 }) },
        erasure: { check: object({ url: { check: url, required: true } }) },
      }),
      archive: object({
        type: { check: string() },
        location: { check: string({ pattern: /^(s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/\S*)?|[^\s].*)$/, what: 's3://bucket/prefix/ or a folder' }), required: true },
        endpoint: { check: url },
        region: { check: string({ pattern: /^[a-z]{2}(-[a-z]+)+-\d+$/, what: 'an AWS region such as eu-west-1' }) },
        force_path_style: { check: boolean() },
        subject_index: { check: boolean() },
      }),
      metrics: object({
        type: { check: string() },
        retention_days: { check: integer({ min: 1, max: 36_500 }) },
        rollup_dimensions: { check: array(string({ pattern: DIMENSION, what: 'a dimension name' }), { max: 16 }) },
      }),
    }),
    required: true,
  },
});

const root = object({
  rules: { check: array(rule) },
  streams: { check: record(stream) },
  ingest: {
    check: object({
      rate_limit: { check: rateLimits },
      tenants: { check: record(rateLimits, /^[A-Za-z0-9._:-]{1,128}$/) },
      max_pending_bytes: { check: integer({ min: 1024 * 1024 }) },
    }),
  },
  jetstream: {
    check: object({
      stream: { check: string({ pattern: /^[A-Za-z0-9_-]{1,32}$/, what: 'a JetStream stream name (letters, digits, _ and -, up to 32)' }) },
      replicas: { check: integer({ min: 1, max: 5 }) },
      max_bytes: { check: integer({ min: 1024 * 1024 }) },
      ack_wait_seconds: { check: integer({ min: 1, max: 3600 }) },
      max_ack_pending: { check: integer({ min: 1, max: 1_000_000 }) },
      max_lag_messages: { check: integer({ min: 1, max: 100_000_000 }) },
    }),
  },
  embed: {
    check: object({
      secret: { check: secret },
      public_keys: { check: array(secret, { max: 8 }) },
    }),
  },
  sources: {
    check: object({
      dynamodb: { check: object({ ttl_removals: { check: choice(['ignore', 'route']) } }) },
      s3: {
        check: object({
          stream: { check: string({ pattern: /^[a-z][a-z0-9_-]{0,62}$/, what: 'a stream name' }) },
          endpoint: { check: string({ pattern: /^(https?|file):\/\/\S+$/, what: 'an http(s):// or file:/// URL' }) },
          force_path_style: { check: boolean() },
        }),
      },
    }),
  },
});

/**
 * Returns every problem in a configuration (an empty list when it is valid).
 *
 * @example validateConfig({ streams: { s: { buffer: { max_bytes: '5MB' } } } })
 *   // [{ path: 'streams.s.buffer.max_bytes', message: 'expected a positive integer …, got "5MB"' }, …]
 */
export function validateConfig(config: unknown): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  root(config, '', issues);
  // With problems of shape, the rules whose own shape is right are still compiled, so that one
  // run reports a bad buffer size and a bad pattern together; checks across parts wait.
  const shapeIssues = issues.slice();
  const sound = (at: string): boolean => !shapeIssues.some((x) => x.path === at || x.path.startsWith(`${at}.`) || x.path.startsWith(`${at}[`));
  if (!isRecord(config)) return issues;
  const c = config as SluiceConfig;
  // Stream names can be checked against whenever `streams` is an object, whatever is inside.
  const streamsKnown = c.streams === undefined || (isRecord(c.streams) && !shapeIssues.some((x) => x.path === 'streams'));
  const streams = new Set(streamsKnown ? Object.keys(c.streams ?? {}) : []);
  const seen = new Set<string>();
  (Array.isArray(c.rules) ? c.rules : []).forEach((r, i) => {
    const at = join('rules', i);
    if (!sound(at)) return;
    if (seen.has(r.name)) issues.push({ path: join(at, 'name'), message: `duplicate rule name "${r.name}"` });
    seen.add(r.name);
    try {
      compilePattern(r.pattern as never);
    } catch (e) {
      if (!(e instanceof PatternError)) throw e;
      issues.push({ path: e.where ? `${at}.pattern.${e.where}` : `${at}.pattern`, message: e.reason });
    }
    r.targets.forEach((t, j) => {
      const tat = join(join(at, 'targets'), j);
      if (streamsKnown && !streams.has(t.stream)) {
        const known = [...streams].map((s) => JSON.stringify(s)).join(', ') || 'none are defined';
        issues.push({ path: join(tat, 'stream'), message: `no stream named "${t.stream}"; streams: ${known}` });
      }
      const forms = ['input_transformer', 'input_path', 'transform'].filter((k) => t[k as keyof typeof t] !== undefined);
      if (forms.length > 1) issues.push({ path: tat, message: `${forms.join(' and ')} are mutually exclusive; use one` });
      try {
        compileTargetTransform(t);
      } catch (e) {
        if (!(e instanceof TransformConfigError)) throw e;
        const where = e.where === 'input_path' ? 'input_path' : `input_transformer.${e.where}`;
        issues.push({ path: `${tat}.${where}`, message: e.reason });
      }
    });
  });
  if (shapeIssues.length > 0) return issues;
  const s3Stream = c.sources?.s3?.stream;
  if (s3Stream !== undefined && !streams.has(s3Stream)) {
    issues.push({ path: 'sources.s3.stream', message: `no stream named "${s3Stream}"; streams: ${[...streams].map((s) => JSON.stringify(s)).join(', ') || 'none are defined'}` });
  }
  for (const [name, st] of Object.entries(c.streams ?? {})) {
    const d = st.destination;
    if (d.type === 'mixpanel' && (d.project_token === undefined) === (d.service_account === undefined)) {
      issues.push({ path: `streams.${name}.destination`, message: 'a mixpanel destination needs exactly one of project_token or service_account' });
    }
    if (d.type === 'mixpanel' && d.erasure && !d.erasure.project_token && !d.project_token) {
      issues.push({ path: `streams.${name}.destination.erasure.project_token`, message: 'a deletion task names the project by its token: give erasure.project_token (the destination authenticates with a service account)' });
    }
    issues.push(...vendorErasureIssues(name, st));
  }
  const tables = new Map<string, string>();
  for (const [name, st] of Object.entries(c.streams ?? {})) {
    const d = st.destination;
    if (d.type !== 'table') continue;
    const at = `streams.${name}.destination`;
    for (const k of d.primary_key) if (!(k in d.columns)) issues.push({ path: `${at}.primary_key`, message: `column ${k} is not among the columns` });
    for (const [col, spec] of Object.entries(d.columns)) {
      if (typeof spec === 'object' && spec.from !== undefined && spec.value !== undefined) issues.push({ path: `${at}.columns.${col}`, message: 'from and value are mutually exclusive; use one' });
    }
    const other = tables.get(d.table);
    if (other) issues.push({ path: `${at}.table`, message: `stream ${other} already writes table ${d.table}; one stream per table` });
    tables.set(d.table, name);
  }
  issues.push(...policyFieldIssues(c));
  // Every metrics destination writes the one store, whose rollups have one set of dimensions.
  const rollups = Object.entries(c.streams ?? {}).filter(([, st]) => st.destination.type === 'metrics');
  const sets = new Set(rollups.map(([, st]) => JSON.stringify([...new Set((st.destination as MetricsDestinationConfig).rollup_dimensions ?? [])].sort())));
  if (sets.size > 1) {
    for (const [name] of rollups) {
      issues.push({ path: `streams.${name}.destination.rollup_dimensions`, message: 'every metrics destination must list the same rollup_dimensions (they share one store)' });
    }
  }
  return issues;
}
