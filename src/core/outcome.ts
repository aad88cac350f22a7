/**
 * What a processing step decides for one record: keep it (possibly changed), drop it with a
 * reason, or fail it with a bounded error code and a reason. Failed records go to the stream's
 * error output; nothing vanishes silently.
 */

export type Outcome = { kind: 'ok'; value: unknown } | { kind: 'drop'; reason: string } | { kind: 'fail'; code: string; reason: string };

/** Error codes are short and machine-readable: lower-case words joined by "_". */
export const ERROR_CODE = /^[a-z][a-z0-9_]{0,47}$/;

/** @example ok({ ...record, extra: 1 }) */
export const ok = (value: unknown): Outcome => ({ kind: 'ok', value });
/** @example drop('test tenant') */
export const drop = (reason: string): Outcome => ({ kind: 'drop', reason });
/** @example fail('missing_tenant', 'metadata.tenant_id is required') */
export const fail = (code: string, reason: string): Outcome => ({
  kind: 'fail',
  code: ERROR_CODE.test(code) ? code : 'processor_error',
  reason: reason.slice(0, 500),
});
