/**
 * `pseudonymize`: applies the stream's field policies with its key ring. Its `protect` is what
 * the error output stores of a failed record, so raw personal data never reaches it. A record
 * of an erased subject (one of its hashed fields has a pseudonym on the suppression list, under
 * any key of the ring) is dropped: an erased subject stays erased when events are replayed.
 */
import { drop, ok } from '../core/outcome.ts';
import { Pseudonymizer, type KeyRing } from '../core/privacy/pseudonymizer.ts';
import type { PseudonymizeProcessorConfig } from '../config/config.ts';
import type { Processor } from './processor.ts';

/** Which of these pseudonyms belong to erased subjects (one lookup per batch). */
export type SuppressionCheck = (pseudonyms: string[]) => Promise<Set<string>>;

export function createPseudonymize(config: PseudonymizeProcessorConfig, ring: KeyRing, suppressed?: SuppressionCheck): Processor {
  const p = new Pseudonymizer(ring, config.fields);
  return {
    step: 'pseudonymize',
    async process(records) {
      const subjects = suppressed ? records.map((r) => p.subjectsOf(r)) : [];
      let erased: Set<string> | undefined;
      if (suppressed) {
        const all = new Set<string>();
        for (const list of subjects) for (const s of list) all.add(s);
        erased = await suppressed([...all]);
      }
      return records.map((r, i) => (erased !== undefined && erased.size > 0 && subjects[i].some((s) => erased.has(s)) ? drop('erased_subject') : ok(p.apply(r))));
    },
    protect: (r) => p.apply(r),
  };
}
