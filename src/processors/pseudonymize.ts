/**
 * `pseudonymize`: applies the stream's field policies with its key ring. Its `protect` is what
 * the error output stores of a failed record, so raw personal data never reaches it. A record
 * of an erased subject (one of its hashed fields has a pseudonym on the suppression list, under
 * any key of the ring) is dropped: an erased subject stays erased when events are replayed.
 */
import { drop, ok, type Outcome } from '../core/outcome.ts';
import { Pseudonymizer, type KeyRing } from '../core/privacy/pseudonymizer.ts';
import type { PseudonymizeProcessorConfig } from '../config/config.ts';
import type { BatchContext, Processor } from './processor.ts';

/** The pseudonyms of a lookup that belong to erased subjects, and the erasure epoch it saw (privacy/fence.ts). */
export interface Suppression {
  erased: Set<string>;
  epoch: number;
}

/** Which of these pseudonyms belong to erased subjects (one lookup per batch). */
export type SuppressionCheck = (pseudonyms: string[]) => Promise<Suppression>;

export function createPseudonymize(config: PseudonymizeProcessorConfig, ring: KeyRing, suppressed?: SuppressionCheck): Processor {
  const p = new Pseudonymizer(ring, config.fields);
  /**
   * Each record's outcome given the pseudonyms it holds: dropped when one is on the suppression
   * list (one lookup for the batch, whose epoch the batch keeps), else `kept`.
   */
  async function unlessErased(records: unknown[], pseudonyms: string[][], kept: (r: unknown) => unknown, batch?: BatchContext): Promise<Outcome[]> {
    let erased: Set<string> | undefined;
    if (suppressed) {
      const all = new Set<string>();
      for (const list of pseudonyms) for (const s of list) all.add(s);
      if (all.size > 0) {
        const found = await suppressed([...all]);
        erased = found.erased;
        if (batch) batch.erasureEpoch = Math.min(batch.erasureEpoch ?? found.epoch, found.epoch);
      }
    }
    return records.map((r, i) => (erased !== undefined && erased.size > 0 && pseudonyms[i].some((s) => erased.has(s)) ? drop('erased_subject') : ok(kept(r))));
  }
  return {
    step: 'pseudonymize',
    process: (records, batch) => unlessErased(records, suppressed ? records.map((r) => p.subjectsOf(r)) : [], (r) => p.apply(r), batch),
    recheck: (records, batch) => unlessErased(records, suppressed ? records.map((r) => p.pseudonymsIn(r)) : [], (r) => r, batch),
    protect: (r) => p.apply(r),
  };
}
