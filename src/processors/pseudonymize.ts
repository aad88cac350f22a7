/**
 * `pseudonymize`: applies the stream's field policies with its key ring. Its `protect` is what
 * the error output stores of a failed record, so raw personal data never reaches it.
 */
import { ok } from '../core/outcome.ts';
import { Pseudonymizer, type KeyRing } from '../core/privacy/pseudonymizer.ts';
import type { PseudonymizeProcessorConfig } from '../config/config.ts';
import type { Processor } from './processor.ts';

export function createPseudonymize(config: PseudonymizeProcessorConfig, ring: KeyRing): Processor {
  const p = new Pseudonymizer(ring, config.fields);
  return {
    step: 'pseudonymize',
    process: (records) => records.map((r) => ok(p.apply(r))),
    protect: (r) => p.apply(r),
  };
}
