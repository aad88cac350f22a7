/**
 * The processors Sluice knows, by their config `type`: one typed entry each, no discovery.
 */
import type { KeyRing } from '../core/privacy/pseudonymizer.ts';
import type { ProcessorConfig, SecretSource } from '../config/config.ts';
import { createCustom } from './custom.ts';
import { createEnrich } from './enrich.ts';
import type { Processor } from './processor.ts';
import { createPseudonymize, type SuppressionCheck } from './pseudonymize.ts';
import { createValidate } from './validate.ts';

export interface ProcessorContext {
  /** The key ring a pseudonymize step names (read once at start). */
  keyRing(source: SecretSource): KeyRing;
  /** The suppression list of erased subjects, when there is a store. */
  suppressed?: SuppressionCheck;
}

/** Builds a stream's processors in order. */
export function createProcessors(configs: ProcessorConfig[], ctx: ProcessorContext): Processor[] {
  return configs.map((c) => {
    switch (c.type) {
      case 'validate':
        return createValidate(c);
      case 'enrich':
        return createEnrich(c);
      case 'pseudonymize':
        return createPseudonymize(c, ctx.keyRing(c.key), ctx.suppressed);
      case 'custom':
        return createCustom(c);
    }
  });
}
