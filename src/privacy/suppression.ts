/**
 * The suppression list as a stream checks it, once per batch: held in memory while it is small,
 * so a batch sends the database one tiny statement (the erasure epoch) instead of every
 * pseudonym it holds. Every erasure bumps the epoch in the transaction that adds its pseudonyms
 * (erasure.ts), so an unchanged epoch means an unchanged list; a changed one reloads it, list and
 * epoch read in one statement (one snapshot). Past `maxCached` entries the list is not held, and
 * each batch asks the database for its own pseudonyms (suppressedAmong).
 */
import type { Queryable } from '../store/database.ts';
import type { Suppression } from '../processors/pseudonymize.ts';
import { readEpoch } from './fence.ts';

/**
 * Which of these pseudonyms are on the suppression list, and the erasure epoch the list was read
 * at (one statement, so one snapshot: the list holds every erasure up to that epoch). What a
 * batch asks when the list is too large to hold.
 */
async function suppressedAmong(db: Queryable, pseudonyms: string[]): Promise<Suppression> {
  const [row] = await db.query<{ epoch: number; erased: string[] | null }>(
    `select (select n from sluice.erasure_epoch)::float8 as epoch,
            (select array_agg(pseudonym) from sluice.erased_subjects where pseudonym in (select json_array_elements_text($1::text::json))) as erased`,
    [JSON.stringify(pseudonyms)],
  );
  return { erased: new Set(row.erased ?? []), epoch: row.epoch };
}

/** Pseudonyms held in memory at most (about 120 bytes each). */
export const MAX_CACHED_SUPPRESSIONS = 100_000;

/**
 * @example
 *   const list = new SuppressionList(db);
 *   const { erased, epoch } = await list.check(['k1:5c2e…']);
 */
export class SuppressionList {
  /** The list at `epoch`, or null while it is larger than `maxCached`. */
  private cached: { epoch: number; erased: Set<string> | null } | null = null;

  constructor(
    private readonly db: Queryable,
    private readonly maxCached = MAX_CACHED_SUPPRESSIONS,
  ) {}

  /** Which of these pseudonyms are erased, and the epoch the answer holds for (see fence.ts). */
  async check(pseudonyms: string[]): Promise<Suppression> {
    if (this.cached?.epoch !== (await readEpoch(this.db))) await this.reload();
    const erased = this.cached!.erased;
    // Too large to hold: the database answers for these pseudonyms (at an epoch of its own).
    if (erased === null) return suppressedAmong(this.db, pseudonyms);
    const found = new Set<string>();
    if (erased.size > 0) for (const p of pseudonyms) if (erased.has(p)) found.add(p);
    return { erased: found, epoch: this.cached!.epoch };
  }

  private async reload(): Promise<void> {
    // One statement, one snapshot: the list is the one at that epoch.
    const [row] = await this.db.query<{ epoch: number; n: number; pseudonyms: string[] | null }>(
      `with c as (select count(*) as n from sluice.erased_subjects)
       select (select n from sluice.erasure_epoch)::float8 as epoch, c.n::float8 as n,
              case when c.n <= $1 then (select array_agg(pseudonym) from sluice.erased_subjects) end as pseudonyms
         from c`,
      [this.maxCached],
    );
    this.cached = { epoch: row.epoch, erased: row.n <= this.maxCached ? new Set(row.pseudonyms ?? []) : null };
  }
}
