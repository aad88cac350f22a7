/**
 * A stream's processing step: takes a batch of records and returns one outcome per record, in
 * order. Processors run in the order the stream lists them; a record leaves the chain at its
 * first drop or fail.
 */
import type { Outcome } from '../core/outcome.ts';

export interface Processor {
  /** The step's name in outcomes and counters (`validate`, `pseudonymize`, a custom name). */
  readonly step: string;
  process(records: unknown[]): Promise<Outcome[]> | Outcome[];
  /** For the error output: the record as it may be stored durably (personal data removed). */
  protect?(record: unknown): unknown;
}
