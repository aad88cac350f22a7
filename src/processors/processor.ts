/**
 * A stream's processing step: takes a batch of records and returns one outcome per record, in
 * order. Processors run in the order the stream lists them; a record leaves the chain at its
 * first drop or fail.
 */
import type { Outcome } from '../core/outcome.ts';

/** What the steps learn about a batch as a whole, for its destination. */
export interface BatchContext {
  /**
   * The erasure epoch the batch was checked against the suppression list at (the oldest, if
   * checked more than once); absent when no record of it holds a pseudonym (privacy/fence.ts).
   */
  erasureEpoch?: number;
}

export interface Processor {
  /** The step's name in outcomes and counters (`validate`, `pseudonymize`, a custom name). */
  readonly step: string;
  process(records: unknown[], batch?: BatchContext): Promise<Outcome[]> | Outcome[];
  /**
   * For records this step already processed (redriven dead letters, archived lines, a batch an
   * erasure overtook): what still applies to them, each kept as it is or dropped.
   */
  recheck?(records: unknown[], batch?: BatchContext): Promise<Outcome[]>;
  /** For the error output: the record as it may be stored durably (personal data removed). */
  protect?(record: unknown): unknown;
}
