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
 */
import { sqlState, type Param } from '../store/database.ts';

/** The advisory lock erasures take exclusive and fenced writes shared. */
export const ERASURE_LOCK = 727114;

/** The first step of a fenced transaction, for a batch checked at `epoch`. */
export const fenceStep = (epoch: number): { sql: string; params: Param[] } => ({ sql: 'select sluice.erasure_fence($1::bigint) as epoch', params: [epoch] });

/** Whether a write failed because subjects were erased after its batch was checked. */
export const erasedSince = (e: unknown): boolean => sqlState(e) === 'SL002';
