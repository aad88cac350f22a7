/**
 * Generates, for one rule set, a function that walks a parsed event and hands the rule machine
 * the values at indexed paths. Each property read in the generated code has a constant name, so
 * V8 caches it per object shape: events of one shape (the usual case) are walked with
 * monomorphic loads instead of enumerating keys. Every dotted join of path segments is read too,
 * so `{"a.b": 1}` reaches the path `a.b` as AWS's engine does. Arrays and unusual values fall
 * back to the machine's generic walk.
 */
import type { PathIndex } from './path-index.ts';
import type { PathNode } from './rule-machine.ts';
import { comparableKey } from './value-matcher.ts';

/** What the generated walker calls back into. */
export interface WalkTarget {
  value(index: PathIndex, kind: 0 | 1 | 2, text: string, key: number): void;
  walkValue(v: unknown, node: PathNode, inArray: boolean): void;
}

export type Walker = (event: object, target: WalkTarget) => void;

/** Above this many generated reads the generic walk is used instead. */
const MAX_READS = 4000;

/**
 * Compiles the walker for a path trie, or returns null when the trie is too large for it or Node
 * disallows generating code.
 *
 * @example const walk = compileWalker(machine.root); walk?.(event, machine);
 */
export function compileWalker(root: PathNode): Walker | null {
  const nodes: PathNode[] = [];
  const indexes: PathIndex[] = [];
  let reads = 0;
  let vars = 0;
  const nodeRef = (n: PathNode): string => {
    let i = nodes.indexOf(n);
    if (i < 0) i = nodes.push(n) - 1;
    return `N[${i}]`;
  };
  const indexRef = (x: PathIndex): string => {
    let i = indexes.indexOf(x);
    if (i < 0) i = indexes.push(x) - 1;
    return `I[${i}]`;
  };

  const objectCode = (node: PathNode, o: string): string => {
    let code = '';
    for (const [key, child] of node.children) {
      if (++reads > MAX_READS) return '';
      const v = `v${vars++}`;
      const k = JSON.stringify(key);
      const read = key in Object.prototype ? `(Object.hasOwn(${o}, ${k}) ? ${o}[${k}] : undefined)` : `${o}[${k}]`;
      code += `{ const ${v} = ${read}; if (${v} !== undefined) { ${valueCode(child, v)} } }\n`;
    }
    return code;
  };

  const valueCode = (node: PathNode, v: string): string => {
    const idx = node.index ? indexRef(node.index) : null;
    let code = '';
    if (idx) {
      code +=
        `if (typeof ${v} === 'string') t.value(${idx}, 0, ${v}, NaN);\n` +
        `else if (typeof ${v} === 'number') { const k = ck(${v}); t.value(${idx}, 1, k === k ? '' : JSON.stringify(${v}), k); }\n` +
        `else if (${v} === null || typeof ${v} === 'boolean') t.value(${idx}, 2, String(${v}), NaN);\n` +
        'else ';
    }
    if (node.children.size > 0) {
      code +=
        `if (typeof ${v} === 'object' && ${v} !== null && Object.getPrototypeOf(${v}) === OP) { ${objectCode(node, v)} }\n` +
        'else ';
    }
    code += `if (typeof ${v} === 'object') t.walkValue(${v}, ${nodeRef(node)}, false);\n`;
    return code;
  };

  const body = objectCode(root, 'o');
  if (reads > MAX_READS) return null;
  let make: (...refs: unknown[]) => Walker;
  try {
    make = new Function('N', 'I', 'ck', 'OP', `return function walk(o, t) {\n${body}}`) as typeof make;
  } catch {
    return null; // code generation disallowed (node --disallow-code-generation-from-strings): the generic walk
  }
  return make(nodes, indexes, comparableKey, Object.prototype);
}
