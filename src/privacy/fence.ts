/**
 * The erasure fence: what keeps a subject erased when an erasure and the subject's records
 * cross. A stream checks a batch against the suppression list (pseudonymize) at one moment and
 * writes it later; an erasure that commits in between would delete nothing of that batch (its
 * rows are not written yet) and the batch would not know of the erasure.
 *
 * So every erasure bumps `sluice.erasure_epoch` under an exclusive advisory lock, and a batch
 * carries the epoch its check saw. A database destination starts each of its transactions with
 * {@link fenceStep}: it takes the same lock shared (an erasure waits for the writes in flight,
 * and sees their rows; a write waits for an erasure in flight) and fails with SQLSTATE SL002
 * when an erasure committed after the batch's check. The stream then checks the batch again
 * and writes what is left ({@link erasedSince}).
 *
 * A destination outside the database (an archive, Segment, Mixpanel, a webhook) cannot hold the
 * lock while it writes; {@link epochChecked} reads the epoch right before each write instead, so
 * only an erasure committing during the write itself can cross it.
 */
import type { Destination } from '../destinations/destination.ts';
import { sqlState, type Param, type Queryable } from '../store/database.ts';

/** The advisory lock erasures take exclusive and fenced writes shared. */
export const ERASURE_LOCK = 727114;

/** The first step of a fenced transaction, for a batch checked at `epoch`. */
export const fenceStep = (epoch: number): { sql: string; params: Param[] } => ({ sql: 'select sluice.erasure_fence($1::bigint) as epoch', params: [epoch] });

/** The erasure epoch now. */
export async function readEpoch(db: Queryable): Promise<number> {
  const [{ epoch }] = await db.query<{ epoch: number }>('select n::float8 as epoch from sluice.erasure_epoch');
  return epoch;
}

/**
 * For a write done of a batch checked at `epoch`: which of `pseudonyms` (computed only if an
 * erasure committed since) are now on the suppression list. Empty when none was.
 */
export async function erasedAfter(db: Queryable, epoch: number, pseudonyms: () => Iterable<string>): Promise<string[]> {
  if ((await readEpoch(db)) <= epoch) return [];
  const list = [...new Set(pseudonyms())];
  if (list.length === 0) return [];
  const rows = await db.query<{ pseudonym: string }>('select pseudonym from sluice.erased_subjects where pseudonym in (select json_array_elements_text($1::text::json))', [JSON.stringify(list)]);
  return rows.map((r) => r.pseudonym);
}

/** A write outside the database refused because subjects were erased after its batch was checked. */
export class ErasedSinceCheck extends Error {
  constructor() {
    super('subjects were erased after this batch was checked against the suppression list');
  }
}

/** Whether a write failed because subjects were erased after its batch was checked. */
export const erasedSince = (e: unknown): boolean => e instanceof ErasedSinceCheck || sqlState(e) === 'SL002';

/**
 * A destination outside the database that reads the erasure epoch before each write of a batch
 * holding pseudonyms, and refuses it (ErasedSinceCheck, so the stream checks it again) when an
 * erasure committed after the batch's check. One small query a batch.
 */
export function epochChecked(d: Destination, db: Queryable): Destination {
  return {
    kind: d.kind,
    concurrency: d.concurrency,
    open: d.open?.bind(d),
    maintain: d.maintain?.bind(d),
    writeFailures: d.writeFailures?.bind(d),
    async write(records, batch) {
      if (batch.erasureEpoch !== undefined && (await readEpoch(db)) > batch.erasureEpoch) throw new ErasedSinceCheck();
      return d.write(records, batch);
    },
  };
}
