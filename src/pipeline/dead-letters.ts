/**
 * Dead letters: records a destination refused (a 4xx from a vendor, a value a table cannot hold)
 * or that exhausted their retries, stored durably with the stream, the destination, a bounded
 * code, the reason, the attempts and the first and last failure. A record is stored as the
 * destination would have received it (after the stream's processors, so pseudonymized), never
 * raw. Writes are idempotent on (stream, record id): a record failing again updates its row.
 *
 * Redrive sends pending dead letters back to their stream through the intake log (kind
 * `redrive`, in the same transaction that marks them), so a running process or the redriving
 * command delivers them; they skip the processors they already went through, and destinations
 * dedup on the record id, so a redrive never counts twice.
 */
import type { Database, Param } from '../store/database.ts';

export interface DeadLetter {
  stream: string;
  destination: string;
  /** The tenant of the key the record came in with (`*` for an admin key): a redrive keeps it. */
  source_tenant: string;
  /** The tenant the record is for, when it says. */
  tenant: string | null;
  code: string;
  reason: string;
  record_id: string;
  record: unknown;
  attempts: number;
}

export interface DeadLetterRow {
  id: number;
  stream: string;
  destination: string;
  tenant: string | null;
  code: string;
  reason: string;
  record_id: string;
  attempts: number;
  first_failed_at: string;
  last_failed_at: string;
  /** When it was last sent back to its stream; null while pending. */
  redriven_at: string | null;
  redrives: number;
  record?: unknown;
}

/** Which dead letters a list, redrive or purge takes. Times are ISO 8601 and bound the last failure. */
export interface DeadLetterFilter {
  stream?: string;
  destination?: string;
  code?: string;
  since?: string;
  until?: string;
  ids?: number[];
  /** Also those already redriven (list and purge; a redrive takes pending ones only). */
  all?: boolean;
}

export const MAX_LIST = 1000;
/** Dead letters one redrive sends back, at most (run it again for more). */
export const MAX_REDRIVE = 100_000;
/** Records per intake log entry a redrive writes. */
const REDRIVE_CHUNK = 500;

export class DeadLetterError extends Error {}

/** Checks a filter's values; throws DeadLetterError naming the bad one. */
export function checkFilter(f: DeadLetterFilter): DeadLetterFilter {
  for (const k of ['since', 'until'] as const) {
    if (f[k] !== undefined && !Number.isFinite(Date.parse(f[k]!))) throw new DeadLetterError(`${k} must be an ISO 8601 date-time, got ${JSON.stringify(f[k])}`);
  }
  for (const k of ['stream', 'destination', 'code'] as const) {
    const v = f[k];
    if (v !== undefined && (typeof v !== 'string' || v.length === 0 || v.length > 200)) throw new DeadLetterError(`${k} must be a non-empty string of at most 200 characters`);
  }
  if (f.ids !== undefined && (!Array.isArray(f.ids) || f.ids.length > MAX_LIST || f.ids.some((i) => !Number.isSafeInteger(i) || i < 1))) {
    throw new DeadLetterError(`ids must be at most ${MAX_LIST} positive integers`);
  }
  return f;
}

const FILTER_KEYS = ['stream', 'destination', 'code', 'since', 'until', 'ids', 'all'];

/**
 * A filter from loose input (query parameters, a JSON body, CLI options): strings as they come,
 * `ids` as an array or a comma-separated list, `all` as a boolean or "true"/"false". Throws
 * DeadLetterError naming an unknown key or a bad value.
 *
 * @example filterFrom({ stream: 'to-segment', ids: '4,5' }) // { stream: 'to-segment', ids: [4, 5] }
 */
export function filterFrom(input: Record<string, unknown>, extraKeys: string[] = []): DeadLetterFilter {
  const f: DeadLetterFilter = {};
  for (const [k, v] of Object.entries(input)) {
    if (v === undefined || extraKeys.includes(k)) continue;
    if (!FILTER_KEYS.includes(k)) throw new DeadLetterError(`unknown filter ${JSON.stringify(k)}; filters: ${[...FILTER_KEYS, ...extraKeys].join(', ')}`);
    if (k === 'ids') {
      const list = typeof v === 'string' ? v.split(',').map((x) => Number(x.trim())) : v;
      f.ids = list as number[];
    } else if (k === 'all') {
      if (v !== true && v !== false && v !== 'true' && v !== 'false') throw new DeadLetterError('all must be true or false');
      f.all = v === true || v === 'true';
    } else if (typeof v !== 'string') throw new DeadLetterError(`${k} must be a string`);
    else (f as Record<string, unknown>)[k] = v;
  }
  return checkFilter(f);
}

/** Whether a filter narrows anything (purge refuses an empty one unless told to take everything). */
export function narrows(f: DeadLetterFilter): boolean {
  return f.stream !== undefined || f.destination !== undefined || f.code !== undefined || f.since !== undefined || f.until !== undefined || f.ids !== undefined;
}

/** The SQL condition of a filter and its parameters, numbered from `first`. */
function where(f: DeadLetterFilter, first = 1, pendingOnly = !f.all): { sql: string; params: Param[] } {
  const parts: string[] = [];
  const params: Param[] = [];
  const add = (cond: string, value: Param): void => {
    params.push(value);
    parts.push(cond.replace('?', `$${first + params.length - 1}`));
  };
  if (f.stream !== undefined) add('stream = ?', f.stream);
  if (f.destination !== undefined) add('destination = ?', f.destination);
  if (f.code !== undefined) add('code = ?', f.code);
  if (f.since !== undefined) add('last_failed_at >= ?::timestamptz', f.since);
  if (f.until !== undefined) add('last_failed_at < ?::timestamptz', f.until);
  if (f.ids !== undefined) add('id in (select json_array_elements_text(?::text::json)::bigint)', JSON.stringify(f.ids));
  if (pendingOnly) parts.push('redriven_at is null');
  return { sql: parts.length ? parts.join(' and ') : 'true', params };
}

const COLUMNS = `id::float8 as id, stream, destination, tenant, code, reason, record_id, attempts,
  to_char(first_failed_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as first_failed_at,
  to_char(last_failed_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as last_failed_at,
  to_char(redriven_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as redriven_at, redrives`;

/**
 * @example
 *   const dl = new DeadLetters(db);
 *   await dl.write([{ stream: 'to-segment', destination: 'segment', source_tenant: 'acme', tenant: 'acme', code: 'http_400', reason: '…', record_id: 'e1:r:1', record, attempts: 1 }]);
 *   const { redriven } = await dl.redrive({ stream: 'to-segment' });
 */
export class DeadLetters {
  constructor(private readonly db: Database) {}

  async write(letters: DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    await this.db.query(
      `insert into sluice.dead_letters as d (stream, destination, source_tenant, tenant, code, reason, record_id, record, attempts)
       select stream, destination, source_tenant, tenant, left(code, 64), left(reason, 1000), record_id, record, attempts
         from json_to_recordset($1::text::json)
           as x(stream text, destination text, source_tenant text, tenant text, code text, reason text, record_id text, record jsonb, attempts int)
       on conflict (stream, record_id) do update
         set code = excluded.code, reason = excluded.reason, record = excluded.record, destination = excluded.destination,
             attempts = d.attempts + excluded.attempts, last_failed_at = now(), redriven_at = null`,
      [JSON.stringify(letters.map((l) => ({ ...l, record: l.record === undefined ? null : l.record })))],
    );
  }

  /** Newest failures first, without the records. */
  async list(f: DeadLetterFilter, limit = 100): Promise<DeadLetterRow[]> {
    const w = where(checkFilter(f));
    const n = Math.min(Math.max(1, Math.trunc(limit)), MAX_LIST);
    return this.db.query<DeadLetterRow & Record<string, unknown>>(`select ${COLUMNS} from sluice.dead_letters where ${w.sql} order by last_failed_at desc, id desc limit ${n}`, w.params);
  }

  /** One dead letter with its record, or null. */
  async show(id: number): Promise<DeadLetterRow | null> {
    const rows = await this.db.query<DeadLetterRow & Record<string, unknown>>(`select ${COLUMNS}, record from sluice.dead_letters where id = $1`, [id]);
    return rows[0] ?? null;
  }

  /** Pending dead letters per stream, destination and code. */
  async counts(): Promise<Array<{ stream: string; destination: string; code: string; count: number }>> {
    return this.db.query('select stream, destination, code, count(*)::int as count from sluice.dead_letters where redriven_at is null group by 1, 2, 3 order by 1, 2, 3');
  }

  /**
   * Sends pending dead letters back to their stream: in one transaction, marks them redriven and
   * appends them to the intake log. Running it again finds nothing pending (idempotent); a record
   * that fails again becomes pending again. Streams no longer in `streams` are left alone.
   */
  async redrive(f: DeadLetterFilter, streams: string[]): Promise<{ redriven: number; entries: number; streams: Record<string, number> }> {
    const w = where(checkFilter({ ...f, all: false }), 2, true);
    return this.db.transaction(async (tx) => {
      const rows = await tx.query<{ stream: string; source_tenant: string; record_id: string; record: string | null }>(
        `with picked as (
           select id from sluice.dead_letters where ${w.sql} and stream in (select json_array_elements_text($1::text::json))
            order by id limit ${MAX_REDRIVE} for update skip locked)
         update sluice.dead_letters d set redriven_at = now(), redrives = redrives + 1
           from picked where d.id = picked.id
         returning d.stream, d.source_tenant, d.record_id, d.record::text as record`,
        [JSON.stringify(streams), ...w.params],
      );
      const groups = new Map<string, typeof rows>();
      for (const r of rows) {
        const k = JSON.stringify([r.stream, r.source_tenant]);
        let g = groups.get(k);
        if (!g) groups.set(k, (g = []));
        g.push(r);
      }
      const entries: Array<{ tenant: string; stream: string; count: number; payload: string }> = [];
      for (const g of groups.values()) {
        for (let i = 0; i < g.length; i += REDRIVE_CHUNK) {
          const chunk = g.slice(i, i + REDRIVE_CHUNK);
          entries.push({
            tenant: chunk[0].source_tenant,
            stream: chunk[0].stream,
            count: chunk.length,
            payload: chunk.map((r) => `{"id":${JSON.stringify(r.record_id)},"value":${r.record ?? 'null'}}`).join('\n'),
          });
        }
      }
      if (entries.length > 0) {
        await tx.query(
          `insert into sluice.intake_log (tenant, kind, stream, count, payload)
           select tenant, 'redrive', stream, count, payload from json_to_recordset($1::text::json) as x(tenant text, stream text, count int, payload text)`,
          [JSON.stringify(entries)],
        );
      }
      const per: Record<string, number> = {};
      for (const r of rows) per[r.stream] = (per[r.stream] ?? 0) + 1;
      return { redriven: rows.length, entries: entries.length, streams: per };
    });
  }

  /** Deletes dead letters (pending ones, or all with `all`); returns how many. */
  async purge(f: DeadLetterFilter): Promise<number> {
    const w = where(checkFilter(f));
    const rows = await this.db.query<{ n: number }>(`with d as (delete from sluice.dead_letters where ${w.sql} returning 1) select count(*)::int as n from d`, w.params);
    return rows[0].n;
  }
}
