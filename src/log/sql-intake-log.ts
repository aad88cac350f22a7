/**
 * The intake log in SQL: one row per accepted request (its events as NDJSON). Appends from
 * concurrent requests are group-committed in one INSERT; a request is acknowledged only after
 * its row committed. Rows are owned by the process that wrote or claimed them and deleted when
 * everything derived from them is delivered. A row whose owner stopped heart-beating (a crash,
 * kill -9) is claimed again by a live process: delivery is at least once, and destinations are
 * idempotent on record ids, so nothing acknowledged is lost or counted twice.
 */
import { randomUUID } from 'node:crypto';
import type { LogEntry, LogKind } from '../pipeline/pipeline.ts';
import type { Database, Param } from '../store/database.ts';
import { loggedItems } from '../sources/event-envelope.ts';

export interface LogRow {
  tenant: string;
  kind: LogKind;
  stream: string | null;
  count: number;
  payload: string;
  /** When it was first accepted (ISO 8601), for an entry written again (parked records). Default: now. */
  received_at?: string;
  /** Unowned: claimable by any process (parked records of a full stream). */
  parked?: boolean;
}

export interface ClaimedRow extends LogRow {
  id: number;
  /** ISO 8601, UTC. */
  received_at: string;
}

interface Waiting {
  row: LogRow;
  resolve: (id: number) => void;
  reject: (e: unknown) => void;
}

/** Entries per INSERT (seven parameters each). */
const APPEND_ROWS = 64;

/**
 * One INSERT of `n` entries, each its own parameters: an entry's payload travels as it is, where
 * a JSON document of the rows would escape it and the database unescape it again (on PGlite the
 * larger part of the cost of logging a request). `$1` is the owner; ids come back in row order.
 */
function appendSql(n: number): string {
  const rows: string[] = [];
  for (let i = 0; i < n; i++) {
    const p = 2 + i * 7;
    rows.push(
      `($${p}::text, $${p + 1}::text, $${p + 2}::text, $${p + 3}::int, $${p + 4}::text, case when $${p + 5}::boolean then null else $1::text end, coalesce($${p + 6}::timestamptz, now()))`,
    );
  }
  return `insert into sluice.intake_log (tenant, kind, stream, count, payload, owner, received_at) values ${rows.join(', ')} returning id::float8 as id`;
}
/** The statements by entry count, built when first needed (not at start-up: a Lambda cold start loads this module). */
const appendStatements: string[] = [];
const appendSqlFor = (n: number): string => (appendStatements[n] ??= appendSql(n));

/**
 * Group commits in flight at once. One at a time, a request arriving during a commit waits for
 * it and then for its own: on a busy machine that wait, not the database's work, bounded what 8
 * clients could send.
 */
const APPEND_CONCURRENCY = 2;

/** A claimed row as the pipeline takes it. */
export function toLogEntry(r: ClaimedRow): LogEntry {
  return {
    id: r.id,
    tenant: r.tenant,
    kind: r.kind,
    stream: r.stream,
    items: loggedItems(r.kind, r.payload, r.tenant, r.received_at),
    bytes: r.payload.length,
    receivedAt: r.received_at,
  };
}

/**
 * @example
 *   const log = new SqlIntakeLog(db, { leaseSeconds: 30, exclusive: true });
 *   await log.start();
 *   const id = await log.append({ tenant: 'acme', kind: 'events', stream: null, count: 1, payload: '{…}\n' });
 */
export class SqlIntakeLog {
  readonly workerId = randomUUID();
  private queue: Waiting[] = [];
  /** INSERTs in flight (at most APPEND_CONCURRENCY). */
  private flushing = 0;
  private completed: number[] = [];
  private heartbeat: NodeJS.Timeout | null = null;
  private deleting: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Database,
    private readonly opts: { leaseSeconds: number; exclusive: boolean },
  ) {}

  /** Registers this process. With an exclusive (embedded) database, earlier owners are gone. */
  async start(): Promise<void> {
    if (this.opts.exclusive) await this.db.query('delete from sluice.workers');
    await this.db.query('insert into sluice.workers (id) values ($1)', [this.workerId]);
    const every = Math.max(500, (this.opts.leaseSeconds * 1000) / 3);
    this.heartbeat = setInterval(() => {
      this.db.query('update sluice.workers set heartbeat_at = now() where id = $1', [this.workerId]).catch(() => {});
    }, every);
    this.heartbeat.unref();
  }

  /** Appends one request's entry; resolves with its id once committed. */
  append(row: LogRow): Promise<number> {
    return new Promise((resolve, reject) => {
      this.queue.push({ row, resolve, reject });
      if (this.flushing < APPEND_CONCURRENCY) void this.flush();
    });
  }

  /** Appends a full stream's records unowned (parked), for any process with room to claim. */
  async park(row: LogRow): Promise<void> {
    await this.append({ ...row, parked: true });
  }

  private async flush(): Promise<void> {
    this.flushing++;
    // Let the requests arriving in this turn of the event loop join the same INSERT.
    await new Promise((r) => setImmediate(r));
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, APPEND_ROWS);
      const params: Param[] = [this.workerId];
      for (const { row } of batch) params.push(row.tenant, row.kind, row.stream, row.count, row.payload, row.parked === true, row.received_at ?? null);
      try {
        const rows = await this.db.query<{ id: number }>(appendSqlFor(batch.length), params);
        const ids = rows.map((r) => r.id).sort((a, b) => a - b);
        batch.forEach((w, i) => w.resolve(ids[i]));
      } catch (e) {
        for (const w of batch) w.reject(e);
      }
    }
    this.flushing--;
  }

  /** Marks entries delivered; they are deleted in batches. */
  complete(id: number): void {
    this.completed.push(id);
    if (this.completed.length === 1) setTimeout(() => void this.deleteCompleted(), 50).unref();
  }

  /** Deletes completed entries now (also called on shutdown). */
  deleteCompleted(): Promise<void> {
    this.deleting = this.deleting.then(async () => {
      while (this.completed.length > 0) {
        const ids = this.completed.splice(0, 5000);
        try {
          await this.db.query('delete from sluice.intake_log where id in (select value::bigint from json_array_elements_text($1::text::json))', [JSON.stringify(ids)]);
        } catch {
          // Left in the log, the entries are delivered again later; destinations skip known ids.
          this.completed.push(...ids);
          await new Promise((r) => setTimeout(r, 1000));
        }
      }
    });
    return this.deleting;
  }

  /**
   * Claims entries whose owner is gone and parked entries, oldest first; not those of the
   * streams in `skip` (full in this process).
   */
  async claimOrphans(limit: number, skip: string[] = []): Promise<ClaimedRow[]> {
    return this.db.query<ClaimedRow & Record<string, unknown>>(
      `update sluice.intake_log l set owner = $1, attempts = attempts + 1
        where id in (
          select id from sluice.intake_log
           where owner is distinct from $1
             and (owner is null or owner not in (
               select id from sluice.workers where heartbeat_at > now() - make_interval(secs => $2)))
             and (stream is null or stream not in (select value from json_array_elements_text($4::text::json)))
           order by id limit $3 for update skip locked)
        returning id::float8 as id, tenant, kind, stream, count, payload,
                  to_char(received_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as received_at`,
      [this.workerId, this.opts.leaseSeconds, limit, JSON.stringify(skip)],
    );
  }

  /** Bytes of parked entries (a full stream's records, unowned) by stream, as stored. */
  async parkedBytes(): Promise<Map<string, number>> {
    const rows = await this.db.query<{ stream: string; bytes: number }>('select stream, sum(pg_column_size(payload))::float8 as bytes from sluice.intake_log where owner is null and stream is not null group by stream');
    return new Map(rows.map((r) => [r.stream, r.bytes]));
  }

  /** Entries not yet delivered, in all processes. */
  async backlog(): Promise<number> {
    return (await this.status()).entries;
  }

  /** Entries not yet delivered, in all processes, and the age of the oldest in seconds. */
  async status(): Promise<{ entries: number; oldest_seconds: number | null }> {
    const [r] = await this.db.query<{ n: number; oldest: number | null }>('select count(*)::int as n, extract(epoch from now() - min(received_at))::float8 as oldest from sluice.intake_log');
    return { entries: r.n, oldest_seconds: r.oldest };
  }

  /**
   * Truncates the log when it is empty, so the files that held raw events are removed rather
   * than left as dead rows (PGlite has no autovacuum, and a vacuumed page keeps old bytes in its
   * free space). Skipped, returning false, while entries remain or another session holds the
   * table. The WAL still holds the writes until its segments are recycled.
   */
  async compact(): Promise<boolean> {
    await this.deleteCompleted();
    try {
      return await this.db.transaction(async (tx) => {
        await tx.query('lock table sluice.intake_log in access exclusive mode nowait');
        const [row] = await tx.query<{ any: boolean }>('select exists (select 1 from sluice.intake_log) as any');
        if (row.any) return false;
        await tx.query('truncate sluice.intake_log');
        return true;
      });
    } catch {
      return false; // busy: the next round tries again
    }
  }

  /**
   * Forgets processes silent for an hour (Lambda containers end without stopping): their
   * entries were claimable long before, this only keeps the workers table small.
   */
  async forgetStale(): Promise<void> {
    await this.db.query("delete from sluice.workers where heartbeat_at < now() - interval '1 hour' and id <> $1", [this.workerId]);
  }

  async stop(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    await this.compact();
    await this.db.query('delete from sluice.workers where id = $1', [this.workerId]).catch(() => {});
  }
}
