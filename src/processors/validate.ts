/**
 * `validate`: JSON Schema validation with Ajv. The unified metric schema of Sluice is built in;
 * per-metric schemas check `data` of one metric. Messages name the failing path and rule, never
 * the value.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { drop, fail, ok, type Outcome } from '../core/outcome.ts';
import type { ValidateProcessorConfig } from '../config/config.ts';
import type { Processor } from './processor.ts';
import { isDateTime } from '../core/date-time.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

/** The unified metric record: `{ metric_name, metadata: { tenant_id, event_time, … }, data }`. */
export const UNIFIED_METRIC_SCHEMA = {
  type: 'object',
  required: ['metric_name', 'metadata', 'data'],
  additionalProperties: false,
  properties: {
    metric_name: { type: 'string', pattern: '^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$' },
    metadata: {
      type: 'object',
      required: ['tenant_id', 'event_time'],
      properties: {
        tenant_id: { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]{0,62}$' },
        event_id: { type: 'string', minLength: 1, maxLength: 256 },
        event_time: { type: 'string', format: 'date-time' },
      },
      additionalProperties: { type: ['string', 'number', 'boolean', 'null'] },
    },
    data: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean', 'null'] } },
  },
} as const;

function describe(v: ValidateFunction, prefix = ''): string {
  const e = v.errors?.[0];
  if (!e) return 'does not match the schema';
  return `${prefix}${e.instancePath || '/'} ${e.message ?? 'is invalid'}`;
}

/**
 * @example
 *   const v = createValidate({ type: 'validate' });
 *   v.process([{ metric_name: 'x' }]); // [{ kind: 'fail', code: 'schema_invalid', … }]
 */
export function createValidate(config: ValidateProcessorConfig): Processor {
  const ajv = addFormats(new Ajv({ allErrors: false, strict: false }));
  // The same check as ajv-formats' date-time (test/processors/date-time.test.ts compares them), without
  // the strings its regular expressions allocate: event_time is checked for every record.
  ajv.addFormat('date-time', { ...(ajv.formats['date-time'] as object), validate: isDateTime });
  const whole = ajv.compile(config.schema === undefined || config.schema === 'unified_metric' ? UNIFIED_METRIC_SCHEMA : config.schema);
  const perMetric = new Map(Object.entries(config.metric_schemas ?? {}).map(([m, s]) => [m, ajv.compile(s)]));
  const invalid = (reason: string): Outcome => (config.on_invalid === 'drop' ? drop(reason) : fail('schema_invalid', reason));
  return {
    step: 'validate',
    process(records) {
      return records.map((r) => {
        if (!whole(r)) return invalid(describe(whole));
        const metric = (r as { metric_name?: unknown }).metric_name;
        const v = typeof metric === 'string' ? perMetric.get(metric) : undefined;
        if (v && !v((r as { data?: unknown }).data)) return invalid(describe(v, `/data (schema of ${metric})`));
        return ok(r);
      });
    },
  };
}
