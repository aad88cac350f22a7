/**
 * A stream's error output: a durable table of the records that failed, with the step, a bounded
 * code and the reason. Records are stored after the stream's privacy policy (`protect`), never
 * raw; writes are idempotent on (stream, record id).
 */
import type { Database } from '../store/database.ts';

export interface FailedRecord {
  stream: string;
  tenant: string | null;
  step: string;
  code: string;
  reason: string;
  record_id: string;
  record: unknown;
}

export class ErrorOutput {
  constructor(private readonly db: Database) {}

  async write(failed: FailedRecord[]): Promise<void> {
    if (failed.length === 0) return;
    await this.db.query(
      `insert into sluice.stream_errors (stream, tenant, step, code, reason, record_id, record)
       select stream, tenant, step, code, reason, record_id, record
         from json_to_recordset($1::text::json) as x(stream text, tenant text, step text, code text, reason text, record_id text, record jsonb)
       on conflict (stream, record_id) do nothing`,
      [JSON.stringify(failed.map((f) => ({ ...f, record: f.record === undefined ? null : f.record })))],
    );
  }

  /** Failed records per stream and code, across restarts. */
  async counts(): Promise<Array<{ stream: string; code: string; count: number }>> {
    return this.db.query('select stream, code, count(*)::int as count from sluice.stream_errors group by 1, 2 order by 1, 2');
  }
}
