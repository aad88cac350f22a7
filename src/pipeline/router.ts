/**
 * The router: a config's rules compiled into one rule machine, and for each matched rule every
 * target's input (transformed as the target says) addressed to its stream.
 */
import type { Loose } from '../core/json/json-text.ts';
import { RuleMachine } from '../core/pattern/rule-machine.ts';
import {
  compileInputPath,
  compileInputTransformer,
  plainCopy,
  type CompiledTransform,
  type TransformContext,
} from '../core/transform/input-transformer.ts';
import type { EventEnvelope, RuleConfig, SluiceConfig, TargetConfig } from '../config/config.ts';

/** One target's input for one event, as its stream's record: the text the target would receive, parsed. */
export type Routed =
  | { rule: string; stream: string; ok: true; value: unknown }
  | { rule: string; stream: string; ok: false; error: string };

interface CompiledTarget {
  stream: string;
  transform: CompiledTransform | null;
  fn: TargetConfig['transform'];
}

/**
 * The compiled input transformer or InputPath of a target, or null when it sends the event (or a
 * function's result). Throws TransformConfigError for a configuration AWS would refuse; config
 * validation calls it too, so what loads is exactly what routes.
 */
export function compileTargetTransform(t: TargetConfig): CompiledTransform | null {
  if (t.input_transformer) {
    return compileInputTransformer({ inputPathsMap: t.input_transformer.input_paths_map, inputTemplate: t.input_transformer.input_template });
  }
  return t.input_path !== undefined ? compileInputPath(t.input_path) : null;
}

/** Default account and region used in rule ARNs. */
export const LOCAL_ACCOUNT = '000000000000';
export const LOCAL_REGION = 'local';

/**
 * Routes events through a configuration's rules.
 *
 * @example
 *   const router = new Router(config);
 *   router.route(event, new Date().toISOString()); // [{ rule, stream, ok: true, value }]
 */
export class Router {
  private readonly machine = new RuleMachine<number>();
  private readonly rules: Array<{ config: RuleConfig; arn: string; targets: CompiledTarget[] }> = [];

  constructor(config: SluiceConfig) {
    for (const rule of config.rules ?? []) {
      const targets = rule.targets.map((t) => ({ stream: t.stream, fn: t.transform, transform: compileTargetTransform(t) }));
      this.machine.add(this.rules.length, rule.pattern as Loose);
      this.rules.push({ config: rule, arn: `arn:aws:events:${LOCAL_REGION}:${LOCAL_ACCOUNT}:rule/${rule.name}`, targets });
    }
  }

  /** Names of the rules matching an event. */
  match(event: Loose): string[] {
    return this.machine.matchEvent(event).map((i) => this.rules[i].config.name);
  }

  /** Every target input the event produces, a matched rule's targets together and in order. */
  route(event: Loose, ingestionTime: string): Routed[] {
    const out: Routed[] = [];
    for (const i of this.machine.matchEvent(event)) {
      const rule = this.rules[i];
      const ctx: TransformContext = { ruleName: rule.config.name, ruleArn: rule.arn, ingestionTime };
      const name = rule.config.name;
      // Results are built as literals: spreading a base and the transform's result into one
      // object cost twice what matching and transforming the event did.
      for (const t of rule.targets) {
        if (t.transform) {
          const v = t.transform.applyValue(event, ctx);
          out.push(v.ok ? { rule: name, stream: t.stream, ok: true, value: v.value } : { rule: name, stream: t.stream, ok: false, error: v.error });
        } else if (t.fn) {
          try {
            const v = t.fn(event as unknown as EventEnvelope, ctx);
            // As JSON, like any target input: a function's result is copied through its text.
            if (v !== undefined) out.push({ rule: name, stream: t.stream, ok: true, value: JSON.parse(JSON.stringify(v)) as unknown });
          } catch (e) {
            out.push({ rule: name, stream: t.stream, ok: false, error: `transform function failed: ${(e as Error).name}` });
          }
        } else {
          out.push({ rule: name, stream: t.stream, ok: true, value: plainCopy(event) });
        }
      }
    }
    return out;
  }
}
