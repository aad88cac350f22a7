/**
 * Runs a batch through a stream's processors in order. A step sees only the records the steps
 * before it kept; a step that throws fails every record it was given. Used by streams and by the
 * Firehose data-transformation handler, which answers per record.
 */
import type { Outcome } from '../core/outcome.ts';
import type { BatchContext, Processor } from './processor.ts';

/** The final outcome of each input record (in input order), and the step that decided it. */
export interface StepResult {
  outcome: Outcome;
  step: string;
}

/** What a stream may keep of a record it could not deliver: the record after every step's privacy policy. */
export function protect(processors: Processor[], value: unknown): unknown {
  let record = value;
  for (const p of processors) if (p.protect) record = p.protect(record);
  return record;
}

/**
 * Runs the records through the steps (`process`), or, for records already processed (`recheck`),
 * through what still applies to them: only the steps that have a `recheck`.
 */
export async function runSteps(processors: Processor[], values: unknown[], batch?: BatchContext, mode: 'process' | 'recheck' = 'process'): Promise<StepResult[]> {
  const results: StepResult[] = values.map((value) => ({ outcome: { kind: 'ok', value }, step: '' }));
  let live = values.map((_, i) => i);
  let current = values;
  for (const p of processors) {
    if (mode === 'recheck' && !p.recheck) continue;
    let outcomes: Outcome[];
    try {
      outcomes = await (mode === 'recheck' ? p.recheck!(current, batch) : p.process(current, batch));
    } catch (e) {
      outcomes = current.map(() => ({ kind: 'fail', code: 'processor_error', reason: `${p.step} threw ${(e as Error)?.name ?? 'an error'}` }));
    }
    const nextLive: number[] = [];
    const nextValues: unknown[] = [];
    outcomes.forEach((o, i) => {
      results[live[i]] = { outcome: o, step: p.step };
      if (o.kind === 'ok') {
        nextLive.push(live[i]);
        nextValues.push(o.value);
      }
    });
    live = nextLive;
    current = nextValues;
  }
  return results;
}
