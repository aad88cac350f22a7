/**
 * What the overview draws: records per minute by stream, source tenant, outcome (ok, dropped,
 * failed, dead_lettered; `retried` for a destination's failed writes, tenant '') and code. Every
 * process (a single node, or each JetStream worker) counts in memory and adds its counts to
 * `sluice.activity` in one statement every few seconds, so the overview sees the whole fleet.
 * Counts are observations, not the ledger: a crash loses at most one interval's counts.
 */
import type { Database } from '../store/database.ts';

export type ActivityOutcome = 'ok' | 'dropped' | 'failed' | 'dead_lettered' | 'retried';

/** How long activity is kept, in days. */
export const ACTIVITY_RETENTION_DAYS = 7;
/** The longest overview window, in minutes. */
export const MAX_OVERVIEW_MINUTES = 24 * 60;

interface Cell {
  minute: number;
  stream: string;
  tenant: string;
  outcome: ActivityOutcome;
  code: string;
  n: number;
}

export interface OverviewRow {
  minute: string;
  stream: string;
  tenant: string;
  outcome: ActivityOutcome;
  code: string;
  n: number;
}

/**
 * @example
 *   const activity = new Activity(db);
 *   activity.start();
 *   activity.record('metrics', 'acme', 'ok', '', 500);
 */
export class Activity {
  private cells = new Map<string, Cell>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Database,
    private readonly warn: (m: string) => void = () => {},
    private readonly now: () => number = Date.now,
  ) {}

  record(stream: string, tenant: string, outcome: ActivityOutcome, code: string, n = 1): void {
    if (n > 0) this.add({ minute: Math.floor(this.now() / 60_000) * 60_000, stream, tenant, outcome, code, n });
  }

  private add(cell: Cell): void {
    const key = `${cell.minute}\u0000${cell.stream}\u0000${cell.tenant}\u0000${cell.outcome}\u0000${cell.code}`;
    const c = this.cells.get(key);
    if (c) c.n += cell.n;
    else this.cells.set(key, { ...cell });
  }

  /** Counts per tenant of a list of records, recorded under one outcome and code. */
  recordEach(stream: string, tenants: Iterable<string>, outcome: ActivityOutcome, code: string): void {
    const by = new Map<string, number>();
    for (const t of tenants) by.set(t, (by.get(t) ?? 0) + 1);
    for (const [t, n] of by) this.record(stream, t, outcome, code, n);
  }

  start(intervalMs = 5000): void {
    this.timer ??= setInterval(() => void this.flush(), intervalMs);
    this.timer.unref();
  }

  /** Adds what was counted since the last flush to the table; on failure the counts wait for the next. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.cells.size === 0) return;
      const cells = [...this.cells.values()];
      this.cells = new Map();
      try {
        await this.db.query(
          `insert into sluice.activity as a (minute, stream, tenant, outcome, code, n)
           select to_timestamp(m / 1000.0), s, t, o, c, n
             from json_to_recordset($1::text::json) as x(m float8, s text, t text, o text, c text, n bigint)
           on conflict (minute, stream, tenant, outcome, code) do update set n = a.n + excluded.n`,
          [JSON.stringify(cells.map((c) => ({ m: c.minute, s: c.stream, t: c.tenant, o: c.outcome, c: c.code, n: c.n })))],
        );
      } catch (e) {
        // Back under their own minutes, for the next flush.
        for (const c of cells) this.add(c);
        this.warn(`activity counts not stored yet (${(e as Error).name}); retrying`);
      }
    });
    return this.flushing;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }

  /** The last `minutes` of activity across all tenants (the admin's overview), oldest first. */
  async since(minutes: number): Promise<OverviewRow[]> {
    const rows = await this.db.query<{ minute: Date | string; stream: string; tenant: string; outcome: ActivityOutcome; code: string; n: string | number }>(
      `select minute, stream, tenant, outcome, code, n from sluice.activity
        where minute >= date_trunc('minute', now()) - make_interval(mins => $1::int)
        order by minute, stream, tenant, outcome, code`,
      [minutes],
    );
    return rows.map((r) => ({ minute: new Date(r.minute).toISOString(), stream: r.stream, tenant: r.tenant, outcome: r.outcome, code: r.code, n: Number(r.n) }));
  }

  async prune(days = ACTIVITY_RETENTION_DAYS): Promise<void> {
    await this.db.query('delete from sluice.activity where minute < now() - make_interval(days => $1::int)', [days]);
  }
}
