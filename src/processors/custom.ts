/**
 * `custom`: your own TypeScript step. It must return one outcome per record; a throw or a wrong
 * answer fails the batch's records with `processor_error`, so they reach the error output.
 */
import { fail, type Outcome } from '../core/outcome.ts';
import type { CustomProcessorConfig } from '../config/config.ts';
import type { Processor } from './processor.ts';

const isOutcome = (o: unknown): o is Outcome =>
  o !== null && typeof o === 'object' && ['ok', 'drop', 'fail'].includes((o as { kind?: string }).kind ?? '');

export function createCustom(config: CustomProcessorConfig): Processor {
  return {
    step: config.name,
    async process(records) {
      let out: unknown;
      try {
        out = await config.process(records);
      } catch (e) {
        return records.map(() => fail('processor_error', `${config.name} threw ${(e as Error)?.name ?? 'an error'}`));
      }
      if (!Array.isArray(out) || out.length !== records.length || !out.every(isOutcome)) {
        return records.map(() => fail('processor_error', `${config.name} must return one outcome (ok, drop or fail) per record`));
      }
      return out;
    },
  };
}
